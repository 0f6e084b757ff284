// Argument validation shared by the TypeScript kernels: the same checks, in the same order and
// with the same messages, as the native binding (TypeError for an array too short for the shape,
// RangeError for a bad shape, leading dimension, op code or index).

import type { I32 } from '../kernels.js';

export const MAX_DIM = 2147483647;
export const MAX_OFFSET = 9007199254740992;

export function fail(kernel: string, range: boolean, msg: string): never {
  const text = `pathwise.${kernel}: ${msg}`;
  throw range ? new RangeError(text) : new TypeError(text);
}

export function count(kernel: string, name: string, v: number, max = MAX_OFFSET): void {
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max)) {
    fail(kernel, true, `${name} must be a non-negative integer (<= ${max}), got ${v}`);
  }
}

export function need(kernel: string, name: string, len: number, n: number): void {
  if (n > len) fail(kernel, false, `${name} is too short for the shape: needs ${n} elements, has ${len}`);
}

export function op4(kernel: string, op: number): void {
  count(kernel, 'op', op);
  if (op > 3) fail(kernel, true, `op must be 0..3, got ${op}`);
}

/** A rows x cols row-major matrix with row stride ld starting at element base. */
export function matrix(kernel: string, name: string, len: number, rows: number, cols: number, ld: number, base: number): void {
  if (rows === 0 || cols === 0) return;
  if (rows > 1 && ld < cols) {
    fail(kernel, true, `leading dimension of ${name} (${ld}) is smaller than its row length (${cols})`);
  }
  need(kernel, name, len, base + (rows - 1) * ld + cols);
}

export function checkGemmDims(kernel: string, M: number, N: number, K: number, lda: number, ldb: number, ldc: number): void {
  count(kernel, 'M', M, MAX_DIM);
  count(kernel, 'N', N, MAX_DIM);
  count(kernel, 'K', K, MAX_DIM);
  count(kernel, 'lda', lda, MAX_DIM);
  count(kernel, 'ldb', ldb, MAX_DIM);
  count(kernel, 'ldc', ldc, MAX_DIM);
}

export function checkTargets(kernel: string, targets: I32, rows: number, cols: number, ignoreIndex: number): void {
  need(kernel, 'targets', targets.length, rows);
  for (let r = 0; r < rows; r++) {
    const t = targets[r];
    if (t !== ignoreIndex && (t < 0 || t >= cols)) {
      fail(kernel, true, `targets[${r}] = ${t} is out of range for ${cols} classes`);
    }
  }
}

export function checkIndices(kernel: string, idx: I32, limit: number, what: string): void {
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i];
    if (v < 0 || v >= limit) fail(kernel, true, `idx[${i}] = ${v} is out of range for ${what} of ${limit} rows`);
  }
}

// biome-ignore lint/complexity/noBannedTypes: any typed-array constructor
export function typed(kernel: string, name: string, a: unknown, ctor: Function, tname: string): void {
  if (!(a instanceof ctor)) fail(kernel, false, `${name} must be a ${tname}`);
}
