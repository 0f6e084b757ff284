// Shape ops: reshape (a view), the head transpose, a general middle-axes swap, concat, split.

import { K } from '../backend.js';
import { needsGrad, record } from '../autograd.js';
import { emptyF32 } from '../storage.js';
import { Tensor, numel, shapeStr, type Shape } from '../tensor.js';
import { normAxis } from './reduce.js';

/** Same storage, new shape (one axis may be -1). */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const s = [...shape];
  const neg = s.indexOf(-1);
  if (neg >= 0) {
    const rest = numel(s.filter((_, i) => i !== neg));
    s[neg] = rest === 0 ? 0 : x.size / rest;
  }
  if (numel(s) !== x.size || s.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new RangeError(`reshape: cannot view ${shapeStr(x.shape)} as ${shapeStr(shape)}`);
  }
  const out = new Tensor(x.data, s);
  if (!needsGrad(x)) return out;
  return record(out, 'reshape', [x], (g) => [g]);
}

/**
 * Swaps axes `axis` and `axis + 1`: x viewed as (outer, X, Y, inner) becomes (outer, Y, X, inner).
 */
export function swapAxes(x: Tensor, axis: number): Tensor {
  const a = normAxis(axis, x.ndim, 'swapAxes');
  if (a + 1 >= x.ndim) throw new RangeError(`swapAxes: axis ${axis} has no next axis in ${shapeStr(x.shape)}`);
  const outer = numel(x.shape.slice(0, a));
  const X = x.shape[a];
  const Y = x.shape[a + 1];
  const inner = numel(x.shape.slice(a + 2));
  const out = emptyF32(x.size);
  K.transpose(out, x.f32, outer, X, Y, inner);
  const shape = [...x.shape];
  [shape[a], shape[a + 1]] = [Y, X];
  const t = new Tensor(out, shape);
  if (!needsGrad(x)) return t;
  return record(t, 'swapAxes', [x], (g) => {
    const d = emptyF32(g.length);
    K.transpose(d, g, outer, Y, X, inner);
    return [d];
  });
}

/** (B, T, H, D) <-> (B, H, T, D): the attention head transpose (its own inverse). */
export function transposeHeads(x: Tensor): Tensor {
  if (x.ndim !== 4) throw new RangeError(`transposeHeads: expected 4-D, got ${shapeStr(x.shape)}`);
  return swapAxes(x, 1);
}

/** 2-D matrix transpose. */
export function transpose(x: Tensor): Tensor {
  if (x.ndim !== 2) throw new RangeError(`transpose: expected 2-D, got ${shapeStr(x.shape)}`);
  return swapAxes(x, 0);
}

/** Copies block-strided pieces: the shared loop of concat and split. */
function copyPieces(whole: Float32Array, parts: Float32Array[], widths: number[], outer: number, inner: number, toWhole: boolean): void {
  const total = widths.reduce((s, w) => s + w, 0) * inner;
  let off = 0;
  for (let p = 0; p < parts.length; p++) {
    const w = widths[p] * inner;
    const part = parts[p];
    if (outer === 1) {
      if (toWhole) whole.set(part, off);
      else part.set(whole.subarray(off, off + w));
    } else {
      for (let o = 0; o < outer; o++) {
        const src = o * total + off;
        if (toWhole) whole.set(part.subarray(o * w, o * w + w), src);
        else part.set(whole.subarray(src, src + w), o * w);
      }
    }
    off += w;
  }
}

export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new RangeError('concat: no tensors');
  const ref = xs[0].shape;
  const ax = normAxis(axis, ref.length, 'concat');
  for (const x of xs) {
    if (x.ndim !== ref.length || x.shape.some((d, i) => i !== ax && d !== ref[i])) {
      throw new RangeError(`concat: shapes ${xs.map((t) => shapeStr(t.shape)).join(', ')} differ off axis ${axis}`);
    }
  }
  const widths = xs.map((x) => x.shape[ax]);
  const outer = numel(ref.slice(0, ax));
  const inner = numel(ref.slice(ax + 1));
  const shape = [...ref];
  shape[ax] = widths.reduce((s, w) => s + w, 0);
  const out = emptyF32(numel(shape));
  copyPieces(
    out,
    xs.map((x) => x.f32),
    widths,
    outer,
    inner,
    true,
  );
  const t = new Tensor(out, shape);
  if (!needsGrad(...xs)) return t;
  return record(t, 'concat', xs, (g) => {
    const parts = xs.map((x) => emptyF32(x.size));
    copyPieces(g, parts, widths, outer, inner, false);
    return parts.map((p, i) => (xs[i].requiresGrad ? p : null));
  });
}

/**
 * Splits along an axis into pieces of the given sizes. Along axis 0 the pieces are views (no
 * copy), which is how a fused QKV projection is cut into Q, K and V.
 */
export function split(x: Tensor, sizes: readonly number[], axis = 0): Tensor[] {
  const ax = normAxis(axis, x.ndim, 'split');
  if (sizes.reduce((s, w) => s + w, 0) !== x.shape[ax]) {
    throw new RangeError(`split: sizes [${sizes.join(', ')}] do not add up to ${x.shape[ax]} (axis ${axis} of ${shapeStr(x.shape)})`);
  }
  const outer = numel(x.shape.slice(0, ax));
  const inner = numel(x.shape.slice(ax + 1));
  const shapes = sizes.map((w) => x.shape.map((d, i) => (i === ax ? w : d)));
  let parts: Float32Array[];
  if (outer === 1) {
    let off = 0;
    parts = sizes.map((w) => x.f32.subarray(off, (off += w * inner)));
  } else {
    parts = sizes.map((w) => emptyF32(outer * w * inner));
    copyPieces(x.f32, parts, [...sizes], outer, inner, false);
  }
  const outs = parts.map((p, i) => new Tensor(p, shapes[i]));
  if (!needsGrad(x)) return outs;
  // Each piece gets its own node; their gradients meet in x through accumulation.
  return outs.map((o, i) => {
    const before = sizes.slice(0, i).reduce((s, w) => s + w, 0);
    return record(o, 'split', [x], (g) => {
      const d = new Float32Array(x.size);
      const w = sizes[i] * inner;
      const total = x.shape[ax] * inner;
      for (let r = 0; r < outer; r++) d.set(g.subarray(r * w, r * w + w), r * total + before * inner);
      return [d];
    });
  });
}
