// The int8 variant of a graph's weights: the int8 forms `pathwise quantize` gives a model
// (compress/quantize.ts: one rule for which parameters, symmetric int8 with a scale per output
// channel), run the way Pathwise's int8 inference runs them (engine/int8.ts):
//   linear layers: each token's activations quantized symmetric per row at run time
//     (absmax / 127, round half to even, clamp to ±127), multiplied with the int8 weights
//     (DequantizeLinear: q · the output channel's scale) and scaled back by the token's scale;
//   tables (embeddings, n-gram bags): int8 with a scale per column, DequantizeLinear'd where read.
// A parameter without an int8 form (the Switch router, which the rule keeps float32) stays as the
// fp32 graph has it.

import { int8Of, type Tensor } from '../../engine/index.js';
import type { Graph } from './graph.js';
import { Weights } from './weights.js';

export class Int8Weights extends Weights {
  override matmul(g: Graph, name: string, x: string, w: Tensor, e?: number): string {
    const form = int8Of(w);
    if (!form) return super.matmul(g, name, x, w, e);
    if (form.axis !== 'row') throw new Error(`${name}: a linear weight quantized by column`);
    const out = w.shape[w.ndim - 2];
    const inn = w.shape[w.ndim - 1];
    const r0 = (e ?? 0) * out;
    const q = new Int8Array(inn * out);
    for (let r = 0; r < out; r++) for (let c = 0; c < inn; c++) q[c * out + r] = form.q[(r0 + r) * inn + c];
    const key = this.key(w, `q${e ?? ''}`);
    const wq = g.init(`${name}.q`, { type: 'int8', dims: [inn, out], data: q }, key);
    const ws = g.f32(`${name}.scale`, form.scale.slice(r0, r0 + out), [out], this.key(w, `s${e ?? ''}`));
    // The activations, per row (token): absmax, then q = clamp(round(x · 127 / absmax)), kept as
    // integer-valued floats. The product with the dequantized weight (q_w · scale_w, exact in
    // float32) sums what Pathwise's int32 GEMM sums, in float32: exact while a sum stays below
    // 2^24 (127² · 1024 inputs), the whole range of this model size. Not MatMulInteger: onnxruntime-web's
    // int8 × int8 kernel disagreed with exact integer sums on real activations (a max error of
    // 0.21 on a 256 → 768 layer where Pathwise's int8 is 0.05 from fp32), and a graph that runs
    // wrong is worse than one that runs slower.
    // absmax by TopK(1), not ReduceMax: onnxruntime's reductions return an empty input's own shape
    // ([0, 16] for [0, 16] over the last axis, not [0, 1]), and an expert that no token chose has no rows.
    const [absmax] = g.opN('TopK', [g.op('Abs', [x], `${name}.abs`), g.i64('k_1', [1])], [`${name}.absmax`, `${name}.absmax_at`], { axis: -1 });
    const inv = g.op('Div', [g.scalar('qmax', 127), g.op('Max', [absmax, g.scalar('tiny', 1e-30)], `${name}.absmax1`)], `${name}.inv`);
    const rounded = g.op('Round', [g.op('Mul', [x, inv], `${name}.x_scaled`)], `${name}.x_round`);
    const xq = g.op('Clip', [rounded, g.scalar('qmin_neg', -127), g.scalar('qmax', 127)], `${name}.x_q`);
    const wdq = g.op('DequantizeLinear', [wq, ws], `${name}.dequantized`, { axis: 1 });
    const acc = g.op('MatMul', [xq, wdq], `${name}.acc`);
    return g.op('Mul', [acc, g.op('Div', [absmax, g.scalar('qmax', 127)], `${name}.x_scale`)], `${name}.matmul`);
  }

  override table(g: Graph, name: string, t: Tensor): string {
    const form = int8Of(t);
    if (!form) return super.table(g, name, t);
    if (form.axis !== 'column') throw new Error(`${name}: a table quantized by row`);
    const q = g.init(`${name}.q`, { type: 'int8', dims: [form.rows, form.cols], data: form.q }, this.key(t, 'q'));
    const s = g.f32(`${name}.scale`, form.scale, [form.cols], this.key(t, 's'));
    return g.op('DequantizeLinear', [q, s], name, { axis: 1 });
  }
}
