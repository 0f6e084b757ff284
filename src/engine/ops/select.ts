// argmax and top-k over the last axis (no gradient).

import { K } from '../backend.js';
import { emptyF32, emptyI32, release } from '../storage.js';
import { Tensor, shapeStr } from '../tensor.js';

export function argmax(x: Tensor): Tensor {
  const out = emptyI32(x.rows);
  K.argmax(out, x.f32, x.rows, x.cols);
  return new Tensor(out, x.shape.slice(0, -1));
}

/** The k largest along the last axis, descending: { values, indices }. */
export function topk(x: Tensor, k: number): { values: Tensor; indices: Tensor } {
  const { values, indices, shape } = topkRaw(x, k);
  return { values: new Tensor(values, shape), indices: new Tensor(indices, shape) };
}

/**
 * Only the indices of topk (a router's choice): the values go back to the buffer pool at once
 * rather than to the GC, one buffer a training step.
 */
export function topkIndices(x: Tensor, k: number): Tensor {
  const { values, indices, shape } = topkRaw(x, k);
  release(values);
  return new Tensor(indices, shape);
}

function topkRaw(x: Tensor, k: number): { values: Float32Array; indices: Int32Array; shape: number[] } {
  if (!Number.isInteger(k) || k < 1 || k > x.cols) throw new RangeError(`topk: k=${k} for last axis of ${shapeStr(x.shape)}`);
  const shape = [...x.shape.slice(0, -1), k];
  const values = emptyF32(x.rows * k);
  const indices = emptyI32(x.rows * k);
  K.topk(values, indices, x.f32, x.rows, x.cols, k);
  return { values, indices, shape };
}
