// The pure-TypeScript kernels: the fallback backend when the native addon is not built, and the
// oracle the native kernels are tested against. Correctness first: every kernel follows the
// contract in kernels.ts literally, computes in double precision (float64 accumulators for every
// reduction, float64 intermediates, one rounding to float32 on store) and validates its
// arguments the same way the native binding does (TypeError for an array too short for the
// shape, RangeError for a bad shape, leading dimension, op code or index).

import { BinaryOp, UnaryOp, dropoutHash } from './kernels.js';
import type { F32, I32, I8, Kernels } from './kernels.js';
import { BLOCK_BYTES_I8, KBLOCK_I8, NBLOCK_I8, quantizeRowI8 } from './int8.js';

// ------------------------------------------------------------------------------ validation
const MAX_DIM = 2147483647;
const MAX_OFFSET = 9007199254740992;

function fail(kernel: string, range: boolean, msg: string): never {
  const text = `pathwise.${kernel}: ${msg}`;
  throw range ? new RangeError(text) : new TypeError(text);
}

function count(kernel: string, name: string, v: number, max = MAX_OFFSET): void {
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max)) {
    fail(kernel, true, `${name} must be a non-negative integer (<= ${max}), got ${v}`);
  }
}

function need(kernel: string, name: string, len: number, n: number): void {
  if (n > len) fail(kernel, false, `${name} is too short for the shape: needs ${n} elements, has ${len}`);
}

function op4(kernel: string, op: number): void {
  count(kernel, 'op', op);
  if (op > 3) fail(kernel, true, `op must be 0..3, got ${op}`);
}

/** A rows x cols row-major matrix with row stride ld starting at element base. */
function matrix(kernel: string, name: string, len: number, rows: number, cols: number, ld: number, base: number): void {
  if (rows === 0 || cols === 0) return;
  if (rows > 1 && ld < cols) {
    fail(kernel, true, `leading dimension of ${name} (${ld}) is smaller than its row length (${cols})`);
  }
  need(kernel, name, len, base + (rows - 1) * ld + cols);
}

function checkGemmDims(kernel: string, M: number, N: number, K: number, lda: number, ldb: number, ldc: number): void {
  count(kernel, 'M', M, MAX_DIM);
  count(kernel, 'N', N, MAX_DIM);
  count(kernel, 'K', K, MAX_DIM);
  count(kernel, 'lda', lda, MAX_DIM);
  count(kernel, 'ldb', ldb, MAX_DIM);
  count(kernel, 'ldc', ldc, MAX_DIM);
}

function checkTargets(kernel: string, targets: I32, rows: number, cols: number, ignoreIndex: number): void {
  need(kernel, 'targets', targets.length, rows);
  for (let r = 0; r < rows; r++) {
    const t = targets[r];
    if (t !== ignoreIndex && (t < 0 || t >= cols)) {
      fail(kernel, true, `targets[${r}] = ${t} is out of range for ${cols} classes`);
    }
  }
}

function checkIndices(kernel: string, idx: I32, limit: number, what: string): void {
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i];
    if (v < 0 || v >= limit) fail(kernel, true, `idx[${i}] = ${v} is out of range for ${what} of ${limit} rows`);
  }
}

// ---------------------------------------------------------------------------------- scratch
let scratchA = new Float64Array(1024);
let scratchB = new Float64Array(1024);
function f64a(n: number): Float64Array {
  if (scratchA.length < n) scratchA = new Float64Array(Math.max(n, 2 * scratchA.length));
  return scratchA;
}
function f64b(n: number): Float64Array {
  if (scratchB.length < n) scratchB = new Float64Array(Math.max(n, 2 * scratchB.length));
  return scratchB;
}

// ------------------------------------------------------------------------------ math: erfc
// Complementary error function in double precision (error < 1 ulp): a port of FreeBSD msun
// s_erf.c. Original notice, preserved as its licence requires:
//   Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
//   Developed at SunPro, a Sun Microsystems, Inc. business.
//   Permission to use, copy, modify, and distribute this software is freely granted,
//   provided that this notice is preserved.

const ERX = 8.45062911510467529297e-1;
const PP0 = 1.28379167095512558561e-1,
  PP1 = -3.2504210724700149937e-1,
  PP2 = -2.84817495755985104766e-2;
const PP3 = -5.77027029648944159157e-3,
  PP4 = -2.37630166566501626084e-5;
const QQ1 = 3.97917223959155352819e-1,
  QQ2 = 6.50222499887672944485e-2,
  QQ3 = 5.08130628187576562776e-3;
const QQ4 = 1.32494738004321644526e-4,
  QQ5 = -3.9602282787753681232e-6;
const PA0 = -2.36211856075265944077e-3,
  PA1 = 4.14856118683748331666e-1,
  PA2 = -3.72207876035701323847e-1;
const PA3 = 3.18346619901161753674e-1,
  PA4 = -1.10894694282396677476e-1,
  PA5 = 3.54783043256182359371e-2;
