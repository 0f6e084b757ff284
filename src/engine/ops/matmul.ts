// Matrix products: matmul (2-D, or N-D rows times a 2-D matrix), bmm (batched), and linear
// (x W^T + b, PyTorch's weight layout, so Hugging Face checkpoints load without transposes).
//
// Backward, for C = A' B' with A' = op(A), B' = op(B):  dA' = dC B'^T,  dB' = A'^T dC,
// then transposed back when the operand was stored transposed. Every product is one GEMM call.

import { K } from '../backend.js';
import { needsGrad, record } from '../autograd.js';
import { emptyF32, release } from '../storage.js';
import { Tensor, shapeStr } from '../tensor.js';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/** Writes dA for C = op(A) op(B) (one matrix). */
function gradA(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  Kd: number,
  dC: Float32Array,
  B: Float32Array,
  dA: Float32Array,
  batch = 1,
  sB = 0,
  sC = 0,
  sA = 0,
): void {
  const ldb = transB ? Kd : N;
  if (!transA) K.gemmBatched(false, !transB, M, Kd, N, 1, dC, N, sC, B, ldb, sB, 0, dA, Kd, sA, batch);
  else K.gemmBatched(transB, true, Kd, M, N, 1, B, ldb, sB, dC, N, sC, 0, dA, M, sA, batch);
}

/** Writes dB for C = op(A) op(B). */
function gradB(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  Kd: number,
  dC: Float32Array,
  A: Float32Array,
  dB: Float32Array,
  batch = 1,
  sA = 0,
  sC = 0,
  sB = 0,
): void {
  const lda = transA ? M : Kd;
  if (!transB) K.gemmBatched(!transA, false, Kd, N, M, 1, A, lda, sA, dC, N, sC, 0, dB, N, sB, batch);
  else K.gemmBatched(true, transA, N, Kd, M, 1, dC, N, sC, A, lda, sA, 0, dB, Kd, sB, batch);
}

/**
 * op(a) · op(b). b is 2-D. a is 2-D, or N-D with leading axes flattened into rows (then a may
 * not be transposed).
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = !!opts.transA;
  const transB = !!opts.transB;
  if (b.ndim !== 2) throw new RangeError(`matmul: b must be 2-D, got ${shapeStr(b.shape)}`);
  if (a.ndim < 2 || (transA && a.ndim !== 2)) {
    throw new RangeError(`matmul: a must be 2-D (or N-D untransposed), got ${shapeStr(a.shape)}`);
  }
  const Kd = transA ? a.shape[0] : a.cols;
  const M = transA ? a.shape[1] : a.rows;
  const [bk, N] = transB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (bk !== Kd) {
    throw new RangeError(`matmul: inner sizes differ: a ${shapeStr(a.shape)}${transA ? 'ᵀ' : ''} · b ${shapeStr(b.shape)}${transB ? 'ᵀ' : ''}`);
  }
  const A = a.f32;
  const B = b.f32;
  const C = emptyF32(M * N);
  K.gemm(transA, transB, M, N, Kd, 1, A, transA ? M : Kd, B, transB ? Kd : N, 0, C, N);
  const outShape = transA ? [M, N] : [...a.shape.slice(0, -1), N];
  const out = new Tensor(C, outShape);
  if (!needsGrad(a, b)) return out;
  return record(out, 'matmul', [a, b], (g) => {
    let dA: Float32Array | null = null;
    let dB: Float32Array | null = null;
    if (a.requiresGrad) gradA(transA, transB, M, N, Kd, g, B, (dA = emptyF32(A.length)));
    if (b.requiresGrad) gradB(transA, transB, M, N, Kd, g, A, (dB = emptyF32(B.length)));
    return [dA, dB];
  });
}

/**
 * Batched op(a) · op(b) over all leading axes: a [..., M, K], b [..., K, N] (trans flags apply
 * to the last two axes). The leading axes must match, or b may be 2-D (shared by every batch).
 */
