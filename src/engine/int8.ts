// The int8 inference arithmetic shared by both backends: symmetric per-row quantization (weights
// once at model load, activations per call through the quantizeRowsI8 kernel, with the same
// rule), and the packed weight layout ("I8P") that the gemmI8 / linearI8 kernels read
// (kernels.ts). None of this is a kernel: it runs once per weight, in TypeScript, for both
// backends.
//
// Quantization of one row x[0..cols) (weights: a row is an output channel; activations: a row
// is a token), all in float32 arithmetic (every step rounded with Math.fround):
//   absmax = max_j |x[j]|
//   absmax == 0, or 127/absmax overflows (absmax < ~3.7e-37): scale = 0, q = 0
//   otherwise: scale = fround(absmax / 127), inv = fround(127 / absmax),
//              q[j] = clamp(roundHalfEven(fround(x[j] * inv)), -127, 127)
// so q[j] * scale ~ x[j] and q never holds -128 (the int8 kernels require A and W in [-127, 127]).
// A row holding NaN or ±Infinity has no quantization: quantizeWeightsI8 throws, the
// quantizeRowsI8 kernel writes scale NaN and q = 0 (so the row's outputs are NaN).
//
// Packed layout, for W [N, K] int8 row-major (N output channels × K inputs):
//   Np = ceil(N/16)*16, Kp = ceil(K/64)*64; Np*Kp bytes in blocks of 1024 bytes;
//   block (nb, kb), nb < Np/16, kb < Kp/64, starts at byte (nb*(Kp/64) + kb) * 1024;
//   byte g*64 + j*4 + t of a block (g, j < 16, t < 4) holds W[nb*16 + j, kb*64 + g*4 + t],
//   0 where the row or column is out of range.
// A block is an AMX B tile (16 rows of 64 bytes: 16 groups of 4 k, each as 16 columns × 4 k), and
// each of its 64-byte rows is one AVX-512 VNNI operand (16 output columns × 4 consecutive k).

/** K is padded to a multiple of this (one block's depth). */
export const KBLOCK_I8 = 64;
/** N is padded to a multiple of this (one block's width: output channels per block). */
export const NBLOCK_I8 = 16;
/** Bytes per packed block (KBLOCK_I8 * NBLOCK_I8). */
export const BLOCK_BYTES_I8 = 1024;
/** Largest quantized magnitude: values are in [-127, 127]. */
export const QMAX_I8 = 127;

/** K rounded up to a multiple of 64 (the Kp of the kernels). */
export function padKI8(K: number): number {
  return Math.ceil(K / KBLOCK_I8) * KBLOCK_I8;
}

/** N rounded up to a multiple of 16. */
export function padNI8(N: number): number {
  return Math.ceil(N / NBLOCK_I8) * NBLOCK_I8;
}

/** Length in bytes of the packed form of an [N, K] weight: padNI8(N) * padKI8(K). */
export function packedLengthI8(N: number, K: number): number {
  return padNI8(N) * padKI8(K);
}

function checkShape(fn: string, len: number, N: number, K: number): void {
  for (const [name, v] of [
    ['N', N],
    ['K', K],
  ] as const) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`${fn}: ${name} must be a non-negative integer, got ${v}`);
  }
  if (len < N * K) throw new RangeError(`${fn}: the array has ${len} elements, fewer than N*K = ${N}*${K}`);
}

/** Packs W [N, K] int8 (row-major) into the I8P layout above (Np*Kp bytes, zero padded). */
export function packI8(w: Int8Array, N: number, K: number): Int8Array {
  checkShape('packI8', w.length, N, K);
  const Kp = padKI8(K);
  const kbs = Kp / KBLOCK_I8;
  const out = new Int8Array(packedLengthI8(N, K));
  for (let n = 0; n < N; n++) {
    const nb = n >> 4;
    const j = n & 15;
    const row = n * K;
    for (let k = 0; k < K; k++) {
      const kb = k >> 6;
      const g = (k >> 2) & 15;
      const t = k & 3;
      out[(nb * kbs + kb) * BLOCK_BYTES_I8 + g * 64 + j * 4 + t] = w[row + k];
    }
  }
  return out;
}

/** Round to nearest, ties to even (the rounding of float32 arithmetic and of the native cvtps2dq). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v); // ties toward +Infinity
  return (r - v === 0.5 && r % 2 !== 0 ? r - 1 : r) + 0; // + 0: -0 -> 0
}

/**
 * Quantizes x[xo .. xo+cols) into q[qo .. qo+cols) by the rule at the top of this file and
 * returns the scale: 0 for a zero (or vanishingly small) row, NaN for a row holding NaN or
 * ±Infinity (q = 0 then).
 */
export function quantizeRowI8(q: Int8Array, qo: number, x: Float32Array, xo: number, cols: number): number {
  let absmax = 0;
  let finite = true;
  for (let j = 0; j < cols; j++) {
    const a = Math.abs(x[xo + j]);
    if (a > absmax) absmax = a;
    else if (!(a <= absmax)) finite = false; // NaN
  }
  if (absmax === Infinity) finite = false;
  const inv = Math.fround(QMAX_I8 / absmax);
  if (!finite || absmax === 0 || inv === Infinity) {
    q.fill(0, qo, qo + cols);
    return finite ? 0 : NaN;
  }
  for (let j = 0; j < cols; j++) {
    const v = roundHalfEven(Math.fround(x[xo + j] * inv));
    q[qo + j] = Math.min(QMAX_I8, Math.max(-QMAX_I8, v));
  }
  return Math.fround(absmax / QMAX_I8);
}

/**
 * Symmetric per-output-channel quantization of W [N, K] (float32, row-major): q [N, K] in
 * [-127, 127] and scale [N] with W[n, k] ~ q[n, k] * scale[n] (rule at the top of this file; a
 * zero row gets scale 0). Throws a RangeError naming the row if a weight is NaN or infinite.
 */
export function quantizeWeightsI8(w: Float32Array, N: number, K: number): { q: Int8Array; scale: Float32Array } {
  checkShape('quantizeWeightsI8', w.length, N, K);
  const q = new Int8Array(N * K);
  const scale = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    const s = quantizeRowI8(q, n * K, w, n * K, K);
    if (Number.isNaN(s)) {
      let bad = 0;
      while (bad < K && Number.isFinite(w[n * K + bad])) bad++;
      throw new RangeError(`quantizeWeightsI8: row ${n} holds a value that is not finite (${w[n * K + bad]} at column ${bad})`);
    }
    scale[n] = s;
  }
  return { q, scale };
}

/** The float32 weights an int8 form stands for: W[n, k] = fround(q[n, k] * scale[n]). */
export function dequantizeI8(q: Int8Array, scale: Float32Array, N: number, K: number): Float32Array {
  checkShape('dequantizeI8', q.length, N, K);
  if (scale.length < N) throw new RangeError(`dequantizeI8: scale has ${scale.length} elements, fewer than N = ${N}`);
  const w = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    const s = scale[n];
    for (let k = 0; k < K; k++) w[n * K + k] = q[n * K + k] * s;
  }
  return w;
}
