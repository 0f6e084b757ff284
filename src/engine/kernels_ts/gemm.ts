// GEMM: gemm, gemmBatched and gemmGrouped over one core, row by row with float64 accumulators.

import type { F32, Kernels } from '../kernels.js';
import { MAX_DIM, checkGemmDims, count, fail, matrix } from './checks.js';
import { f64a } from './scratch.js';

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

export const gemmKernels: Pick<Kernels, 'gemm' | 'gemmBatched' | 'gemmGrouped'> = {
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
};
