// sum and mean over one axis (or all), with keepdim.

import { K } from '../backend.js';
import { needsGrad, record } from '../autograd.js';
import { emptyF32 } from '../storage.js';
import { Tensor, numel, shapeStr } from '../tensor.js';

export interface ReduceOptions {
  /** Axis to reduce (negative counts from the end); null or absent reduces everything. */
  axis?: number | null;
  keepdim?: boolean;
}

export function normAxis(axis: number, ndim: number, what: string): number {
  const a = axis < 0 ? axis + ndim : axis;
  if (!Number.isInteger(a) || a < 0 || a >= ndim) throw new RangeError(`${what}: axis ${axis} out of range for ${ndim} dims`);
  return a;
}

function reduce(x: Tensor, opts: ReduceOptions, mean: boolean): Tensor {
  const name = mean ? 'mean' : 'sum';
  let outer: number, n: number, inner: number, outShape: number[];
  if (opts.axis === null || opts.axis === undefined) {
    outer = 1;
    n = x.size;
    inner = 1;
    outShape = opts.keepdim ? x.shape.map(() => 1) : [];
  } else {
    const ax = normAxis(opts.axis, x.ndim, name);
    outer = numel(x.shape.slice(0, ax));
    n = x.shape[ax];
    inner = numel(x.shape.slice(ax + 1));
    outShape = opts.keepdim ? x.shape.map((d, i) => (i === ax ? 1 : d)) : x.shape.filter((_, i) => i !== ax);
  }
  if (n === 0 && mean) throw new RangeError(`mean over an empty axis of ${shapeStr(x.shape)}`);
  const out = emptyF32(outer * inner);
  K.sumAxis(out, x.f32, outer, n, inner);
  if (mean) K.axpby(out, 1 / n, out, 0);
  const t = new Tensor(out, outShape);
  if (!needsGrad(x)) return t;
  return record(t, name, [x], (g) => {
    const d = emptyF32(x.size);
    K.expandAxis(d, g, outer, n, inner);
    if (mean) K.axpby(d, 1 / n, d, 0);
    return [d];
  });
}

export function sum(x: Tensor, opts: ReduceOptions = {}): Tensor {
  return reduce(x, opts, false);
}

export function mean(x: Tensor, opts: ReduceOptions = {}): Tensor {
  return reduce(x, opts, true);
}
