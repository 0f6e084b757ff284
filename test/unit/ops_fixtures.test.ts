// Every op against PyTorch reference values (tools/make_fixtures.py), on every backend:
// forward output, and gradients of sum(out * upstream) with respect to each input.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import * as E from '../../src/engine/index.js';
import { Tensor } from '../../src/engine/index.js';
import { assertClose, describeEachBackend, fromFx, loadFixture, type FxTensor } from '../helpers.js';

interface Case {
  name: string;
  op: string;
  attrs: Record<string, unknown>;
  inputs: Record<string, FxTensor | FxTensor[]>;
  upstream?: FxTensor | FxTensor[];
  outputs: Record<string, FxTensor | FxTensor[]>;
  grads?: Record<string, FxTensor | FxTensor[]>;
}

type In = Record<string, Tensor | Tensor[]>;
const t = (x: Tensor | Tensor[]): Tensor => x as Tensor;

/** op name -> how to call it; returns the named outputs. */
// biome-ignore lint/suspicious/noExplicitAny: each op reads its own attributes from the fixture JSON (tools/make_fixtures.py) and passes them on as its options
const OPS: Record<string, (i: In, a: Record<string, any>) => Record<string, Tensor | Tensor[]>> = {
  matmul: (i, a) => ({ out: E.matmul(t(i.a), t(i.b), a) }),
  bmm: (i, a) => ({ out: E.bmm(t(i.a), t(i.b), a) }),
  linear: (i) => ({ out: E.linear(t(i.x), t(i.w), t(i.b)) }),
  add: (i) => ({ out: E.add(t(i.a), t(i.b)) }),
  sub: (i) => ({ out: E.sub(t(i.a), t(i.b)) }),
  mul: (i) => ({ out: E.mul(t(i.a), t(i.b)) }),
  div: (i) => ({ out: E.div(t(i.a), t(i.b)) }),
  scale: (i, a) => ({ out: E.scale(t(i.a), a.s) }),
  sum: (i, a) => ({ out: E.sum(t(i.a), a) }),
  mean: (i, a) => ({ out: E.mean(t(i.a), a) }),
  transposeHeads: (i) => ({ out: E.transposeHeads(t(i.a)) }),
  concat: (i, a) => ({ out: E.concat(i.xs as Tensor[], a.axis) }),
  split: (i, a) => ({ out: E.split(t(i.a), a.sizes, a.axis) }),
  gelu: (i) => ({ out: E.gelu(t(i.x)) }),
  geluTanh: (i) => ({ out: E.geluTanh(t(i.x)) }),
  relu: (i) => ({ out: E.relu(t(i.x)) }),
  tanh: (i) => ({ out: E.tanh(t(i.x)) }),
  layerNorm: (i, a) => ({ out: E.layerNorm(t(i.x), t(i.gamma), t(i.beta), a.eps) }),
  softmax: (i) => ({ out: E.softmax(t(i.x), (i.mask as Tensor) ?? null) }),
  logSoftmax: (i) => ({ out: E.logSoftmax(t(i.x), (i.mask as Tensor) ?? null) }),
  embedding: (i) => ({ out: E.embedding(t(i.ids), t(i.table)) }),
  gatherRows: (i) => ({ out: E.gatherRows(t(i.x), t(i.idx)) }),
  scatterAddRows: (i, a) => ({ out: E.scatterAddRows(t(i.src), t(i.idx), a.rows) }),
  scatterAddRowsScaled: (i, a) => ({ out: E.scatterAddRowsScaled(t(i.src), t(i.scale), t(i.idx), a.rows) }),
  crossEntropy: (i, a) => ({ out: E.crossEntropy(t(i.logits), t(i.targets), a) }),
  mse: (i) => ({ out: E.mse(t(i.a), t(i.b)) }),
  argmax: (i) => ({ out: E.argmax(t(i.x)) }),
  topk: (i, a) => {
    const r = E.topk(t(i.x), a.k);
    // The router's indices-only form picks the same (and hands its values to the pool).
    assert.deepEqual([...E.topkIndices(t(i.x), a.k).i32], [...r.indices.i32], 'topkIndices');
    return r;
  },
};

/** Ops whose outputs carry no gradient here (argmax / topk are selections). */
const NO_GRAD = new Set(['argmax', 'topk']);

const cases = loadFixture<{ cases: Case[] }>('engine/ops.json').cases;

describeEachBackend('ops vs PyTorch', () => {
  it('covers every op in the fixture file', () => {
    const missing = [...new Set(cases.map((c) => c.op))].filter((op) => !(op in OPS));
    assert.deepEqual(missing, []);
  });

  for (const c of cases) {
    it(c.name, () => {
      const inputs: In = {};
      for (const [k, v] of Object.entries(c.inputs)) {
        // The mask is a constant; everything else float is differentiated.
        const grad = !NO_GRAD.has(c.op) && k !== 'mask';
        inputs[k] = Array.isArray(v) ? v.map((x) => fromFx(x, grad)) : fromFx(v, grad);
      }
      const outs = OPS[c.op](inputs, c.attrs ?? {});
      // Forward.
      for (const [k, exp] of Object.entries(c.outputs)) {
        const got = outs[k];
        const gl = Array.isArray(got) ? got : [got];
        const el = Array.isArray(exp) ? exp : [exp];
        assert.equal(gl.length, el.length, `${c.name}: number of outputs "${k}"`);
        gl.forEach((g, j) => {
          assert.deepEqual([...g.shape], el[j].shape, `${c.name}: shape of ${k}[${j}]`);
          assertClose(g.data, el[j].data, `${c.name} ${k}[${j}]`, { rtol: 2e-5, atol: 2e-6 });
        });
      }
      if (NO_GRAD.has(c.op) || !c.upstream) return;
      // Backward: d/dx sum(out * upstream) = out.backward(upstream).
      const outList = Array.isArray(outs.out) ? outs.out : [outs.out as Tensor];
      const ups = Array.isArray(c.upstream) ? c.upstream : [c.upstream];
      outList.forEach((o, j) => o.backward(Float32Array.from(ups[j].data)));
      for (const [k, exp] of Object.entries(c.grads ?? {})) {
        const inp = inputs[k];
        const il = Array.isArray(inp) ? inp : [inp];
        const el = Array.isArray(exp) ? exp : [exp];
        il.forEach((x, j) => {
          assert.ok(x.grad, `${c.name}: no gradient reached ${k}[${j}]`);
          assertClose(x.grad!, el[j].data, `${c.name} d${k}[${j}]`, { rtol: 5e-5, atol: 5e-6 });
        });
      }
    });
  }
});
