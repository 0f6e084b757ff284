// add / sub / mul / div with NumPy broadcasting, and scale.
//
// Fast paths go straight to one kernel: same shape, b repeating as a suffix (a bias or a row),
// b a scalar, and b a column ([..., 1] against [..., C]). Anything else is rare in models and
// takes the general path: both operands are materialised at the output shape first. Gradients of
// a broadcast operand are summed back to its shape (`sumToShape`).

import { K } from '../backend.js';
import { needsGrad, record } from '../autograd.js';
import { BinaryOp } from '../kernels.js';
import { emptyF32 } from '../storage.js';
import { Tensor, numel, shapeStr, type Shape } from '../tensor.js';

export function broadcastShapes(a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new RangeError(`shapes ${shapeStr(a)} and ${shapeStr(b)} do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Copies `src` (shape `from`, broadcastable) to a new array of shape `to`. */
export function expandTo(src: Float32Array, from: Shape, to: Shape): Float32Array {
  const n = to.length;
  const fromP = [...Array(n - from.length).fill(1), ...from];
  // Strides of src in the output's index space (0 on broadcast axes).
  const strides = new Array<number>(n).fill(0);
  let s = 1;
  for (let i = n - 1; i >= 0; i--) {
    strides[i] = fromP[i] === 1 ? 0 : s;
    s *= fromP[i];
  }
  const total = numel(to);
  const out = emptyF32(total);
  if (total === 0) return out;
  const idx = new Array<number>(n).fill(0);
  const last = to[n - 1] ?? 1;
  const lastStride = strides[n - 1] ?? 0;
  for (let o = 0; o < total; o += last) {
    let off = 0;
    for (let i = 0; i < n - 1; i++) off += idx[i] * strides[i];
    if (lastStride === 0) out.fill(src[off], o, o + last);
    else out.set(src.subarray(off, off + last), o);
    for (let i = n - 2; i >= 0; i--) {
      if (++idx[i] < to[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

/** Sums a gradient of shape `from` down to the broadcast operand's shape `to`. */
export function sumToShape(g: Float32Array, from: Shape, to: Shape): Float32Array {
  if (numel(to) === g.length) return g;
  const n = from.length;
  const toP = [...Array(n - to.length).fill(1), ...to];
  let cur = g;
  const curShape = [...from];
  // Reduce one axis at a time, from the first; each reduction is one sumAxis kernel call.
  for (let ax = 0; ax < n; ax++) {
    if (toP[ax] !== 1 || curShape[ax] === 1) continue;
    const outer = numel(curShape.slice(0, ax));
    const inner = numel(curShape.slice(ax + 1));
    const next = emptyF32(outer * inner);
    K.sumAxis(next, cur, outer, curShape[ax], inner);
    cur = next;
    curShape[ax] = 1;
  }
  return cur;
}

type Layout =
  | { kind: 'row'; bn: number } // b repeats every bn elements (same shape, bias, scalar)
  | { kind: 'col'; rows: number; cols: number } // b is [..., 1] against a [..., C]
  | { kind: 'general' };

function layoutOf(a: Shape, b: Shape, out: Shape): Layout {
  if (numel(a) !== numel(out)) return { kind: 'general' };
  // Strip b's leading 1s; if what remains is a suffix of out, b repeats as a row.
  let i = 0;
  while (i < b.length && b[i] === 1) i++;
  const core = b.slice(i);
  const suffix = out.slice(out.length - core.length);
  if (core.every((d, j) => d === suffix[j])) return { kind: 'row', bn: numel(core) };
  // A column: b equals out except its last axis is 1.
  const bp = [...Array(out.length - b.length).fill(1), ...b];
  if (bp[bp.length - 1] === 1 && bp.slice(0, -1).every((d, j) => d === out[j])) {
    const cols = out[out.length - 1];
    return { kind: 'col', rows: numel(out) / cols, cols };
  }
  return { kind: 'general' };
}

/** out = a op b, elementwise over the broadcast shape (no autograd). */
function forward(op: BinaryOp, a: Tensor, b: Tensor, outShape: Shape): Float32Array {
  const n = numel(outShape);
  const out = emptyF32(n);
  if (n === 0) return out;
  const lay = layoutOf(a.shape, b.shape, outShape);
  if (lay.kind === 'row') K.binary(op, out, a.f32, b.f32, n, lay.bn);
  else if (lay.kind === 'col') K.binaryCol(op, out, a.f32, b.f32, lay.rows, lay.cols);
  else {
    const A = numel(a.shape) === n ? a.f32 : expandTo(a.f32, a.shape, outShape);
    const B = numel(b.shape) === n ? b.f32 : expandTo(b.f32, b.shape, outShape);
    K.binary(op, out, A, B, n, n);
  }
  return out;
}

/** Elementwise product of g with operand t broadcast to the output shape. */
function mulBroadcast(g: Float32Array, t: Tensor, outShape: Shape): Float32Array {
  return forward(BinaryOp.Mul, new Tensor(g, outShape), t, outShape);
}

function binaryOp(op: BinaryOp, name: string, a: Tensor, b: Tensor): Tensor {
  const outShape = broadcastShapes(a.shape, b.shape);
  const out = new Tensor(forward(op, a, b, outShape), outShape);
  if (!needsGrad(a, b)) return out;
  return record(out, name, [a, b], (g) => {
    let ga: Float32Array | null = null;
    let gb: Float32Array | null = null;
    const wantA = a.requiresGrad;
    const wantB = b.requiresGrad;
    switch (op) {
      case BinaryOp.Add:
        if (wantA) ga = sumToShape(g, outShape, a.shape);
        if (wantB) gb = sumToShape(g, outShape, b.shape);
        break;
      case BinaryOp.Sub:
        if (wantA) ga = sumToShape(g, outShape, a.shape);
        if (wantB) {
          const neg = emptyF32(g.length);
          K.axpby(neg, -1, g, 0);
          gb = sumToShape(neg, outShape, b.shape);
        }
        break;
      case BinaryOp.Mul:
        if (wantA) ga = sumToShape(mulBroadcast(g, b, outShape), outShape, a.shape);
        if (wantB) gb = sumToShape(mulBroadcast(g, a, outShape), outShape, b.shape);
        break;
      case BinaryOp.Div: {
        // d(a/b)/da = 1/b;  d(a/b)/db = -a/b^2 = -(out/b)
        const gOverB = forward(BinaryOp.Div, new Tensor(g, outShape), b, outShape);
        if (wantA) ga = sumToShape(gOverB, outShape, a.shape);
        if (wantB) {
          const t = forward(BinaryOp.Mul, new Tensor(gOverB, outShape), out.detach(), outShape);
          K.axpby(t, -1, t, 0);
          gb = sumToShape(t, outShape, b.shape);
        }
        break;
      }
    }
    return [ga, gb];
  });
}

export function add(a: Tensor, b: Tensor): Tensor {
  return binaryOp(BinaryOp.Add, 'add', a, b);
}
export function sub(a: Tensor, b: Tensor): Tensor {
  return binaryOp(BinaryOp.Sub, 'sub', a, b);
}
export function mul(a: Tensor, b: Tensor): Tensor {
  return binaryOp(BinaryOp.Mul, 'mul', a, b);
}
export function div(a: Tensor, b: Tensor): Tensor {
  return binaryOp(BinaryOp.Div, 'div', a, b);
}

/** a * s for a number s. */
export function scale(a: Tensor, s: number): Tensor {
  const out = emptyF32(a.size);
  K.axpby(out, s, a.f32, 0);
  const t = new Tensor(out, a.shape);
  if (!needsGrad(a)) return t;
  return record(t, 'scale', [a], (g) => {
    const d = emptyF32(g.length);
    K.axpby(d, s, g, 0);
    return [d];
  });
}
