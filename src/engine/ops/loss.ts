// Losses: cross-entropy (fused log-softmax + NLL, ignore index, label smoothing) and MSE.

import { K } from '../backend.js';
import { needsGrad, record } from '../autograd.js';
import { BinaryOp } from '../kernels.js';
import { emptyF32, release } from '../storage.js';
import { Tensor, shapeStr } from '../tensor.js';

export interface CrossEntropyOptions {
  /** Targets equal to this are skipped (PyTorch's default -100). */
  ignoreIndex?: number;
  /** Label smoothing epsilon in [0, 1). */
  labelSmoothing?: number;
}

/**
 * Mean cross-entropy of logits [..., V] against int32 targets [...] over the non-ignored
 * positions (NaN if every target is ignored, as in PyTorch).
 */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const ignoreIndex = opts.ignoreIndex ?? -100;
  const eps = opts.labelSmoothing ?? 0;
  if (!(eps >= 0 && eps < 1)) throw new RangeError(`crossEntropy: labelSmoothing must be in [0, 1), got ${eps}`);
  const V = logits.cols;
  const R = logits.rows;
  if (targets.size !== R) {
    throw new RangeError(`crossEntropy: ${targets.size} targets for logits ${shapeStr(logits.shape)} (${R} rows)`);
  }
  const t = targets.i32;
  let count = 0;
  for (let i = 0; i < R; i++) {
    const c = t[i];
    if (c === ignoreIndex) continue;
    if (c < 0 || c >= V) throw new RangeError(`crossEntropy: target ${c} at position ${i} is outside [0, ${V})`);
    count++;
  }
  const lse = emptyF32(R);
  const total = K.crossEntropy(lse, logits.f32, t, R, V, ignoreIndex, eps);
  const out = new Tensor(Float32Array.of(total / count), []);
  if (!needsGrad(logits)) return out;
  return record(out, 'crossEntropy', [logits], (g) => {
    const d = emptyF32(logits.size);
    K.crossEntropyBackward(d, logits.f32, lse, t, R, V, ignoreIndex, eps, g[0] / count);
    return [d];
  });
}

/** Mean squared error. */
export function mse(a: Tensor, b: Tensor): Tensor {
  if (a.size !== b.size) throw new RangeError(`mse: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} differ`);
  const n = a.size;
  const diff = emptyF32(n);
  K.binary(BinaryOp.Sub, diff, a.f32, b.f32, n, n);
  const out = new Tensor(Float32Array.of(K.sumSquares(diff) / n), []);
  // diff is this op's own temporary: back to the pool once nothing will read it.
  if (!needsGrad(a, b)) {
    release(diff);
    return out;
  }
  return record(out, 'mse', [a, b], (g) => {
    const s = (2 * g[0]) / n;
    let da: Float32Array | null = null;
    let db: Float32Array | null = null;
    if (a.requiresGrad) K.axpby((da = emptyF32(n)), s, diff, 0);
    if (b.requiresGrad) K.axpby((db = emptyF32(n)), -s, diff, 0);
    release(diff);
    return [da, db];
  });
}
