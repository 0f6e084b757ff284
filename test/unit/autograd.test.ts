// Autograd semantics: accumulation, shared gradient buffers, noGrad, detach, graph freeing, and
// clear errors.

import { it, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as E from '../../src/engine/index.js';
import { Tensor, tensor } from '../../src/engine/index.js';

describe('autograd', () => {
  it('accumulates into .grad across backward calls until cleared', () => {
    const w = tensor([1, 2, 3], [3], true);
    for (let i = 0; i < 2; i++) E.sum(E.mul(w, w)).backward();
    assert.deepEqual([...w.grad!], [4, 8, 12]);
  });

  it('does not corrupt a gradient buffer shared by two inputs (add returns it twice)', () => {
    const a = tensor([1, 2], [2], true);
    const b = tensor([3, 4], [2], true);
    const s = E.add(a, b);
    // a also feeds the loss a second time, so its gradient is accumulated onto the shared one.
    E.sum(E.add(E.mul(s, tensor([1, 1])), a)).backward();
    assert.deepEqual([...a.grad!], [2, 2]);
    assert.deepEqual([...b.grad!], [1, 1]);
  });

  it('records nothing under noGrad, and detach cuts the graph', () => {
    const w = tensor([1, 2], [2], true);
    const y = E.noGrad(() => E.mul(w, w));
    assert.equal(y.requiresGrad, false);
    assert.equal(y.node, null);
    const d = E.mul(w, w).detach();
    assert.equal(d.requiresGrad, false);
    assert.throws(() => E.sum(d).backward(), /does not require grad/);
  });

  it('frees the graph after backward (saved activations are released)', () => {
    const w = tensor([1, 2], [2], true);
    const h = E.mul(w, w);
    const loss = E.sum(h);
    loss.backward();
    assert.equal(loss.node, null);
    assert.equal(h.node, null);
  });

  it('backward({ freeActivations }): frees intermediates, views of one buffer together (reads then throw), keeps the root and buffers a detached tensor shares, same gradients', () => {
    const run = (free: boolean) => {
      const w = E.randn([64, 64], new E.Rng(3), 0.1, true);
      const x = E.randn([32, 64], new E.Rng(4));
      const h = E.matmul(x, w); // 2048 floats: a pooled size, and h's only Tensor
      const hr = E.reshape(h, [64, 32]); // a second Tensor over h's buffer, in the graph too
      const a = E.tanh(E.matmul(x, w)); // a sole intermediate too
      const kept = a.detach(); // shares a's buffer: a must not be freed
      const mid = E.gelu(E.matmul(x, w));
      const loss = E.add(E.add(E.sum(E.mul(hr, hr)), E.sum(E.mul(a, a))), E.sum(mid));
      const before = { kept: Float32Array.from(kept.f32), hr: Float32Array.from(hr.f32) };
      const value = loss.item();
      loss.backward(undefined, { freeActivations: free });
      return { w, loss, value, mid, h, a, kept, hr, before };
    };
    const plain = run(false);
    const freed = run(true);
    assert.deepEqual([...freed.w.grad!], [...plain.w.grad!], 'the same gradients');
    assert.equal(freed.loss.item(), freed.value, 'the root stays readable');
    assert.equal(freed.mid.freed, true, 'a sole intermediate is freed');
    assert.throws(() => freed.mid.f32, /intermediate of a backward\(\{ freeActivations: true \}\)/);
    assert.throws(() => E.add(freed.mid, freed.mid), /was freed for reuse/);
    assert.equal(plain.mid.freed, false, 'nothing is freed without the option');
    // h and its reshape are both intermediates: once the walk has passed both, nothing else can
    // see their buffer, and it goes back to the pool.
    for (const t of ['h', 'hr'] as const) {
      assert.equal(freed[t].freed, true, `${t}: a view of a buffer only graph intermediates see is freed`);
      assert.throws(() => freed[t].f32, /was freed for reuse/);
    }
    assert.equal(plain.hr.freed, false);
    assert.deepEqual([...plain.hr.f32], [...plain.before.hr]);
    for (const t of ['a', 'kept'] as const) assert.equal(freed[t].freed, false, `${t}: a detached tensor shares the buffer, so it is kept`);
    assert.deepEqual([...freed.kept.f32], [...freed.before.kept], 'a detached copy still reads its values');
  });

  it("inference(): records no graph, frees what it made except its result, never a caller's array", () => {
    const w = E.randn([64, 64], new E.Rng(5), 0.1, true);
    const userArray = new Float32Array(32 * 64).fill(0.5);
    let inner: Tensor | null = null;
    let wrapped: Tensor | null = null;
    const out = E.inference(() => {
      wrapped = new Tensor(userArray, [32, 64]); // the caller's array, wrapped inside
      inner = E.gelu(E.matmul(wrapped, w));
      return E.tanh(E.matmul(inner, w));
    });
    const expected = E.noGrad(() => E.tanh(E.matmul(E.gelu(E.matmul(new Tensor(userArray, [32, 64]), w)), w)));
    assert.equal(out.requiresGrad, false);
    assert.equal(out.node, null);
    assert.deepEqual([...out.f32], [...expected.f32], 'the result is intact');
    assert.equal(inner!.freed, true, 'an intermediate made inside is freed');
    assert.throws(() => inner!.f32, /was freed for reuse/);
    assert.equal(wrapped!.freed, false, "a tensor over the caller's array is not");
    assert.ok(userArray.every((v) => v === 0.5));
    // Nested: the inner result survives the inner scope, and goes with the outer one.
    let innerResult: Tensor | null = null;
    const outer = E.inference(() => {
      innerResult = E.inference(() => E.gelu(E.matmul(E.randn([32, 64], new E.Rng(6)), w)));
      assert.equal(innerResult.freed, false);
      return E.sum(innerResult);
    });
    assert.ok(Number.isFinite(outer.item()));
    assert.equal(innerResult!.freed, true);
  });

  it('demands an explicit gradient for a non-scalar output, of the right size', () => {
    const w = tensor([1, 2], [2], true);
    assert.throws(() => E.mul(w, w).backward(), /non-scalar/);
    assert.throws(() => E.mul(w, w).backward(new Float32Array(3)), /3 elements/);
  });

  it('rejects bad shapes with messages naming them', () => {
    const a = E.zeros([2, 3]);
    assert.throws(() => E.matmul(a, E.zeros([2, 3])), /inner sizes differ.*\[2, 3\]/);
    assert.throws(() => E.add(a, E.zeros([4])), /do not broadcast/);
    assert.throws(() => E.reshape(a, [4, 2]), /cannot view \[2, 3\] as \[4, 2\]/);
    assert.throws(() => E.gatherRows(a, E.intTensor([0, 2])), /index 2 at position 1/);
    assert.throws(() => E.crossEntropy(a, E.intTensor([0, 3])), /target 3 at position 1/);
    assert.throws(() => new Tensor(new Float32Array(5), [2, 3]), /5 elements/);
  });

  it('a 20000-op deep chain backpropagates without recursion limits', () => {
    const w = tensor([0.5], [1], true);
    let x: Tensor = w;
    for (let i = 0; i < 20000; i++) x = E.scale(x, 1);
    E.sum(x).backward();
    assert.deepEqual([...w.grad!], [1]);
  });
});