const PA6 = -2.166375594868790843e-3;
const QA1 = 1.06420880400844228286e-1,
  QA2 = 5.40397917702171048937e-1,
  QA3 = 7.18286544141962662868e-2;
const QA4 = 1.26171219808761642112e-1,
  QA5 = 1.36370839120290507362e-2,
  QA6 = 1.1984499846799107417e-2;
const RA0 = -9.86494403484714822705e-3,
  RA1 = -6.93858572707181764372e-1,
  RA2 = -1.05586262253232909814e1;
const RA3 = -6.23753324503260060396e1,
  RA4 = -1.62396669462573470355e2,
  RA5 = -1.84605092906711035994e2;
const RA6 = -8.12874355063065934246e1,
  RA7 = -9.81432934416914548592;
const SA1 = 1.96512716674392571292e1,
  SA2 = 1.376577541435190426e2,
  SA3 = 4.34565877475229228821e2;
const SA4 = 6.45387271733267880336e2,
  SA5 = 4.29008140027567833386e2,
  SA6 = 1.08635005541779435134e2;
const SA7 = 6.57024977031928170135,
  SA8 = -6.04244152148580987438e-2;
const RB0 = -9.86494292470009928597e-3,
  RB1 = -7.99283237680523006574e-1,
  RB2 = -1.77579549177547519889e1;
const RB3 = -1.60636384855821916062e2,
  RB4 = -6.37566443368389627722e2,
  RB5 = -1.02509513161107724954e3;
const RB6 = -4.83519191608651397019e2;
const SB1 = 3.03380607434824582924e1,
  SB2 = 3.25792512996573918826e2,
  SB3 = 1.53672958608443695994e3;
const SB4 = 3.19985821950859553908e3,
  SB5 = 2.55305040643316442583e3,
  SB6 = 4.74528541206955367215e2;
const SB7 = -2.24409524465858183362e1;

const wordF64 = new Float64Array(1);
const wordU32 = new Uint32Array(wordF64.buffer);
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
const LO = 1 - HI;

function erfcTail(ix: number, x: number): number {
  const ax = Math.abs(x);
  if (ix < 0x3ff40000) {
    // 0.84375 <= |x| < 1.25
    const s = ax - 1;
    const p = PA0 + s * (PA1 + s * (PA2 + s * (PA3 + s * (PA4 + s * (PA5 + s * PA6)))));
    const q = 1 + s * (QA1 + s * (QA2 + s * (QA3 + s * (QA4 + s * (QA5 + s * QA6)))));
    return 1 - ERX - p / q;
  }
  const s = 1 / (ax * ax);
  let r: number;
  let q: number;
  if (ix < 0x4006db6d) {
    // |x| < 1/0.35
    r = RA0 + s * (RA1 + s * (RA2 + s * (RA3 + s * (RA4 + s * (RA5 + s * (RA6 + s * RA7))))));
    q = 1 + s * (SA1 + s * (SA2 + s * (SA3 + s * (SA4 + s * (SA5 + s * (SA6 + s * (SA7 + s * SA8)))))));
  } else {
    r = RB0 + s * (RB1 + s * (RB2 + s * (RB3 + s * (RB4 + s * (RB5 + s * RB6)))));
    q = 1 + s * (SB1 + s * (SB2 + s * (SB3 + s * (SB4 + s * (SB5 + s * (SB6 + s * SB7))))));
  }
  wordF64[0] = ax;
  wordU32[LO] = 0;
  const z = wordF64[0];
  return (Math.exp(-z * z - 0.5625) * Math.exp((z - ax) * (z + ax) + r / q)) / ax;
}

/** erfc(x) in double precision. */
export function erfc(x: number): number {
  wordF64[0] = x;
  const hx = wordU32[HI];
  const sign = hx >>> 31;
  const ix = hx & 0x7fffffff;
  if (ix >= 0x7ff00000) return 2 * sign + 1 / x; // NaN, +-Infinity
  if (ix < 0x3feb0000) {
    // |x| < 0.84375
    if (ix < 0x3c700000) return 1 - x;
    const z = x * x;
    const r = PP0 + z * (PP1 + z * (PP2 + z * (PP3 + z * PP4)));
    const s = 1 + z * (QQ1 + z * (QQ2 + z * (QQ3 + z * (QQ4 + z * QQ5))));
    const y = r / s;
    if (sign !== 0 || ix < 0x3fd00000) return 1 - (x + x * y);
    return 0.5 - (x - 0.5 + x * y);
  }
  if (ix < 0x403c0000) {
    // |x| < 28
    const t = erfcTail(ix, x);
    return sign !== 0 ? 2 - t : t;
  }
  return sign !== 0 ? 2 : 0;
}

/** erf(x) in double precision. */
export function erf(x: number): number {
  return Math.abs(x) < 0.84375 ? 1 - erfc(x) : x > 0 ? 1 - erfc(x) : erfc(-x) - 1;
}

/** Standard normal CDF, accurate in both tails. */
function normalCdf(x: number): number {
  return 0.5 * erfc(-x * Math.SQRT1_2);
}

