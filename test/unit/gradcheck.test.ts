// Finite-difference gradient checks for every differentiable op, on every backend.
// loss = sum(out * r) for a fixed random r, accumulated in double; each input element is
// nudged by ±h and the central difference compared with the analytic gradient.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import * as E from '../../src/engine/index.js';
import { Rng, Tensor } from '../../src/engine/index.js';
import { assertClose, describeEachBackend } from '../helpers.js';

function randT(shape: number[], rng: Rng, opts: { away?: number; positive?: boolean } = {}): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = rng.normal();
    // Keep away from kinks (relu at 0) and poles (div by 0) where differences are meaningless.
    if (opts.away !== undefined) v = Math.sign(v || 1) * (Math.abs(v) + opts.away);
    if (opts.positive) v = Math.abs(v) + 0.5;
    d[i] = v;
  }
  return new Tensor(d, shape, true);
}

function gradcheck(name: string, inputs: Tensor[], fn: (xs: Tensor[]) => Tensor | Tensor[], h = 3e-3): void {
  const rng = new Rng(99);
  const outs0 = [fn(inputs)].flat();
  // Weight 0 on non-finite outputs (masked log-probabilities are -Infinity by design).
  const rs = outs0.map((o) => Float64Array.from({ length: o.size }, (_, i) => (Number.isFinite(o.data[i]) ? rng.normal() : 0)));
  const lossOf = (outs: Tensor[]) => {
    let s = 0;
    outs.forEach((o, k) =>
      o.data.forEach((v: number, i: number) => {
        if (rs[k][i] !== 0) s += v * rs[k][i];
      }),
    );
    return s;
  };
  outs0.forEach((o, k) => o.backward(Float32Array.from(rs[k])));
  inputs.forEach((x, xi) => {
    if (!x.requiresGrad) return;
    assert.ok(x.grad, `${name}: no gradient for input ${xi}`);
    const d = x.f32;
    for (let j = 0; j < d.length; j++) {
      const keep = d[j];
      d[j] = keep + h;
      const lp = E.noGrad(() => lossOf([fn(inputs)].flat()));
      d[j] = keep - h;
      const lm = E.noGrad(() => lossOf([fn(inputs)].flat()));
      d[j] = keep;
      const num = (lp - lm) / (2 * h);
      const ana = x.grad![j];
      const tol = 5e-3 + 2e-2 * Math.abs(num);
      assert.ok(Math.abs(num - ana) <= tol, `${name}: input ${xi} element ${j}: analytic ${ana}, numeric ${num}`);
    }
  });
}

