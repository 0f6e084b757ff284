// softmax and log-softmax over the last axis, with an optional additive mask.

import { K } from '../backend.js';
import { needsGrad, record } from '../autograd.js';
import { emptyF32, emptyI32 } from '../storage.js';
import { Tensor, numel, shapeStr, type Shape } from '../tensor.js';

const rowMapCache = new Map<string, Int32Array>();

/**
 * For a mask broadcastable to x (same last axis), the mask row that each row of x uses.
 * A key-padding mask [B,1,1,T] against scores [B,H,T,T] maps row (b,h,q) to b; a causal mask
 * [T,T] maps it to q. Cached per shape pair: attention asks the same question every step.
 */
export function maskRowMap(xShape: Shape, maskShape: Shape): Int32Array {
  const key = `${xShape.join(',')}|${maskShape.join(',')}`;
  const hit = rowMapCache.get(key);
  if (hit) return hit;
  const n = xShape.length;
  const cols = xShape[n - 1];
  if (maskShape.length > n || maskShape[maskShape.length - 1] !== cols) {
    throw new RangeError(`mask ${shapeStr(maskShape)} does not broadcast to ${shapeStr(xShape)} along its last axis`);
  }
  const lead = xShape.slice(0, -1);
  const mlead = [...Array(n - maskShape.length).fill(1), ...maskShape.slice(0, -1)];
  const strides: number[] = new Array(lead.length).fill(0);
  let s = 1;
  for (let i = lead.length - 1; i >= 0; i--) {
    if (mlead[i] !== 1 && mlead[i] !== lead[i]) {
      throw new RangeError(`mask ${shapeStr(maskShape)} does not broadcast to ${shapeStr(xShape)}`);
    }
    strides[i] = mlead[i] === 1 ? 0 : s;
    s *= mlead[i];
  }
  const rows = numel(lead);
  const map = emptyI32(rows);
  const idx = new Array<number>(lead.length).fill(0);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let i = 0; i < lead.length; i++) m += idx[i] * strides[i];
    map[r] = m;
    for (let i = lead.length - 1; i >= 0; i--) {
      if (++idx[i] < lead[i]) break;
      idx[i] = 0;
    }
  }
  if (rowMapCache.size > 256) rowMapCache.clear();
  rowMapCache.set(key, map);
  return map;
}

function softmaxOp(x: Tensor, mask: Tensor | null, log: boolean): Tensor {
  const R = x.rows;
  const C = x.cols;
  const y = emptyF32(x.size);
  const rowMap = mask ? maskRowMap(x.shape, mask.shape) : null;
  K.softmax(y, x.f32, R, C, mask ? mask.f32 : null, rowMap, log);
  const out = new Tensor(y, x.shape);
  if (!needsGrad(x)) return out; // the mask is a constant
  return record(out, log ? 'logSoftmax' : 'softmax', [x], (g) => {
    const d = emptyF32(g.length);
    K.softmaxBackward(d, y, g, R, C, log);
    return [d];
  });
}

/** Softmax over the last axis of x + mask (mask additive: 0 keeps, -Infinity removes). */
export function softmax(x: Tensor, mask: Tensor | null = null): Tensor {
  return softmaxOp(x, mask, false);
}

export function logSoftmax(x: Tensor, mask: Tensor | null = null): Tensor {
  return softmaxOp(x, mask, true);
}
