// Row gather and scatter-add by index: embedding lookup, and mixture-of-experts dispatch and
// combine. Each is the other's backward.

import { K } from '../backend.js';
import { needsGrad, record } from '../autograd.js';
import { emptyF32, release } from '../storage.js';
import { Tensor, shapeStr } from '../tensor.js';

function checkIndex(idx: Tensor, limit: number, what: string): Int32Array {
  const d = idx.i32;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v < 0 || v >= limit) throw new RangeError(`${what}: index ${v} at position ${i} is out of range [0, ${limit})`);
  }
  return d;
}

/** out[i] = x[idx[i]] over rows; x is [N, ...], idx int32 of any shape; out is [...idx, ...]. */
export function gatherRows(x: Tensor, idx: Tensor): Tensor {
  const N = x.shape[0];
  const cols = x.size / Math.max(1, N);
  const ids = checkIndex(idx, N, 'gatherRows');
  const out = emptyF32(ids.length * cols);
  K.gatherRows(out, x.f32, ids, cols);
  const t = new Tensor(out, [...idx.shape, ...x.shape.slice(1)]);
  if (!needsGrad(x)) return t;
  return record(t, 'gatherRows', [x], (g) => {
    // An embedding table's gradient is the size of the table (16.8 MB for the default vocabulary):
    // taken from the pool, and zeroed by the scatter-add's threads, each the part it adds into (a
    // JavaScript fill took 0.19 ms for the Switch layer's 2 MB, single-threaded on a cold buffer).
    const d = emptyF32(x.size);
    K.scatterAddRows(d, g, ids, cols, true);
    return [d];
  });
}

/** Embedding lookup: table [V, D], ids int32 [...] -> [..., D]. */
export function embedding(ids: Tensor, table: Tensor): Tensor {
  if (table.ndim !== 2) throw new RangeError(`embedding: table must be [V, D], got ${shapeStr(table.shape)}`);
  return gatherRows(table, ids);
}

/** out = zeros(rows, ...) with out[idx[i]] += src[i]; src is [n, ...], idx int32 [n]. */
export function scatterAddRows(src: Tensor, idx: Tensor, rows: number): Tensor {
  const n = src.shape[0];
  if (idx.size !== n) throw new RangeError(`scatterAddRows: ${idx.size} indices for ${n} rows of ${shapeStr(src.shape)}`);
  const cols = src.size / Math.max(1, n);
  const ids = checkIndex(idx, rows, 'scatterAddRows');
  const out = emptyF32(rows * cols);
  K.scatterAddRows(out, src.f32, ids, cols, true);
  const t = new Tensor(out, [rows, ...src.shape.slice(1)]);
  if (!needsGrad(src)) return t;
  return record(t, 'scatterAddRows', [src], (g) => {
    const d = emptyF32(src.size);
    K.gatherRows(d, g, ids, cols);
    return [d];
  });
}

/**
 * out = zeros(rows, ...) with out[idx[i]] += scale[i] · src[i]: mixture-of-experts' combine, each
 * expert's output row weighted by its gate, in one pass (and one pass back) where a row product
 * followed by scatterAddRows takes three. src is [n, ...], scale n values ([n] or [n, 1]), idx
 * int32 [n]; differentiable in src and scale.
 */
export function scatterAddRowsScaled(src: Tensor, scale: Tensor, idx: Tensor, rows: number): Tensor {
  const n = src.shape[0];
  if (idx.size !== n) throw new RangeError(`scatterAddRowsScaled: ${idx.size} indices for ${n} rows of ${shapeStr(src.shape)}`);
  if (scale.size !== n) throw new RangeError(`scatterAddRowsScaled: ${scale.size} scales (${shapeStr(scale.shape)}) for ${n} rows of ${shapeStr(src.shape)}`);
  const cols = src.size / Math.max(1, n);
  const ids = checkIndex(idx, rows, 'scatterAddRowsScaled');
  const out = emptyF32(rows * cols);
  K.scatterAddRowsScaled(out, src.f32, scale.f32, ids, cols, true);
  const t = new Tensor(out, [rows, ...src.shape.slice(1)]);
  if (!needsGrad(src, scale)) return t;
  return record(t, 'scatterAddRowsScaled', [src, scale], (g) => {
    const dsrc = emptyF32(src.size);
    const dscale = emptyF32(scale.size);
    K.scatterAddRowsScaledBackward(dsrc, dscale, g, src.f32, scale.f32, ids, cols);
    if (!src.requiresGrad) release(dsrc);
    if (!scale.requiresGrad) release(dscale);
    return [src.requiresGrad ? dsrc : null, scale.requiresGrad ? dscale : null];
  });
}