const INV_SQRT_2PI = 0.3989422804014327;
const GELU_K0 = 0.7978845608028654; // sqrt(2/pi)
const GELU_K1 = 0.044715;

/** Exact GELU x * Phi(x) in double. */
export function gelu(x: number): number {
  return x * normalCdf(x);
}

function geluGrad(x: number): number {
  return normalCdf(x) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
}

// GELU with the tanh approximation, 0.5 x (1 + tanh u) with u = sqrt(2/pi) (x + 0.044715 x^3),
// evaluated as the identical x * sigmoid(2u), which does not cancel for negative x.
function geluTanh(x: number): number {
  const u = GELU_K0 * x * (1 + GELU_K1 * x * x);
  return x / (1 + Math.exp(-2 * u));
}

function geluTanhGrad(x: number): number {
  // d/dx x s(2u) = s + 2 x s (1 - s) u'
  const x2 = x * x;
  const e = Math.exp(-2 * GELU_K0 * x * (1 + GELU_K1 * x2));
  const s = 1 / (1 + e);
  const oms = e > 1 ? 1 - s : e * s;
  return s + 2 * x * s * oms * GELU_K0 * (1 + 3 * GELU_K1 * x2);
}

/** NaN ranks above everything, then larger values, then lower indices (argmax, topk). */
function ranksBefore(row: F32, off: number, a: number, b: number): boolean {
  const va = row[off + a];
  const vb = row[off + b];
  const na = Number.isNaN(va);
  const nb = Number.isNaN(vb);
  if (na !== nb) return na;
  if (!na && va !== vb) return va > vb;
  return a < b;
}

// ------------------------------------------------------------------------------------ GEMM
function gemmCore(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: F32,
  offA: number,
  lda: number,
  B: F32,
  offB: number,
  ldb: number,
  beta: number,
  C: F32,
  offC: number,
  ldc: number,
): void {
  if (M === 0 || N === 0) return;
  if (K === 0 || alpha === 0) {
    // C = beta * C; as in BLAS, alpha = 0 does not read A and B
    for (let i = 0; i < M; i++) {
      const c = offC + i * ldc;
      for (let j = 0; j < N; j++) C[c + j] = beta === 0 ? 0 : beta * C[c + j];
    }
    return;
  }
  const acc = f64a(N);
  for (let i = 0; i < M; i++) {
    if (!transB) {
      acc.fill(0, 0, N);
      for (let k = 0; k < K; k++) {
        const aik = transA ? A[offA + k * lda + i] : A[offA + i * lda + k];
        const b = offB + k * ldb;
        for (let j = 0; j < N; j++) acc[j] += aik * B[b + j];
      }
    } else {
      for (let j = 0; j < N; j++) {
        const b = offB + j * ldb;
        let s = 0;
        if (transA) {
          for (let k = 0; k < K; k++) s += A[offA + k * lda + i] * B[b + k];
        } else {
          const a = offA + i * lda;
          for (let k = 0; k < K; k++) s += A[a + k] * B[b + k];
        }
        acc[j] = s;
      }
    }
    const c = offC + i * ldc;
    if (beta === 0) {
      for (let j = 0; j < N; j++) C[c + j] = alpha * acc[j];
    } else {
      for (let j = 0; j < N; j++) C[c + j] = alpha * acc[j] + beta * C[c + j];
    }
  }
}

// ------------------------------------------------------------------------------------ int8
// biome-ignore lint/complexity/noBannedTypes: any typed-array constructor
function typed(kernel: string, name: string, a: unknown, ctor: Function, tname: string): void {
  if (!(a instanceof ctor)) fail(kernel, false, `${name} must be a ${tname}`);
}

/** Shape checks shared by gemmI8 and linearI8 (the native binding's, in the same order). */
function checkI8Gemm(kernel: string, M: number, N: number, Kp: number, A: I8, lda: number, Wp: I8): void {
  count(kernel, 'M', M, MAX_DIM);
  count(kernel, 'N', N, MAX_DIM);
  count(kernel, 'Kp', Kp, MAX_DIM);
  count(kernel, 'lda', lda, MAX_OFFSET);
  typed(kernel, 'A', A, Int8Array, 'Int8Array');
  typed(kernel, 'Wp', Wp, Int8Array, 'Int8Array');
  if (Kp % KBLOCK_I8 !== 0) fail(kernel, true, `Kp (${Kp}) must be a multiple of ${KBLOCK_I8}`);
  if (lda < Kp) fail(kernel, true, `lda (${lda}) must be at least Kp (${Kp})`);
  if (M > 0 && Kp > 0) need(kernel, 'A', A.length, (M - 1) * lda + Kp);
  if (N > 0 && Kp > 0) need(kernel, 'Wp', Wp.length, Math.ceil(N / NBLOCK_I8) * NBLOCK_I8 * Kp);
}

/**
 * The exact int32 products of gemmI8, one block of 16 output channels at a time:
 * sink(m, n, acc) for every m < M, n < N.
 */