describeEachBackend('gradient checks', (backend) => {
  const rng = new Rng(7);
  const R = (s: number[], o?: { away?: number; positive?: boolean }) => randT(s, rng, o);
  const int = (vals: number[], shape?: number[]) => E.intTensor(vals, shape);

  for (const [ta, tb] of [
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ]) {
    it(`matmul transA=${ta} transB=${tb}`, () =>
      gradcheck('matmul', [R(ta ? [4, 3] : [3, 4]), R(tb ? [5, 4] : [4, 5])], ([a, b]) => E.matmul(a, b, { transA: ta, transB: tb })));
    it(`bmm transA=${ta} transB=${tb}`, () =>
      gradcheck('bmm', [R(ta ? [2, 4, 3] : [2, 3, 4]), R(tb ? [2, 5, 4] : [2, 4, 5])], ([a, b]) => E.bmm(a, b, { transA: ta, transB: tb })));
    it(`bmm with a shared 2-D b, transA=${ta} transB=${tb}`, () =>
      gradcheck('bmm shared', [R(ta ? [2, 4, 3] : [2, 3, 4]), R(tb ? [5, 4] : [4, 5])], ([a, b]) => E.bmm(a, b, { transA: ta, transB: tb })));
  }
  it('matmul with 3-D a', () => gradcheck('matmul3d', [R([2, 3, 4]), R([4, 2])], ([a, b]) => E.matmul(a, b)));
  it('linear (with and without bias)', () => {
    gradcheck('linear', [R([2, 3, 4]), R([5, 4]), R([5])], ([x, w, b]) => E.linear(x, w, b));
    gradcheck('linear nobias', [R([3, 4]), R([2, 4])], ([x, w]) => E.linear(x, w));
  });
  it('linearLowRank (with and without bias)', () => {
    gradcheck('linearLowRank', [R([2, 3, 4]), R([5, 4]), R([5]), R([2, 4]), R([5, 2])], ([x, w, b, a, bm]) => E.linearLowRank(x, w, b, a, bm));
    gradcheck('linearLowRank nobias', [R([3, 4]), R([2, 4]), R([3, 4]), R([2, 3])], ([x, w, a, bm]) => E.linearLowRank(x, w, null, a, bm));
  });
  it('linearLowRank gives the floats of its composition, forward and backward, frozen weight or not', () => {
    // Bit for bit where GEMM adds its product to C at the end (OpenBLAS); the TypeScript twin
    // accumulates into C term by term, so there the sums round differently.
    const same = (x: ArrayLike<number>, y: ArrayLike<number>, what: string) =>
      backend === 'native' ? assert.deepEqual(x, y, what) : assertClose(x, y, what, { rtol: 1e-5, atol: 1e-5 });
    // A frozen projection (weight and bias without gradients) under a trained update is how a path uses it.
    for (const frozen of [true, false]) {
      const make = () => {
        const r = new Rng(5);
        const w = randT([24, 16], r);
        const b = randT([24], r);
        if (frozen) w.requiresGrad = b.requiresGrad = false;
        return { x: randT([3, 7, 16], r), w, b, a: randT([4, 16], r), bm: randT([24, 4], r) };
      };
      const p = make();
      const q = make();
      const g = Float32Array.from({ length: 3 * 7 * 24 }, (_, i) => Math.sin(i));
      const fused = E.linearLowRank(p.x, p.w, p.b, p.a, p.bm);
      const composed = E.add(E.linear(q.x, q.w, q.b), E.linear(E.linear(q.x, q.a), q.bm));
      same(fused.data, composed.data, 'output');
      fused.backward(g);
      composed.backward(g);
      for (const k of (frozen ? ['x', 'a', 'bm'] : ['x', 'a', 'bm', 'w', 'b']) as ('x' | 'a' | 'bm' | 'w' | 'b')[])
        same(p[k].grad!, q[k].grad!, `${k} (frozen ${frozen})`);
      if (frozen) assert.equal(p.w.grad, null);
    }
  });
  for (const op of ['add', 'sub', 'mul', 'div'] as const) {
    const f = { add: E.add, sub: E.sub, mul: E.mul, div: E.div }[op];
    it(`${op} with broadcasting`, () => {
      const pos = op === 'div' ? { positive: true } : undefined;
      gradcheck(`${op} same`, [R([3, 4]), R([3, 4], pos)], ([a, b]) => f(a, b));
      gradcheck(`${op} row`, [R([2, 3, 4]), R([4], pos)], ([a, b]) => f(a, b));
      gradcheck(`${op} col`, [R([3, 4]), R([3, 1], pos)], ([a, b]) => f(a, b));
      gradcheck(`${op} scalar`, [R([3, 4]), R([1], pos)], ([a, b]) => f(a, b));
      gradcheck(`${op} general`, [R([2, 1, 3]), R([4, 1], pos)], ([a, b]) => f(a, b));
      gradcheck(`${op} a broadcast`, [R([4]), R([3, 4], pos)], ([a, b]) => f(a, b));
    });
  }
  it('the same tensor used twice (x * x + x)', () => gradcheck('reuse', [R([3, 4])], ([x]) => E.add(E.mul(x, x), x)));
  it('scale, sum, mean', () => {
    gradcheck('scale', [R([3, 4])], ([a]) => E.scale(a, -1.5));
    for (const axis of [0, 1, -1, null]) {
      gradcheck(`sum ${axis}`, [R([2, 3, 4])], ([a]) => E.sum(a, { axis }));
      gradcheck(`mean ${axis}`, [R([2, 3, 4])], ([a]) => E.mean(a, { axis, keepdim: true }));
    }
  });
  it('reshape, transposeHeads, swapAxes, transpose', () => {
    gradcheck('reshape', [R([2, 6])], ([a]) => E.mul(E.reshape(a, [3, -1]), E.reshape(a, [3, 4])));
    gradcheck('transposeHeads', [R([2, 3, 2, 4])], ([a]) => E.transposeHeads(a));
    gradcheck('swapAxes', [R([2, 3, 4])], ([a]) => E.swapAxes(a, -2));
    gradcheck('transpose', [R([3, 5])], ([a]) => E.transpose(a));
  });
  it('concat and split', () => {
    gradcheck('concat0', [R([2, 3]), R([1, 3])], (xs) => E.concat(xs, 0));
    gradcheck('concat-1', [R([2, 2]), R([2, 3])], (xs) => E.concat(xs, -1));
    gradcheck('split0', [R([4, 3])], ([a]) => E.split(a, [1, 3], 0));
    gradcheck('split-1', [R([3, 5])], ([a]) => E.split(a, [2, 3], -1));
  });
  it('activations', () => {
    gradcheck('gelu', [R([3, 5])], ([x]) => E.gelu(x));
    gradcheck('geluTanh', [R([3, 5])], ([x]) => E.geluTanh(x));
    gradcheck('relu', [R([3, 5], { away: 0.1 })], ([x]) => E.relu(x));
    gradcheck('tanh', [R([3, 5])], ([x]) => E.tanh(x));
  });
  it('dropout (fixed seed, so a fixed mask)', () => {
    gradcheck('dropout', [R([4, 6])], ([x]) => E.dropout(x, 0.3, new Rng(5)));
  });
  it('activation fused with dropout (gelu, gelu_tanh, relu; tanh goes through the two ops)', () => {
    gradcheck('activationDropout gelu', [R([4, 6])], ([x]) => E.activationDropout(x, 'gelu', 0.3, new Rng(5)));
    gradcheck('activationDropout gelu_tanh', [R([4, 6])], ([x]) => E.activationDropout(x, 'gelu_tanh', 0.3, new Rng(5)));
    gradcheck('activationDropout relu', [R([4, 6], { away: 0.1 })], ([x]) => E.activationDropout(x, 'relu', 0.3, new Rng(5)));
    gradcheck('activationDropout tanh', [R([4, 6])], ([x]) => E.activationDropout(x, 'tanh', 0.3, new Rng(5)));
  });
  it('activation fused with dropout: the two ops bit for bit (values, gradient, rng draws)', () => {
    for (const name of ['gelu', 'gelu_tanh', 'relu', 'tanh'] as const) {
      const x = R([64, 33]);
      const up = Float32Array.from({ length: x.size }, (_, i) => Math.sin(i));
      const run = (fused: boolean) => {
        const xi = new Tensor(x.f32.slice(), x.shape, true);
        const rng = new Rng(11);
        const y = fused ? E.activationDropout(xi, name, 0.2, rng) : E.dropout(E.activation(xi, name), 0.2, rng);
        y.backward(up);
        return { y: y.f32, g: xi.grad!, next: rng.nextU32() };
      };
      const [a, b] = [run(true), run(false)];
      assert.deepEqual(a.y, b.y, `${name}: values`);
      assert.deepEqual(a.g, b.g, `${name}: gradient`);
      assert.equal(a.next, b.next, `${name}: rng state`);
      assert.ok(a.y.some((v) => v === 0) && a.y.some((v) => v !== 0), `${name}: some dropped, some kept`);
    }
  });
  it('layerNorm', () => gradcheck('layerNorm', [R([3, 6]), R([6]), R([6])], ([x, g, b]) => E.layerNorm(x, g, b)));
  it('softmax and logSoftmax with masks', () => {
    const pad = new Tensor(Float32Array.from([0, 0, -Infinity, 0, 0, 0]), [2, 1, 3]);
    gradcheck('softmax', [R([2, 3, 3])], ([x]) => E.softmax(x, pad));
    gradcheck('logSoftmax', [R([2, 3, 3])], ([x]) => E.logSoftmax(x, pad));
    gradcheck('softmax nomask', [R([3, 4])], ([x]) => E.softmax(x));
  });
  it('fused self-attention (padding mask, causal, dropout, packed segments)', () => {
    const keep = new Tensor(Int32Array.from([1, 1, 1, 1, 1, 1, 0, 0]), [2, 4]);
    const mask = E.paddingMask(keep);
    gradcheck('attn', [R([2, 4, 12])], ([q]) => E.selfAttention(q, { heads: 2, mask }));
    gradcheck('attn causal', [R([2, 4, 12])], ([q]) => E.selfAttention(q, { heads: 2, causal: true }));
    gradcheck('attn dropout', [R([1, 3, 6])], ([q]) => E.selfAttention(q, { heads: 1, mask: null, dropout: 0.25, rng: new Rng(3) }));
    gradcheck('attn packed', [R([1, 6, 12])], ([q]) => E.selfAttention(q, { heads: 2, segments: [3, 1, 2] }));
    gradcheck('attn packed causal', [R([1, 5, 12])], ([q]) => E.selfAttention(q, { heads: 2, segments: [2, 3], causal: true }));
  });
  it('groupedLinear (experts with and without rows)', () => {
    const offsets = Int32Array.from([0, 2, 2, 5]); // expert 1 gets no rows
    gradcheck('groupedLinear', [R([5, 3]), R([3, 4, 3]), R([3, 4])], ([x, w, b]) => E.groupedLinear(x, w, b, offsets));
    gradcheck('groupedLinear nobias', [R([5, 3]), R([3, 2, 3])], ([x, w]) => E.groupedLinear(x, w, null, offsets));
  });
  it('embedding, gatherRows, scatterAddRows, scatterAddRowsScaled', () => {
    gradcheck('embedding', [R([5, 3])], ([t]) => E.embedding(int([0, 2, 2, 4], [2, 2]), t));
    gradcheck('gatherRows', [R([4, 3])], ([x]) => E.gatherRows(x, int([3, 0, 3])));
    gradcheck('scatterAddRows', [R([4, 2])], ([s]) => E.scatterAddRows(s, int([1, 1, 0, 3]), 5));
    gradcheck('scatterAddRowsScaled', [R([4, 2]), R([4, 1])], ([s, w]) => E.scatterAddRowsScaled(s, w, int([1, 1, 0, 3]), 5));
    gradcheck('scatterAddRowsScaled unique', [R([3, 3]), R([3])], ([s, w]) => E.scatterAddRowsScaled(s, w, int([2, 0, 4]), 5));
  });
  it('crossEntropy (ignore index, label smoothing) and mse', () => {
    gradcheck('ce', [R([4, 5])], ([l]) => E.crossEntropy(l, int([1, -100, 4, 0])));
    gradcheck('ce smooth', [R([4, 5])], ([l]) => E.crossEntropy(l, int([1, -100, 4, 0]), { labelSmoothing: 0.2 }));
    gradcheck('mse', [R([3, 4]), R([3, 4])], ([a, b]) => E.mse(a, b));
  });
});
