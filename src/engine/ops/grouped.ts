// Grouped linear: the expert layer of a mixture of experts. Rows of x are grouped by expert
// (group g owns rows offsets[g] .. offsets[g+1]) and each group is multiplied by its own weight:
//   y[rows_g] = x[rows_g] · W[g]ᵀ + b[g],    W [E, out, in], b [E, out]
// Forward and each backward product are one grouped-GEMM call over all experts; an expert with
// no rows costs nothing (its weight gradient is exactly zero).

import { K } from '../backend.js';
import { needsGrad, record } from '../autograd.js';
import { emptyF32 } from '../storage.js';
import { Tensor, shapeStr } from '../tensor.js';

/** Group id of every row, from offsets. */
function rowGroups(offsets: Int32Array, rows: number): Int32Array {
  const g = new Int32Array(rows);
  for (let e = 0; e + 1 < offsets.length; e++) g.fill(e, offsets[e], offsets[e + 1]);
  return g;
}

export function groupedLinear(x: Tensor, w: Tensor, b: Tensor | null, offsets: Int32Array): Tensor {
  if (w.ndim !== 3) throw new RangeError(`groupedLinear: weight must be [E, out, in], got ${shapeStr(w.shape)}`);
  const [E, O, I] = w.shape;
  const M = x.rows;
  if (x.cols !== I) throw new RangeError(`groupedLinear: input ${shapeStr(x.shape)} does not end in ${I}`);
  if (offsets.length !== E + 1 || offsets[0] !== 0 || offsets[E] !== M) {
    throw new RangeError(`groupedLinear: offsets must have ${E + 1} entries from 0 to ${M}, got [${Array.from(offsets).join(', ')}]`);
  }
  for (let e = 0; e < E; e++) if (offsets[e + 1] < offsets[e]) throw new RangeError('groupedLinear: offsets must not decrease');
  if (b && (b.ndim !== 2 || b.shape[0] !== E || b.shape[1] !== O)) throw new RangeError(`groupedLinear: bias must be [${E}, ${O}], got ${shapeStr(b.shape)}`);

  // Group tables [M, N, K, offA, offB, offC] for the three products.
  const fwd = new Int32Array(6 * E);
  const dx = new Int32Array(6 * E);
  const dw = new Int32Array(6 * E);
  for (let e = 0; e < E; e++) {
    const r0 = offsets[e];
    const m = offsets[e + 1] - r0;
    fwd.set([m, O, I, r0 * I, e * O * I, r0 * O], 6 * e); // x_g · W_gᵀ
    dx.set([m, I, O, r0 * O, e * O * I, r0 * I], 6 * e); // dy_g · W_g
    dw.set([O, I, m, r0 * O, r0 * I, e * O * I], 6 * e); // dy_gᵀ · x_g
  }
  const X = x.f32;
  const W = w.f32;
  const Y = emptyF32(M * O);
  const groups = b ? rowGroups(offsets, M) : null;
  if (b) K.gatherRows(Y, b.f32, groups!, O); // each row starts as its expert's bias
  K.gemmGrouped(false, true, fwd, 1, X, I, W, I, b ? 1 : 0, Y, O);
  const out = new Tensor(Y, [...x.shape.slice(0, -1), O]);
  if (!needsGrad(x, w, b)) return out;
  const inputs = b ? [x, w, b] : [x, w];
  return record(out, 'groupedLinear', inputs, (g) => {
    let gx: Float32Array | null = null;
    let gw: Float32Array | null = null;
    let gb: Float32Array | null = null;
    if (x.requiresGrad) K.gemmGrouped(false, false, dx, 1, g, O, W, I, 0, (gx = emptyF32(X.length)), I);
    // Experts with no rows have K = 0: the kernel writes beta * C = 0 for them.
    if (w.requiresGrad) K.gemmGrouped(true, false, dw, 1, g, O, X, I, 0, (gw = emptyF32(W.length)), I);
    if (b?.requiresGrad) K.scatterAddRows((gb = emptyF32(E * O)), g, groups!, O, true);
    return b ? [gx, gw, gb] : [gx, gw];
  });
}