function gemmI8Core(M: number, N: number, Kp: number, A: I8, lda: number, Wp: I8, sink: (m: number, n: number, acc: number) => void): void {
  const kbs = Kp / KBLOCK_I8;
  const w = new Int8Array(NBLOCK_I8 * Kp); // the block's 16 rows of W, unpacked
  for (let nb = 0; nb * NBLOCK_I8 < N; nb++) {
    for (let kb = 0; kb < kbs; kb++) {
      const blk = (nb * kbs + kb) * BLOCK_BYTES_I8;
      for (let g = 0; g < 16; g++)
        for (let j = 0; j < 16; j++) for (let t = 0; t < 4; t++) w[j * Kp + kb * KBLOCK_I8 + g * 4 + t] = Wp[blk + g * 64 + j * 4 + t];
    }
    const n0 = nb * NBLOCK_I8;
    const nn = Math.min(NBLOCK_I8, N - n0);
    for (let m = 0; m < M; m++) {
      const a = m * lda;
      for (let j = 0; j < nn; j++) {
        const wr = j * Kp;
        let s = 0; // |products| <= 128^2 and Kp < 2^31: the double sum is exact; |0 wraps as int32 does
        for (let k = 0; k < Kp; k++) s += A[a + k] * w[wr + k];
        sink(m, n0 + j, s | 0);
      }
    }
  }
}

/** f(x) of `unary` for one float32 x (before the store's rounding). */
function unaryOne(op: number, x: number): number {
  switch (op) {
    case UnaryOp.Gelu:
      return gelu(x);
    case UnaryOp.Relu:
      return x > 0 || Number.isNaN(x) ? x : 0;
    case UnaryOp.Tanh:
      return Math.tanh(x);
    default:
      return geluTanh(x);
  }
}