export function bmm(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = !!opts.transA;
  const transB = !!opts.transB;
  if (a.ndim < 3) throw new RangeError(`bmm: a must have a batch axis, got ${shapeStr(a.shape)}`);
  const lead = a.shape.slice(0, -2);
  const shared = b.ndim === 2;
  if (!shared && (b.ndim !== a.ndim || b.shape.slice(0, -2).some((d, i) => d !== lead[i]))) {
    throw new RangeError(`bmm: batch axes differ: a ${shapeStr(a.shape)}, b ${shapeStr(b.shape)}`);
  }
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [M, Kd] = transA ? [ac, ar] : [ar, ac];
  const [bk, N] = transB ? [bc, br] : [br, bc];
  if (bk !== Kd) throw new RangeError(`bmm: inner sizes differ: a ${shapeStr(a.shape)}, b ${shapeStr(b.shape)}`);
  const batch = lead.reduce((x, y) => x * y, 1);
  const sA = M * Kd;
  const sB = shared ? 0 : Kd * N;
  const sC = M * N;
  const A = a.f32;
  const B = b.f32;
  const C = emptyF32(batch * sC);
  K.gemmBatched(transA, transB, M, N, Kd, 1, A, transA ? M : Kd, sA, B, transB ? Kd : N, sB, 0, C, N, sC, batch);
  const out = new Tensor(C, [...lead, M, N]);
  if (!needsGrad(a, b)) return out;
  return record(out, 'bmm', [a, b], (g) => {
    let dA: Float32Array | null = null;
    let dB: Float32Array | null = null;
    if (a.requiresGrad) gradA(transA, transB, M, N, Kd, g, B, (dA = emptyF32(A.length)), batch, sB, sC, sA);
    if (b.requiresGrad) {
      if (shared) {
        // A weight shared by every batch: its gradient is the sum over batches, which is one
        // GEMM over the flattened batch when a is not transposed.
        dB = emptyF32(B.length);
        if (!transA) gradB(false, transB, batch * M, N, Kd, g, A, dB);
        else {
          dB.fill(0);
          const tmp = emptyF32(B.length);
          for (let i = 0; i < batch; i++) {
            gradB(true, transB, M, N, Kd, g.subarray(i * sC), A.subarray(i * sA), tmp);
            K.axpby(dB, 1, tmp, 1);
          }
        }
      } else gradB(transA, transB, M, N, Kd, g, A, (dB = emptyF32(B.length)), batch, sA, sC, sB);
    }
    return [dA, dB];
  });
}

/** [out, in] of a linear layer's weight, once x, w and b are checked to fit; `op` names the op in errors. */
function linearShape(op: string, x: Tensor, w: Tensor, b: Tensor | null): [number, number] {
  if (w.ndim !== 2) throw new RangeError(`${op}: weight must be 2-D [out, in], got ${shapeStr(w.shape)}`);
  const [O, I] = w.shape;
  if (x.cols !== I) throw new RangeError(`${op}: input ${shapeStr(x.shape)} does not end in ${I} (weight ${shapeStr(w.shape)})`);
  if (b && (b.ndim !== 1 || b.size !== O)) throw new RangeError(`${op}: bias must be [${O}], got ${shapeStr(b.shape)}`);
  return [O, I];
}

/** x Wᵀ + b as a new [rows, O] array. */
function affine(x: Tensor, w: Tensor, b: Tensor | null, O: number, I: number): Float32Array {
  const R = x.rows;
  const Y = emptyF32(R * O);
  // The bias is broadcast into Y first so that the GEMM adds onto it (beta = 1): no extra pass.
  if (b) K.expandAxis(Y, b.f32, 1, R, O);
  K.gemm(false, true, R, O, I, 1, x.f32, I, w.f32, I, b ? 1 : 0, Y, O);
  return Y;
}

