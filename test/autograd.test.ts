// Autograd semantics: accumulation, shared gradient buffers, noGrad, detach, graph freeing, and
// clear errors.

import { it, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as E from '../src/engine/index.js';
import { Tensor, tensor } from '../src/engine/index.js';

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
