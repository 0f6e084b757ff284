// Element-wise kernels: binary ops (row and column broadcast), axpby, unary activations and their
// backward, dropout and its backward.

import { BinaryOp, UnaryOp, dropoutHash } from '../kernels.js';
import type { Kernels } from '../kernels.js';
import { count, fail, need, op4 } from './checks.js';
import { gelu, geluGrad, geluTanh, geluTanhGrad } from './math.js';

export const elementwiseKernels: Pick<
  Kernels,
  'binary' | 'binaryCol' | 'axpby' | 'unary' | 'unaryBackward' | 'dropout' | 'dropoutBackward' | 'unaryDropout' | 'unaryDropoutBackward'
> = {
  binary(op, out, a, b, n, bn) {
    const k = 'binary';
    op4(k, op);
    count(k, 'n', n);
    count(k, 'bn', bn);
    if (n > 0 && (bn === 0 || n % bn !== 0)) fail(k, true, `bn (${bn}) must divide n (${n})`);
    if (n === 0) return;
    need(k, 'out', out.length, n);
    need(k, 'a', a.length, n);
    need(k, 'b', b.length, bn);
    for (let base = 0; base < n; base += bn) {
      switch (op) {
        case BinaryOp.Add:
          for (let j = 0; j < bn; j++) out[base + j] = a[base + j] + b[j];
          break;
        case BinaryOp.Sub:
          for (let j = 0; j < bn; j++) out[base + j] = a[base + j] - b[j];
          break;
        case BinaryOp.Mul:
          for (let j = 0; j < bn; j++) out[base + j] = a[base + j] * b[j];
          break;
        default:
          for (let j = 0; j < bn; j++) out[base + j] = a[base + j] / b[j];
          break;
      }
    }
  },

  binaryCol(op, out, a, b, rows, cols) {
    const k = 'binaryCol';
    op4(k, op);
    count(k, 'rows', rows);
    count(k, 'cols', cols);
    need(k, 'out', out.length, rows * cols);
    need(k, 'a', a.length, rows * cols);
    need(k, 'b', b.length, rows);
    for (let r = 0; r < rows; r++) {
      const s = b[r];
      const o = r * cols;
      switch (op) {
        case BinaryOp.Add:
          for (let j = o; j < o + cols; j++) out[j] = a[j] + s;
          break;
        case BinaryOp.Sub:
          for (let j = o; j < o + cols; j++) out[j] = a[j] - s;
          break;
        case BinaryOp.Mul:
          for (let j = o; j < o + cols; j++) out[j] = a[j] * s;
          break;
        default:
          for (let j = o; j < o + cols; j++) out[j] = a[j] / s;
          break;
      }
    }
  },

  axpby(out, alpha, a, beta) {
    const n = a.length;
    need('axpby', 'out', out.length, n);
    if (beta === 0) {
      for (let i = 0; i < n; i++) out[i] = alpha * a[i];
    } else {
      for (let i = 0; i < n; i++) out[i] = alpha * a[i] + beta * out[i];
    }
  },

  unary(op, out, x) {
    const k = 'unary';
    op4(k, op);
    const n = x.length;
    need(k, 'out', out.length, n);
    switch (op) {
      case UnaryOp.Gelu:
        for (let i = 0; i < n; i++) out[i] = gelu(x[i]);
        break;
      case UnaryOp.Relu:
        for (let i = 0; i < n; i++) {
          const v = x[i];
          out[i] = v > 0 || Number.isNaN(v) ? v : 0;
        }
        break;
      case UnaryOp.Tanh:
        for (let i = 0; i < n; i++) out[i] = Math.tanh(x[i]);
        break;
      default:
        for (let i = 0; i < n; i++) out[i] = geluTanh(x[i]);
        break;
    }
  },

  unaryBackward(op, dx, saved, dy) {
    const k = 'unaryBackward';
    op4(k, op);
    const n = dy.length;
    need(k, 'dx', dx.length, n);
    need(k, 'saved', saved.length, n);
    switch (op) {
      case UnaryOp.Gelu:
        for (let i = 0; i < n; i++) dx[i] = dy[i] * geluGrad(saved[i]);
        break;
      case UnaryOp.Relu:
        for (let i = 0; i < n; i++) dx[i] = saved[i] > 0 ? dy[i] : 0;
        break;
      case UnaryOp.Tanh:
        for (let i = 0; i < n; i++) {
          const y = saved[i];
          dx[i] = dy[i] * (1 - y * y);
        }
        break;
      default:
        for (let i = 0; i < n; i++) dx[i] = dy[i] * geluTanhGrad(saved[i]);
        break;
    }
  },

  // --------------------------------------------------------------------------------- dropout
  dropout(y, mask, x, p, seed) {
    const k = 'dropout';
    if (!Number.isInteger(seed)) fail(k, true, `seed must be an integer, got ${seed}`);
    const n = x.length;
    need(k, 'y', y.length, n);
    need(k, 'mask', mask.length, n);
    const s = seed >>> 0; // the hash works mod 2^32
    // x * fround(1/(1-p)) rounds exactly like the float32 product the native kernel computes
    const scale = Math.fround(1 / (1 - p));
    for (let i = 0; i < n; i++) {
      const keep = dropoutHash(s, i) >= p;
      y[i] = keep ? x[i] * scale : 0;
      mask[i] = keep ? 1 : 0;
    }
  },

  dropoutBackward(dx, dy, mask, p) {
    const k = 'dropoutBackward';
    const n = dy.length;
    need(k, 'dx', dx.length, n);
    need(k, 'mask', mask.length, n);
    const scale = Math.fround(1 / (1 - p));
    for (let i = 0; i < n; i++) dx[i] = mask[i] !== 0 ? dy[i] * scale : 0;
  },

  // The fused pair is, by definition, the two kernels one after the other (in place: both allow it).
  unaryDropout(op, y, mask, x, p, seed) {
    const k = 'unaryDropout';
    op4(k, op);
    if (!Number.isInteger(seed)) fail(k, true, `seed must be an integer, got ${seed}`);
    need(k, 'y', y.length, x.length);
    need(k, 'mask', mask.length, x.length);
    elementwiseKernels.unary(op, y, x);
    elementwiseKernels.dropout(y, mask, y, p, seed);
  },

  unaryDropoutBackward(op, dx, saved, dy, mask, p) {
    const k = 'unaryDropoutBackward';
    op4(k, op);
    need(k, 'dx', dx.length, dy.length);
    need(k, 'saved', saved.length, dy.length);
    need(k, 'mask', mask.length, dy.length);
    elementwiseKernels.dropoutBackward(dx, dy, mask, p);
    elementwiseKernels.unaryBackward(op, dx, saved, dx);
  },
};