/** y = x Wᵀ + b with W [out, in] and b [out] (optional); x is [..., in]. */
export function linear(x: Tensor, w: Tensor, b: Tensor | null = null): Tensor {
  const [O, I] = linearShape('linear', x, w, b);
  const R = x.rows;
  const X = x.f32;
  const W = w.f32;
  const Y = affine(x, w, b, O, I);
  const out = new Tensor(Y, [...x.shape.slice(0, -1), O]);
  if (!needsGrad(x, w, b)) return out;
  const inputs = b ? [x, w, b] : [x, w];
  return record(out, 'linear', inputs, (g) => {
    let dX: Float32Array | null = null;
    let dW: Float32Array | null = null;
    let dB: Float32Array | null = null;
    if (x.requiresGrad) K.gemm(false, false, R, I, O, 1, g, O, W, I, 0, (dX = emptyF32(X.length)), I);
    if (w.requiresGrad) K.gemm(true, false, O, I, R, 1, g, O, X, I, 0, (dW = emptyF32(W.length)), I);
    if (b?.requiresGrad) K.sumAxis((dB = emptyF32(O)), g, 1, R, O);
    return b ? [dX, dW, dB] : [dX, dW];
  });
}

/**
 * x Wᵀ + b + (x Aᵀ) Bᵀ, A [r, in], B [out, r]: a projection with a low-rank update (LoRA), the
 * update's product accumulated into the output by the GEMM (beta = 1) and its input gradient into
 * x's, where `add(linear(x, w, b), linear(linear(x, a), bm))` makes two more full-size passes and
 * a second gradient for x to sum. Same products in the same order: with OpenBLAS's GEMM, which
 * adds its product to C at the end, the same floats as that composition (the TypeScript twin
 * accumulates term by term, within rounding). A 9,600-step sense search over frozen blocks took 2,201 s with
 * the composition and 1,478 s with this op (seed 1; the rate differed: docs/continual_probes.md).
 */
export function linearLowRank(x: Tensor, w: Tensor, b: Tensor | null, a: Tensor, bm: Tensor): Tensor {
  const [O, I] = linearShape('linearLowRank', x, w, b);
  if (a.ndim !== 2 || a.shape[1] !== I) throw new RangeError(`linearLowRank: A must be [rank, ${I}], got ${shapeStr(a.shape)}`);
  const r = a.shape[0];
  if (bm.ndim !== 2 || bm.shape[0] !== O || bm.shape[1] !== r) throw new RangeError(`linearLowRank: B must be [${O}, ${r}], got ${shapeStr(bm.shape)}`);
  const R = x.rows;
  const X = x.f32;
  const W = w.f32;
  const A = a.f32;
  const Bm = bm.f32;
  const Y = affine(x, w, b, O, I);
  const H = emptyF32(R * r);
  K.gemm(false, true, R, r, I, 1, X, I, A, I, 0, H, r);
  K.gemm(false, true, R, O, r, 1, H, r, Bm, r, 1, Y, O);
  const out = new Tensor(Y, [...x.shape.slice(0, -1), O]);
  if (!needsGrad(x, w, b, a, bm)) return out;
  const inputs = b ? [x, w, a, bm, b] : [x, w, a, bm];
  return record(out, 'linearLowRank', inputs, (g) => {
    let dX: Float32Array | null = null;
    let dW: Float32Array | null = null;
    let dA: Float32Array | null = null;
    let dBm: Float32Array | null = null;
    let dB: Float32Array | null = null;
    if (x.requiresGrad || a.requiresGrad) {
      // dH = g B, the update's gradient at its rank-r bottleneck.
      const dH = emptyF32(R * r);
      K.gemm(false, false, R, r, O, 1, g, O, Bm, r, 0, dH, r);
      if (x.requiresGrad) {
        K.gemm(false, false, R, I, O, 1, g, O, W, I, 0, (dX = emptyF32(X.length)), I);
        K.gemm(false, false, R, I, r, 1, dH, r, A, I, 1, dX, I);
      }
      if (a.requiresGrad) K.gemm(true, false, r, I, R, 1, dH, r, X, I, 0, (dA = emptyF32(A.length)), I);
      release(dH);
    }
    if (bm.requiresGrad) K.gemm(true, false, O, r, R, 1, g, O, H, r, 0, (dBm = emptyF32(Bm.length)), r);
    if (w.requiresGrad) K.gemm(true, false, O, I, R, 1, g, O, X, I, 0, (dW = emptyF32(W.length)), I);
    if (b?.requiresGrad) K.sumAxis((dB = emptyF32(O)), g, 1, R, O);
    return b ? [dX, dW, dA, dBm, dB] : [dX, dW, dA, dBm];
  });
}