// --------------------------------------------------------------------------------- kernels
export const tsKernels: Kernels = {
  name: 'ts',

  gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) {
    const k = 'gemm';
    checkGemmDims(k, M, N, K, lda, ldb, ldc);
    if (M > 0 && N > 0 && K > 0) {
      matrix(k, 'A', A.length, transA ? K : M, transA ? M : K, lda, 0);
      matrix(k, 'B', B.length, transB ? N : K, transB ? K : N, ldb, 0);
    }
    matrix(k, 'C', C.length, M, N, ldc, 0);
    gemmCore(transA, transB, M, N, K, alpha, A, 0, lda, B, 0, ldb, beta, C, 0, ldc);
  },

  gemmBatched(transA, transB, M, N, K, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc, strideC, batch) {
    const k = 'gemmBatched';
    checkGemmDims(k, M, N, K, lda, ldb, ldc);
    count(k, 'strideA', strideA);
    count(k, 'strideB', strideB);
    count(k, 'strideC', strideC);
    count(k, 'batch', batch, MAX_DIM);
    if (batch > 0) {
      if (M > 0 && N > 0 && K > 0) {
        matrix(k, 'A', A.length, transA ? K : M, transA ? M : K, lda, (batch - 1) * strideA);
        matrix(k, 'B', B.length, transB ? N : K, transB ? K : N, ldb, (batch - 1) * strideB);
      }
      matrix(k, 'C', C.length, M, N, ldc, (batch - 1) * strideC);
    }
    for (let b = 0; b < batch; b++) {
      gemmCore(transA, transB, M, N, K, alpha, A, b * strideA, lda, B, b * strideB, ldb, beta, C, b * strideC, ldc);
    }
  },

  gemmGrouped(transA, transB, groups, alpha, A, lda, B, ldb, beta, C, ldc) {
    const k = 'gemmGrouped';
    count(k, 'lda', lda, MAX_DIM);
    count(k, 'ldb', ldb, MAX_DIM);
    count(k, 'ldc', ldc, MAX_DIM);
    if (groups.length % 6 !== 0) fail(k, true, `groups length (${groups.length}) must be a multiple of 6`);
    const ng = groups.length / 6;
    for (let g = 0; g < ng; g++) {
      const [M, N, K, oA, oB, oC] = groups.subarray(6 * g, 6 * g + 6);
      if (M < 0 || N < 0 || K < 0 || oA < 0 || oB < 0 || oC < 0) {
        fail(k, true, `group ${g} has a negative size or offset`);
      }
      if (M === 0 || N === 0) continue;
      if (K > 0) {
        matrix(k, 'A', A.length, transA ? K : M, transA ? M : K, lda, oA);
        matrix(k, 'B', B.length, transB ? N : K, transB ? K : N, ldb, oB);
      }
      matrix(k, 'C', C.length, M, N, ldc, oC);
    }
    for (let g = 0; g < ng; g++) {
      const o = 6 * g;
      gemmCore(transA, transB, groups[o], groups[o + 1], groups[o + 2], alpha, A, groups[o + 3], lda, B, groups[o + 4], ldb, beta, C, groups[o + 5], ldc);
    }
  },

  // ------------------------------------------------------------------------------ elementwise
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

  // -------------------------------------------------------------------------- layout & reduce
  sumAxis(out, a, outer, n, inner) {
    const k = 'sumAxis';
    count(k, 'outer', outer);
    count(k, 'n', n);
    count(k, 'inner', inner);
    need(k, 'a', a.length, outer * n * inner);
    need(k, 'out', out.length, outer * inner);
    const acc = f64a(inner);
    for (let o = 0; o < outer; o++) {
      acc.fill(0, 0, inner);
      const base = o * n * inner;
      for (let r = 0; r < n; r++) {
        const row = base + r * inner;
        for (let j = 0; j < inner; j++) acc[j] += a[row + j];
      }
      for (let j = 0; j < inner; j++) out[o * inner + j] = acc[j];
    }
  },

  expandAxis(out, a, outer, n, inner) {
    const k = 'expandAxis';
    count(k, 'outer', outer);
    count(k, 'n', n);
    count(k, 'inner', inner);
    need(k, 'a', a.length, outer * inner);
    need(k, 'out', out.length, outer * n * inner);
    for (let o = 0; o < outer; o++) {
      for (let r = 0; r < n; r++) {
        const dst = (o * n + r) * inner;
        for (let j = 0; j < inner; j++) out[dst + j] = a[o * inner + j];
      }
    }
  },

  transpose(out, a, outer, X, Y, inner) {
    const k = 'transpose';
    count(k, 'outer', outer);
    count(k, 'X', X);
    count(k, 'Y', Y);
    count(k, 'inner', inner);
    const total = outer * X * Y * inner;
    need(k, 'a', a.length, total);
    need(k, 'out', out.length, total);
    const plane = X * Y * inner;
    for (let o = 0; o < outer; o++) {
      const base = o * plane;
      for (let x = 0; x < X; x++) {
        for (let y = 0; y < Y; y++) {
          const s = base + (x * Y + y) * inner;
          const d = base + (y * X + x) * inner;
          for (let i = 0; i < inner; i++) out[d + i] = a[s + i];
        }
      }
    }
  },

  sumSquares(a) {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i] * a[i];
    return s;
  },

  // ------------------------------------------------------------------------------ layer norm
  layerNorm(y, mean, rstd, x, gamma, beta, rows, cols, eps) {
    const k = 'layerNorm';
    count(k, 'rows', rows);
    count(k, 'cols', cols);
    need(k, 'x', x.length, rows * cols);
    need(k, 'y', y.length, rows * cols);
    need(k, 'mean', mean.length, rows);
    need(k, 'rstd', rstd.length, rows);
    need(k, 'gamma', gamma.length, cols);
    need(k, 'beta', beta.length, cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let mu = 0;
      let v = 0;
      if (cols > 0) {
        for (let j = 0; j < cols; j++) mu += x[o + j];
        mu /= cols;
        for (let j = 0; j < cols; j++) {
          const d = x[o + j] - mu;
          v += d * d;
        }
        v /= cols;
      }
      const mf = Math.fround(mu);
      const rf = Math.fround(1 / Math.sqrt(v + eps));
      mean[r] = mf;
      rstd[r] = rf;
      for (let j = 0; j < cols; j++) y[o + j] = (x[o + j] - mf) * rf * gamma[j] + beta[j];
    }
  },

  layerNormBackward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, rows, cols) {
    const k = 'layerNormBackward';
    count(k, 'rows', rows);
    count(k, 'cols', cols);
    need(k, 'dx', dx.length, rows * cols);
    need(k, 'dy', dy.length, rows * cols);
    need(k, 'x', x.length, rows * cols);
    need(k, 'mean', mean.length, rows);
    need(k, 'rstd', rstd.length, rows);
    need(k, 'gamma', gamma.length, cols);
    need(k, 'dgamma', dgamma.length, cols);
    need(k, 'dbeta', dbeta.length, cols);
    const dg = f64a(cols);
    const db = f64b(cols);
    dg.fill(0, 0, cols);
    db.fill(0, 0, cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const m = mean[r];
      const rs = rstd[r];
      let sa = 0;
      let sb = 0;
      for (let j = 0; j < cols; j++) {
        const d = dy[o + j];
        const xh = (x[o + j] - m) * rs;
        const g = d * gamma[j];
        sa += g;
        sb += g * xh;
        dg[j] += d * xh;
        db[j] += d;
      }
      const a = sa / cols;
      const b = sb / cols;
      for (let j = 0; j < cols; j++) {
        const xh = (x[o + j] - m) * rs;
        const g = dy[o + j] * gamma[j];
        dx[o + j] = rs * (g - a - xh * b);
      }
    }
    for (let j = 0; j < cols; j++) {
      dgamma[j] += dg[j];
      dbeta[j] += db[j];
    }
  },

  // --------------------------------------------------------------------------------- softmax
  softmax(y, x, rows, cols, mask, maskRow, log) {
    const k = 'softmax';
    count(k, 'rows', rows);
    count(k, 'cols', cols);
    if ((mask === null) !== (maskRow === null)) fail(k, false, 'mask and maskRow must be both null or both given');
    need(k, 'x', x.length, rows * cols);
    need(k, 'y', y.length, rows * cols);
    if (mask !== null && maskRow !== null && cols > 0) {
      need(k, 'maskRow', maskRow.length, rows);
      const maskRows = Math.floor(mask.length / cols);
      for (let r = 0; r < rows; r++) {
        const m = maskRow[r];
        if (m < 0 || m >= maskRows) fail(k, true, `maskRow[${r}] = ${m} is out of range for a mask of ${maskRows} rows`);
      }
    }
    const z = f64a(cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      if (mask !== null && maskRow !== null) {
        const mo = maskRow[r] * cols;
        for (let j = 0; j < cols; j++) z[j] = Math.fround(x[o + j] + mask[mo + j]);
      } else {
        for (let j = 0; j < cols; j++) z[j] = x[o + j];
      }
      let m = -Infinity;
      let nan = false;
      for (let j = 0; j < cols; j++) {
        const v = z[j];
        if (v > m) m = v;
        else if (Number.isNaN(v)) nan = true;
      }
      if (nan) m = NaN;
      else if (m === -Infinity) {
        y.fill(log ? -Infinity : 0, o, o + cols); // fully masked row (log: log 0)
        continue;
      }
      let s = 0;
      if (!log) {
        for (let j = 0; j < cols; j++) {
          const e = Math.exp(z[j] - m);
          z[j] = e;
          s += e;
        }
        for (let j = 0; j < cols; j++) y[o + j] = z[j] / s;
      } else {
        for (let j = 0; j < cols; j++) s += Math.exp(z[j] - m);
        const ls = Math.log(s);
        for (let j = 0; j < cols; j++) y[o + j] = z[j] - m - ls;
      }
    }
  },

  softmaxBackward(dx, y, dy, rows, cols, log) {
    const k = 'softmaxBackward';
    count(k, 'rows', rows);
    count(k, 'cols', cols);
    need(k, 'dx', dx.length, rows * cols);
    need(k, 'y', y.length, rows * cols);
    need(k, 'dy', dy.length, rows * cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let s = 0;
      if (!log) {
        for (let j = o; j < o + cols; j++) s += dy[j] * y[j];
        for (let j = o; j < o + cols; j++) dx[j] = y[j] * (dy[j] - s);
      } else {
        for (let j = o; j < o + cols; j++) s += dy[j];
        for (let j = o; j < o + cols; j++) dx[j] = dy[j] - Math.exp(y[j]) * s;
      }
    }
  },

  // --------------------------------------------------------------------------- cross-entropy
  crossEntropy(lse, logits, targets, rows, cols, ignoreIndex, smoothing) {
    const k = 'crossEntropy';
    count(k, 'rows', rows);
    count(k, 'cols', cols);
    need(k, 'logits', logits.length, rows * cols);
    need(k, 'lse', lse.length, rows);
    checkTargets(k, targets, rows, cols, ignoreIndex);
    let total = 0;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let m = -Infinity;
      let nan = false;
      for (let j = o; j < o + cols; j++) {
        const v = logits[j];
        if (v > m) m = v;
        else if (Number.isNaN(v)) nan = true;
      }
      let l: number;
      if (nan) l = NaN;
      else if (m === -Infinity) l = -Infinity;
      else {
        let s = 0;
        for (let j = o; j < o + cols; j++) s += Math.exp(logits[j] - m);
        l = m + Math.log(s);
      }
      lse[r] = l;
      const t = targets[r];
      if (t === ignoreIndex) continue;
      let loss = (1 - smoothing) * (l - logits[o + t]);
      if (smoothing !== 0) {
        let sx = 0;
        for (let j = o; j < o + cols; j++) sx += logits[j];
        loss += smoothing * (l - sx / cols);
      }
      total += loss;
    }
    return total;
  },

  crossEntropyBackward(dlogits, logits, lse, targets, rows, cols, ignoreIndex, smoothing, scale) {
    const k = 'crossEntropyBackward';
    count(k, 'rows', rows);
    count(k, 'cols', cols);
    need(k, 'dlogits', dlogits.length, rows * cols);
    need(k, 'logits', logits.length, rows * cols);
    need(k, 'lse', lse.length, rows);
    checkTargets(k, targets, rows, cols, ignoreIndex);
    const off = cols > 0 ? smoothing / cols : 0;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const t = targets[r];
      if (t === ignoreIndex) {
        dlogits.fill(0, o, o + cols);
        continue;
      }
      const L = lse[r];
      for (let j = o; j < o + cols; j++) dlogits[j] = scale * (Math.exp(logits[j] - L) - off);
      dlogits[o + t] = scale * (Math.exp(logits[o + t] - L) - (1 - smoothing) - off);
    }
  },

  // ------------------------------------------------------------------------ gather / scatter
  gatherRows(out, src, idx, cols) {
    const k = 'gatherRows';
    count(k, 'cols', cols);
    need(k, 'out', out.length, idx.length * cols);
    if (cols === 0) return;
    checkIndices(k, idx, Math.floor(src.length / cols), 'src');
    for (let i = 0; i < idx.length; i++) {
      const s = idx[i] * cols;
      out.set(src.subarray(s, s + cols), i * cols);
    }
  },

  scatterAddRows(out, src, idx, cols) {
    const k = 'scatterAddRows';
    count(k, 'cols', cols);
    need(k, 'src', src.length, idx.length * cols);
    if (cols === 0) return;
    checkIndices(k, idx, Math.floor(out.length / cols), 'out');
    for (let i = 0; i < idx.length; i++) {
      const d = idx[i] * cols;
      const s = i * cols;
      for (let j = 0; j < cols; j++) out[d + j] += src[s + j];
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

  // ------------------------------------------------------------------------------- optimizer
  adamw(p, g, m, v, lr, beta1, beta2, eps, weightDecay, bc1, bc2) {
    const k = 'adamw';
    const n = p.length;
    need(k, 'g', g.length, n);
    need(k, 'm', m.length, n);
    need(k, 'v', v.length, n);
    const decay = 1 - lr * weightDecay;
    const step = lr / bc1;
    const sb2 = Math.sqrt(bc2);
    for (let i = 0; i < n; i++) {
      const gi = g[i];
      const mi = beta1 * m[i] + (1 - beta1) * gi;
      const vi = beta2 * v[i] + (1 - beta2) * gi * gi;
      p[i] = p[i] * decay - (step * mi) / (Math.sqrt(vi) / sb2 + eps);
      m[i] = mi;
      v[i] = vi;
    }
  },

  // ------------------------------------------------------------------------------- attention
  attentionInference(ctx, X, batch, T, H, Dh, keyMask, causal) {
    const k = 'attentionInference';
    typed(k, 'ctx', ctx, Float32Array, 'Float32Array');
    typed(k, 'X', X, Float32Array, 'Float32Array');
    count(k, 'batch', batch, MAX_DIM);
    count(k, 'T', T, MAX_DIM);
    count(k, 'H', H, MAX_DIM);
    count(k, 'Dh', Dh, MAX_DIM);
    if (keyMask !== null) typed(k, 'keyMask', keyMask, Float32Array, 'Float32Array or null');
    if (typeof causal !== 'boolean') fail(k, false, 'causal must be a boolean');
    if (batch < 1 || T < 1 || H < 1 || Dh < 1) fail(k, true, `batch, T, H and Dh must be positive, got ${batch}, ${T}, ${H}, ${Dh}`);
    const D = H * Dh;
    if (D > MAX_DIM / 3) fail(k, true, `H * Dh (${D}) is too large`);
    const D3 = 3 * D;
    need(k, 'X', X.length, batch * T * D3);
    need(k, 'ctx', ctx.length, batch * T * D);
    if (keyMask !== null) need(k, 'keyMask', keyMask.length, batch * T);
    // The contract's arithmetic (kernels.ts), step by step; fma(a, b, c) as fround(a * b + c).
    const fr = Math.fround;
    const scale = fr(1 / Math.sqrt(Dh));
    const J = new Int32Array(T);
    const x = f64a(T);
    const acc = f64b(Dh);
    for (let b = 0; b < batch; b++) {
      let n = 0;
      for (let j = 0; j < T; j++) if (keyMask === null || keyMask[b * T + j] !== -Infinity) J[n++] = j;
      const base = b * T * D3;
      for (let h = 0; h < H; h++) {
        let seen = 0;
        for (let i = 0; i < T; i++) {
          const o = (b * T + i) * D + h * Dh;
          let m = n;
          if (causal) {
            while (seen < n && J[seen] <= i) seen++;
            m = seen;
          }
          if (m === 0) {
            ctx.fill(0, o, o + Dh);
            continue;
          }
          const q = base + i * D3 + h * Dh;
          let mx = -Infinity;
          let nan = false;
          for (let c = 0; c < m; c++) {
            const kj = base + J[c] * D3 + D + h * Dh;
            let dot = 0;
            for (let d = 0; d < Dh; d++) dot = fr(X[q + d] * X[kj + d] + dot);
            let v = fr(dot * scale);
            if (keyMask !== null) v = fr(v + keyMask[b * T + J[c]]);
            x[c] = v;
            if (v > mx) mx = v;
            else if (Number.isNaN(v)) nan = true;
          }
          if (mx === -Infinity) {
            ctx.fill(nan ? NaN : 0, o, o + Dh);
            continue;
          }
          let s = 0;
          for (let c = 0; c < m; c++) {
            const z = fr(x[c] - mx);
            const e = z < -86.5 ? 0 : fr(Math.exp(z));
            x[c] = e;
            s += e;
          }
          const inv = fr(1 / s);
          acc.fill(0);
          for (let c = 0; c < m; c++) {
            const p = fr(x[c] * inv);
            const vj = base + J[c] * D3 + 2 * D + h * Dh;
            for (let d = 0; d < Dh; d++) acc[d] = fr(p * X[vj + d] + acc[d]);
          }
          for (let d = 0; d < Dh; d++) ctx[o + d] = acc[d];
        }
      }
    }
  },

  // ------------------------------------------------------------------------------------ int8
  quantizeRowsI8(q, scale, x, rows, cols, ldq) {
    const k = 'quantizeRowsI8';
    typed(k, 'q', q, Int8Array, 'Int8Array');
    count(k, 'rows', rows);
    count(k, 'cols', cols);
    count(k, 'ldq', ldq);
    if (ldq < cols) fail(k, true, `ldq (${ldq}) must be at least cols (${cols})`);
    need(k, 'x', x.length, rows * cols);
    need(k, 'scale', scale.length, rows);
    need(k, 'q', q.length, rows * ldq);
    for (let r = 0; r < rows; r++) {
      scale[r] = quantizeRowI8(q, r * ldq, x, r * cols, cols);
      q.fill(0, r * ldq + cols, (r + 1) * ldq);
    }
  },

  gemmI8(M, N, Kp, A, lda, Wp, acc) {
    const k = 'gemmI8';
    checkI8Gemm(k, M, N, Kp, A, lda, Wp);
    typed(k, 'acc', acc, Int32Array, 'Int32Array');
    need(k, 'acc', acc.length, M * N);
    gemmI8Core(M, N, Kp, A, lda, Wp, (m, n, s) => {
      acc[m * N + n] = s;
    });
  },

  linearI8(M, N, Kp, A, lda, sa, Wp, sw, bias, out, act) {
    const k = 'linearI8';
    checkI8Gemm(k, M, N, Kp, A, lda, Wp);
    if (!(act === -1 || act === 0 || act === 1 || act === 2 || act === 3)) fail(k, true, `act must be -1 (none) or a UnaryOp code 0..3, got ${act}`);
    need(k, 'sa', sa.length, M);
    need(k, 'sw', sw.length, N);
    if (bias !== null) need(k, 'bias', bias.length, N);
    need(k, 'out', out.length, M * N);
    const fr = Math.fround;
    gemmI8Core(M, N, Kp, A, lda, Wp, (m, n, s) => {
      let y = fr(fr(s) * fr(sa[m] * sw[n]));
      if (bias !== null) y = fr(y + bias[n]);
      out[m * N + n] = act < 0 ? y : unaryOne(act, y);
    });
  },

  linearI8Requant(M, N, Kp, A, lda, sa, Wp, sw, bias, act, q, qscale, ldq) {
    const k = 'linearI8Requant';
    if (ldq < N) fail(k, true, `ldq (${ldq}) must be at least N (${N})`);
    need(k, 'q', q.length, M * ldq);
    need(k, 'qscale', qscale.length, M);
    const y = new Float32Array(M * N);
    this.linearI8(M, N, Kp, A, lda, sa, Wp, sw, bias, y, act);
    this.quantizeRowsI8(q, qscale, y, M, N, ldq);
  },

  // ------------------------------------------------------------------------- no-grad helpers
  argmax(out, x, rows, cols) {
    const k = 'argmax';
    count(k, 'rows', rows);
    count(k, 'cols', cols);
    if (rows > 0 && cols === 0) fail(k, true, 'cols must be positive');
    need(k, 'x', x.length, rows * cols);
    need(k, 'out', out.length, rows);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let best = 0;
      let bv = x[o];
      for (let j = 1; j < cols; j++) {
        const v = x[o + j];
        if (v > bv || (Number.isNaN(v) && !Number.isNaN(bv))) {
          bv = v;
          best = j;
        }
      }
      out[r] = best;
    }
  },

  topk(values, indices, x, rows, cols, k) {
    const name = 'topk';
    count(name, 'rows', rows);
    count(name, 'cols', cols, MAX_DIM);
    count(name, 'k', k, MAX_DIM);
    if (k > cols) fail(name, true, `k (${k}) exceeds cols (${cols})`);
    need(name, 'x', x.length, rows * cols);
    need(name, 'values', values.length, rows * k);
    need(name, 'indices', indices.length, rows * k);
    if (k === 0) return;
    const buf = new Int32Array(k <= 64 ? k : cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      if (k <= 64) {
        // bounded insertion: buf[0..c) holds the best so far, in rank order
        let c = 0;
        for (let j = 0; j < cols; j++) {
          if (c === k && !ranksBefore(x, o, j, buf[k - 1])) continue;
          let pos = c < k ? c++ : k - 1;
          while (pos > 0 && ranksBefore(x, o, j, buf[pos - 1])) {
            buf[pos] = buf[pos - 1];
            pos--;
          }
          buf[pos] = j;
        }
      } else {
        for (let j = 0; j < cols; j++) buf[j] = j;
        buf.sort((a, b) => (ranksBefore(x, o, a, b) ? -1 : ranksBefore(x, o, b, a) ? 1 : 0));
      }
      for (let i = 0; i < k; i++) {
        values[r * k + i] = x[o + buf[i]];
        indices[r * k + i] = buf[i];
      }
    }
  },
};
