// The int8 kernels: quantizing rows, the int8 GEMM over packed weights, and the int8 linear layer
// (dequantize, bias, activation; optionally requantized). The layout is in ../int8.ts.

import type { I8, Kernels } from '../kernels.js';
import { BLOCK_BYTES_I8, KBLOCK_I8, NBLOCK_I8, quantizeRowI8 } from '../int8.js';
import { MAX_DIM, MAX_OFFSET, count, fail, need, typed } from './checks.js';
import { unaryOne } from './math.js';

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

export const int8Kernels: Pick<Kernels, 'quantizeRowsI8' | 'gemmI8' | 'linearI8' | 'linearI8Requant'> = {
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
};
