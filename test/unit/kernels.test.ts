// Kernel tests: (1) the TypeScript twin against values computed here in float64 (naive GEMM,
// known GELU/erf values, normalisation identities, finite differences for every backward), and
// (2) parity of the native addon against the twin for every kernel, on shapes chosen to hit
// vector tails (1, 7, 33, 130 columns), transposes, padded leading dimensions, stride-0
// batches, empty groups, fully masked rows, ignored targets and aliasing. The parity tests are
// skipped, with the reason shown, when the addon is not built.

import test from 'node:test';
import assert from 'node:assert/strict';
import { BinaryOp, UnaryOp, dropoutHash } from '../../src/engine/kernels.js';
import type { Kernels } from '../../src/engine/kernels.js';
import { erf, erfc, gelu, tsKernels } from '../../src/engine/kernels_ts.js';
import { loadNativeKernels } from '../../src/engine/kernels_native.js';
import { Rng } from '../../src/engine/rng.js';

const loaded = loadNativeKernels();
const NK = loaded.kernels;
const skipNative: string | false = NK ? false : `native addon unavailable: ${loaded.error}`;
const T = tsKernels;

// ------------------------------------------------------------------------------------ helpers
type Arr = Float32Array | Int32Array | Uint8Array;
interface Tol {
  rel: number;
  abs: number;
}
const DEF: Tol = { rel: 1e-5, abs: 1e-6 };
const EXACT: Tol = { rel: 0, abs: 0 };

function randn(rng: Rng, n: number, scale = 1, shift = 0): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = shift + scale * rng.normal();
  return a;
}
function uniform(rng: Rng, n: number, lo: number, hi: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng.uniform();
  return a;
}
function nans(n: number): Float32Array {
  return new Float32Array(n).fill(NaN);
}

function closeNum(actual: number, expected: number, tol: Tol, label: string): void {
  if (Number.isNaN(expected) && Number.isNaN(actual)) return;
  if (!Number.isFinite(expected) || !Number.isFinite(actual)) {
    assert.equal(actual, expected, `${label}: ${actual} vs ${expected}`);
    return;
  }
  const err = Math.abs(actual - expected);
  assert.ok(err <= tol.abs + tol.rel * Math.abs(expected), `${label}: got ${actual}, expected ${expected} (err ${err})`);
}

function closeArr(actual: Arr, expected: Arr, tol: Tol, label: string, n = expected.length): void {
  assert.ok(actual.length >= n, `${label}: length ${actual.length} < ${n}`);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < n; i++) {
    const a = actual[i];
    const e = expected[i];
    if (a === e || (Number.isNaN(a) && Number.isNaN(e))) continue;
    const err = Math.abs(a - e);
    const ok = Number.isFinite(a) && Number.isFinite(e) && err <= tol.abs + tol.rel * Math.abs(e);
    if (!ok) {
      const excess = Number.isFinite(err) ? err / (tol.abs + tol.rel * Math.abs(e)) : Infinity;
      if (worst < 0 || excess > worstErr) {
        worst = i;
        worstErr = excess;
      }
    }
  }
  if (worst >= 0) {
    assert.fail(`${label}: element ${worst}: got ${actual[worst]}, expected ${expected[worst]} (${worstErr.toFixed(2)}x tolerance)`);
  }
}

/**
 * Runs `run` on the TS twin and on the native kernels, each on its own copy of the inputs made
 * by `build` (deterministic), and compares the named outputs and the return values.
 */
function parity<B extends Record<string, Arr>>(
  label: string,
  build: () => B,
  // biome-ignore lint/suspicious/noConfusingVoidType: most kernels return nothing, a few a number; both are compared
  run: (k: Kernels, b: B) => number | void,
  outputs: (keyof B & string)[],
  tol: Tol = DEF,
  tolOf: Partial<Record<keyof B & string, Tol>> = {},
): void {
  const bt = build();
  const bn = build();
  const rt = run(T, bt);
  const rn = run(NK!, bn);
  for (const o of outputs) closeArr(bn[o], bt[o], tolOf[o] ?? tol, `${label} [${o}]`);
  if (typeof rt === 'number') closeNum(rn as number, rt, tol, `${label} [return]`);
}

const COLS = [1, 7, 33, 130];

// ============================================================= TS twin: independent checks
test('ts: erf / erfc / gelu against known values', () => {
  const cases: [number, number][] = [
    [0, 0],
    [0.5, 0.5204998778130465],
    [1, 0.8427007929497149],
    [2, 0.9953222650189527],
    [-1.5, -0.9661051464753108],
    [3, 0.9999779095030014],
    [0.01, 0.011283415555849618],
  ];
  for (const [x, v] of cases) closeNum(erf(x), v, { rel: 1e-14, abs: 1e-16 }, `erf(${x})`);
  closeNum(erfc(3), 2.209049699858544e-5, { rel: 1e-13, abs: 0 }, 'erfc(3)');
  closeNum(erfc(5), 1.5374597944280349e-12, { rel: 1e-13, abs: 0 }, 'erfc(5)');
  closeNum(erfc(-1), 1.8427007929497148, { rel: 1e-15, abs: 0 }, 'erfc(-1)');
  closeNum(gelu(1), 0.8413447460685429, { rel: 1e-14, abs: 0 }, 'gelu(1)');
  closeNum(gelu(-1), -0.15865525393145707, { rel: 1e-14, abs: 0 }, 'gelu(-1)');
  // x * Phi(x) at 3 is 2.9959503059051097 (mpmath, 30 digits: 2.99595030590510971642).
  closeNum(gelu(3), 2.9959503059051097, { rel: 1e-14, abs: 0 }, 'gelu(3)');
  closeNum(gelu(-6), -6 * 9.865876450376981e-10, { rel: 1e-12, abs: 0 }, 'gelu(-6) (tail)');
  const out = new Float32Array(3);
  T.unary(UnaryOp.Gelu, out, new Float32Array([1, -1, 3]));
  closeArr(out, new Float32Array([0.8413447460685429, -0.15865525393145707, 2.9959503059051097]), EXACT, 'unary gelu');
  // GELU-tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), evaluated here in float64
  T.unary(UnaryOp.GeluTanh, out, new Float32Array([1, -2, 0.5]));
  closeArr(out, new Float32Array([0.8411919906082768, -0.04540230591222494, 0.34571400982514394]), EXACT, 'unary geluTanh');
});

test('ts: gemm matches a naive float64 triple loop (all trans flags, padded ld)', () => {
  const rng = new Rng(1);
  for (const [M, N, K] of [
    [3, 5, 7],
    [8, 1, 13],
    [1, 9, 4],
    [6, 6, 0],
  ]) {
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        const lda = (tA ? M : K) + 2;
        const ldb = (tB ? K : N) + 1;
        const ldc = N + 3;
        const A = randn(rng, (tA ? K : M) * lda);
        const B = randn(rng, (tB ? N : K) * ldb);
        const C0 = randn(rng, M * ldc);
        for (const [alpha, beta] of [
          [1, 0],
          [0.5, 2],
          [-1, 1],
        ]) {
          const C = beta === 0 ? nans(M * ldc) : C0.slice();
          T.gemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
          for (let i = 0; i < M; i++) {
            for (let j = 0; j < N; j++) {
              let s = 0;
              for (let k = 0; k < K; k++) {
                s += (tA ? A[k * lda + i] : A[i * lda + k]) * (tB ? B[j * ldb + k] : B[k * ldb + j]);
              }
              const ref = alpha * s + (beta === 0 ? 0 : beta * C0[i * ldc + j]);
              closeNum(C[i * ldc + j], ref, { rel: 1e-6, abs: 1e-6 }, `gemm ${M}x${N}x${K} tA=${tA} tB=${tB} (${i},${j})`);
            }
            // padding between rows untouched
            for (let j = N; j < ldc && i < M - 1; j++) {
              const v = C[i * ldc + j];
              if (beta === 0) assert.ok(Number.isNaN(v), 'gemm wrote into the row padding');
              else assert.equal(v, C0[i * ldc + j]);
            }
          }
        }
      }
    }
  }
});

test('ts: softmax rows sum to 1, fully masked rows give zeros', () => {
  const rng = new Rng(2);
  const rows = 6;
  const cols = 33;
  const x = randn(rng, rows * cols, 3);
  const mask = new Float32Array(3 * cols);
  for (let j = 0; j < cols; j++) {
    mask[cols + j] = j % 3 === 0 ? -Infinity : 0;
    mask[2 * cols + j] = -Infinity;
  }
  const maskRow = new Int32Array([0, 1, 2, 1, 0, 2]);
  const y = nans(rows * cols);
  T.softmax(y, x, rows, cols, mask, maskRow, false);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += y[r * cols + j];
    if (maskRow[r] === 2) {
      for (let j = 0; j < cols; j++) assert.equal(y[r * cols + j], 0);
    } else {
      closeNum(s, 1, { rel: 0, abs: 1e-6 }, `row ${r} sum`);
    }
    if (maskRow[r] === 1) for (let j = 0; j < cols; j += 3) assert.equal(y[r * cols + j], 0);
  }
  const ly = nans(rows * cols);
  T.softmax(ly, x, rows, cols, mask, maskRow, true);
  for (let i = 0; i < rows * cols; i++) {
    if (y[i] > 1e-30) closeNum(Math.exp(ly[i]), y[i], { rel: 1e-5, abs: 1e-7 }, `exp(logsoftmax)[${i}]`);
    else assert.ok(ly[i] === -Infinity || ly[i] < -60, `logsoftmax of a masked entry: ${ly[i]}`);
  }
});

test('ts: layerNorm output has mean 0 and variance 1 (gamma=1, beta=0)', () => {
  const rng = new Rng(3);
  for (const cols of [7, 64, 130]) {
    const rows = 4;
    const x = randn(rng, rows * cols, 5, 3);
    const y = nans(rows * cols);
    const mean = nans(rows);
    const rstd = nans(rows);
    T.layerNorm(y, mean, rstd, x, new Float32Array(cols).fill(1), new Float32Array(cols), rows, cols, 1e-5);
    for (let r = 0; r < rows; r++) {
      let m = 0;
      let v = 0;
      for (let j = 0; j < cols; j++) m += y[r * cols + j];
      m /= cols;
      for (let j = 0; j < cols; j++) v += (y[r * cols + j] - m) ** 2;
      v /= cols;
      closeNum(m, 0, { rel: 0, abs: 1e-6 }, `row ${r} mean`);
      closeNum(v, 1, { rel: 0, abs: 1e-5 }, `row ${r} var`);
    }
  }
});

test('ts: crossEntropy equals the explicit formula (ignored rows, smoothing)', () => {
  const rng = new Rng(4);
  const rows = 5;
  const cols = 7;
  const x = randn(rng, rows * cols, 2);
  const t = new Int32Array([3, -100, 0, 6, -100]);
  for (const eps of [0, 0.1]) {
    const lse = nans(rows);
    const total = T.crossEntropy(lse, x, t, rows, cols, -100, eps);
    let ref = 0;
    for (let r = 0; r < rows; r++) {
      let s = 0;
      let sx = 0;
      for (let j = 0; j < cols; j++) {
        s += Math.exp(x[r * cols + j]);
        sx += x[r * cols + j];
      }
      const l = Math.log(s);
      closeNum(lse[r], l, { rel: 1e-7, abs: 1e-7 }, `lse[${r}]`);
      if (t[r] === -100) continue;
      ref += (1 - eps) * (l - x[r * cols + t[r]]) + eps * (l - sx / cols);
    }
    closeNum(total, ref, { rel: 1e-12, abs: 1e-12 }, `loss eps=${eps}`);
  }
});

test('ts: dropout follows dropoutHash and keeps about 1-p', () => {
  const n = 20000;
  const x = new Float32Array(n).fill(1);
  const y = nans(n);
  const mask = new Uint8Array(n).fill(7);
  T.dropout(y, mask, x, 0.25, 99);
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const keep = dropoutHash(99, i) >= 0.25;
    assert.equal(mask[i], keep ? 1 : 0);
    assert.equal(y[i], keep ? Math.fround(1 / 0.75) : 0);
    kept += mask[i];
  }
  assert.ok(Math.abs(kept / n - 0.75) < 0.02, `kept fraction ${kept / n}`);
});

test('ts: argmax and topk ranking (ties to the lower index, NaN first)', () => {
  const x = new Float32Array([1, 3, 3, 2, /**/ 5, NaN, 5, NaN, /**/ -1, -1, -1, -1]);
  const am = new Int32Array(3);
  T.argmax(am, x, 3, 4);
  assert.deepEqual([...am], [1, 1, 0]);
  const v = new Float32Array(9);
  const ix = new Int32Array(9);
  T.topk(v, ix, x, 3, 4, 3);
  assert.deepEqual([...ix], [1, 2, 3, 1, 3, 0, 0, 1, 2]);
  assert.deepEqual([...v].slice(0, 3), [3, 3, 2]);
});

// ----------------------------------------------------------- finite-difference gradient checks
/** Float32 central difference of a scalar function of one element of `x`. */
function fdCheck(label: string, x: Float32Array, f: () => number, analytic: Float32Array, h = 1e-3, rtol = 1e-2, atol = 1e-3): void {
  let scale = 0;
  for (let i = 0; i < analytic.length; i++) scale = Math.max(scale, Math.abs(analytic[i]));
  for (let i = 0; i < x.length; i++) {
    const x0 = x[i];
    x[i] = Math.fround(x0 + h);
    const hp = x[i] - x0;
    const fp = f();
    x[i] = Math.fround(x0 - h);
    const hm = x0 - x[i];
    const fm = f();
    x[i] = x0;
    const fd = (fp - fm) / (hp + hm);
    const a = analytic[i];
    assert.ok(Math.abs(fd - a) <= rtol * Math.abs(a) + atol * Math.max(scale, 1e-3), `${label}: d/dx[${i}] finite difference ${fd} vs analytic ${a}`);
  }
}

function dot(a: Float32Array, w: Float32Array): number {
  let s = 0;
  for (let i = 0; i < w.length; i++) s += a[i] * w[i];
  return s;
}

test('ts: unaryBackward matches finite differences (Gelu, Relu, Tanh, GeluTanh)', () => {
  const rng = new Rng(5);
  const n = 40;
  for (const op of [UnaryOp.Gelu, UnaryOp.Relu, UnaryOp.Tanh, UnaryOp.GeluTanh]) {
    const x = randn(rng, n, 2);
    if (op === UnaryOp.Relu) for (let i = 0; i < n; i++) if (Math.abs(x[i]) < 0.05) x[i] = 0.3;
    const w = randn(rng, n);
    const y = new Float32Array(n);
    const f = (): number => {
      T.unary(op, y, x);
      return dot(y, w);
    };
    T.unary(op, y, x);
    const dx = new Float32Array(n);
    T.unaryBackward(op, dx, op === UnaryOp.Tanh ? y.slice() : x, w);
    fdCheck(`unary op ${op}`, x, f, dx);
  }
});

test('ts: softmaxBackward matches finite differences (softmax and log-softmax)', () => {
  const rng = new Rng(6);
  const rows = 3;
  const cols = 9;
  for (const log of [false, true]) {
    const x = randn(rng, rows * cols, 1.5);
    const w = randn(rng, rows * cols);
    const y = new Float32Array(rows * cols);
    const f = (): number => {
      T.softmax(y, x, rows, cols, null, null, log);
      return dot(y, w);
    };
    f();
    const dx = new Float32Array(rows * cols);
    T.softmaxBackward(dx, y.slice(), w, rows, cols, log);
    fdCheck(`softmax log=${log}`, x, f, dx);
  }
});

test('ts: layerNormBackward matches finite differences (dx, dgamma, dbeta)', () => {
  const rng = new Rng(7);
  const rows = 3;
  const cols = 11;
  const x = randn(rng, rows * cols, 2, 1);
  const gamma = randn(rng, cols, 0.5, 1);
  const beta = randn(rng, cols, 0.5);
  const w = randn(rng, rows * cols);
  const y = new Float32Array(rows * cols);
  const mean = new Float32Array(rows);
  const rstd = new Float32Array(rows);
  const f = (): number => {
    T.layerNorm(y, mean, rstd, x, gamma, beta, rows, cols, 1e-5);
    return dot(y, w);
  };
  f();
  const dx = new Float32Array(rows * cols);
  const dg0 = randn(rng, cols);
  const db0 = randn(rng, cols);
  const dgamma = dg0.slice();
  const dbeta = db0.slice();
  T.layerNormBackward(dx, dgamma, dbeta, w, x, mean, rstd, gamma, rows, cols);
  // dgamma/dbeta accumulate: subtract what was there
  const dg = dgamma.map((v, i) => v - dg0[i]);
  const db = dbeta.map((v, i) => v - db0[i]);
  fdCheck('layerNorm dx', x, f, dx);
  fdCheck('layerNorm dgamma', gamma, f, dg);
  fdCheck('layerNorm dbeta', beta, f, db);
});

test('ts: crossEntropyBackward matches finite differences (ignored rows, smoothing)', () => {
  const rng = new Rng(8);
  const rows = 4;
  const cols = 6;
  const t = new Int32Array([2, -1, 5, 0]);
  for (const eps of [0, 0.2]) {
    const x = randn(rng, rows * cols, 1.5);
    const lse = new Float32Array(rows);
    const scale = 0.7;
    const f = (): number => scale * T.crossEntropy(lse, x, t, rows, cols, -1, eps);
    f();
    const dl = nans(rows * cols);
    T.crossEntropyBackward(dl, x, lse, t, rows, cols, -1, eps, scale);
    for (let j = 0; j < cols; j++) assert.equal(dl[cols + j], 0, 'ignored row has zero gradient');
    fdCheck(`crossEntropy eps=${eps}`, x, f, dl);
  }
});

test('ts: argument validation', () => {
  assert.throws(() => T.gemm(false, false, 2, 2, 2, 1, new Float32Array(3), 2, new Float32Array(4), 2, 0, new Float32Array(4), 2), TypeError);
  assert.throws(() => T.gemm(false, false, 2, 2, 2, 1, new Float32Array(4), 1, new Float32Array(4), 2, 0, new Float32Array(4), 2), RangeError);
  assert.throws(() => T.binary(BinaryOp.Add, new Float32Array(6), new Float32Array(6), new Float32Array(4), 6, 4), RangeError);
  assert.throws(() => T.gatherRows(new Float32Array(4), new Float32Array(4), new Int32Array([0, 2]), 2), RangeError);
  assert.throws(() => T.crossEntropy(new Float32Array(1), new Float32Array(3), new Int32Array([3]), 1, 3, -100, 0), RangeError);
  assert.throws(() => T.dropout(new Float32Array(1), new Uint8Array(1), new Float32Array(1), 0.5, 0.5), RangeError);
});

// =================================================================== native parity (all kernels)
test('native: loads and reports its BLAS configuration', { skip: skipNative }, () => {
  assert.equal(NK!.name, 'native');
  assert.ok(loaded.blas!.threads() >= 1);
  assert.match(loaded.blas!.config(), /OpenBLAS/);
  assert.ok(loaded.simd === 'avx2+fma' || loaded.simd === 'scalar', `simd path ${loaded.simd}`);
});

test('native parity: gemm alpha=0 reads neither A nor B (BLAS semantics)', { skip: skipNative }, () => {
  for (const beta of [0, 2]) {
    const build = () => ({ A: nans(12), B: nans(12), C: beta === 0 ? nans(9) : new Float32Array(9).fill(1.5) });
    parity(`gemm alpha=0 beta=${beta}`, build, (k, b) => k.gemm(false, false, 3, 3, 4, 0, b.A, 4, b.B, 3, beta, b.C, 3), ['C'], EXACT);
    const b = build();
    T.gemm(false, false, 3, 3, 4, 0, b.A, 4, b.B, 3, beta, b.C, 3);
    assert.deepEqual([...b.C], new Array(9).fill(beta * 1.5));
  }
});

test('native parity: gemm (trans flags, padded ld, beta=0 with NaN C, K=0, M=0)', { skip: skipNative }, () => {
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [7, 33, 5],
    [33, 7, 130],
    [130, 33, 64],
    [64, 130, 257],
    [5, 9, 0],
    [0, 4, 3],
    [4, 0, 3],
  ];
  let seed = 100;
  for (const [M, N, K] of shapes) {
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        for (const pad of [0, 3]) {
          for (const [alpha, beta] of [
            [1, 0],
            [-0.5, 1],
            [1.5, 0.25],
          ]) {
            const s = seed++;
            const lda = (tA ? M : K) + pad;
            const ldb = (tB ? K : N) + pad;
            const ldc = N + pad;
            const build = () => {
              const r = new Rng(s);
              return {
                A: randn(r, Math.max(1, (tA ? K : M) * lda)),
                B: randn(r, Math.max(1, (tB ? N : K) * ldb)),
                C: beta === 0 ? nans(M * ldc) : randn(r, M * ldc),
              };
            };
            const tol = { rel: 1e-4, abs: 2e-5 * Math.sqrt(K + 1) };
            parity(
              `gemm ${M}x${N}x${K} tA=${tA} tB=${tB} pad=${pad} a=${alpha} b=${beta}`,
              build,
              (k, b) => k.gemm(tA, tB, M, N, K, alpha, b.A, lda, b.B, ldb, beta, b.C, ldc),
              ['C'],
              tol,
            );
          }
        }
      }
    }
  }
});

test('native parity: gemm with typed-array views (byteOffset)', { skip: skipNative }, () => {
  const M = 9;
  const N = 17;
  const K = 13;
  const build = () => {
    const r = new Rng(55);
    const big = randn(r, 1000);
    return { A: big.subarray(5, 5 + M * K), B: big.subarray(301, 301 + K * N), C: big.subarray(700, 700 + M * N), big };
  };
  parity('gemm views', build, (k, b) => k.gemm(false, false, M, N, K, 1, b.A, K, b.B, N, 1, b.C, N), ['big'], { rel: 1e-4, abs: 1e-5 });
});

test('native parity: gemmBatched (strides, stride 0 shared operand)', { skip: skipNative }, () => {
  const cases = [
    { M: 7, N: 33, K: 16, batch: 3, sA: 7 * 16, sB: 16 * 33, sC: 7 * 33, tA: false, tB: false },
    { M: 8, N: 8, K: 12, batch: 4, sA: 8 * 12 + 5, sB: 0, sC: 8 * 8 + 2, tA: false, tB: true },
    { M: 5, N: 6, K: 7, batch: 3, sA: 0, sB: 7 * 6, sC: 5 * 6, tA: true, tB: false },
    { M: 5, N: 6, K: 0, batch: 2, sA: 0, sB: 0, sC: 30, tA: false, tB: false },
    { M: 3, N: 3, K: 3, batch: 0, sA: 9, sB: 9, sC: 9, tA: false, tB: false },
  ];
  for (const c of cases) {
    for (const beta of [0, 0.5]) {
      const lda = c.tA ? c.M : c.K;
      const ldb = c.tB ? c.K : c.N;
      const build = () => {
        const r = new Rng(c.M * 100 + c.K);
        const nA = Math.max(1, (c.batch - 1) * c.sA + c.M * c.K);
        const nB = Math.max(1, (c.batch - 1) * c.sB + c.N * c.K);
        const nC = Math.max(1, (c.batch - 1) * c.sC + c.M * c.N);
        return { A: randn(r, nA), B: randn(r, nB), C: beta === 0 ? nans(nC) : randn(r, nC) };
      };
      parity(
        `gemmBatched ${JSON.stringify(c)} beta=${beta}`,
        build,
        (k, b) => k.gemmBatched(c.tA, c.tB, c.M, c.N, c.K, 0.75, b.A, lda, c.sA, b.B, ldb, c.sB, beta, b.C, c.N, c.sC, c.batch),
        ['C'],
        { rel: 1e-4, abs: 1e-5 },
      );
    }
  }
});

test('native parity: gemmGrouped (M=0, N=0 and K=0 groups, per-group offsets)', { skip: skipNative }, () => {
  const D = 16; // model dim: A is tokens x D (lda = D), B holds per-expert D x H weights (ldb = H)
  const H = 24;
  for (const tB of [false, true]) {
    for (const beta of [0, 1]) {
      // [M, N, K, offA, offB, offC]
      const groups = new Int32Array([
        5,
        H,
        D,
        0,
        0,
        0,
        0,
        H,
        D,
        5 * D,
        D * H,
        5 * H, // M = 0: skipped
        7,
        H,
        D,
        5 * D,
        2 * D * H,
        5 * H,
        3,
        H,
        0,
        12 * D,
        0,
        12 * H, // K = 0: C = beta*C
        4,
        0,
        D,
        15 * D,
        0,
        15 * H, // N = 0: skipped
        1,
        H,
        D,
        19 * D,
        3 * D * H,
        19 * H,
      ]);
      const ldb = tB ? D : H;
      const build = () => {
        const r = new Rng(77);
        return { A: randn(r, 20 * D), B: randn(r, 4 * D * H), C: beta === 0 ? nans(20 * H) : randn(r, 20 * H) };
      };
      parity(`gemmGrouped tB=${tB} beta=${beta}`, build, (k, b) => k.gemmGrouped(false, tB, groups, 1.25, b.A, D, b.B, ldb, beta, b.C, H), ['C'], {
        rel: 1e-4,
        abs: 1e-5,
      });
      // rows 15..18 (the N=0 group) are never written: still NaN (beta=0) or untouched
      if (beta === 0) {
        const b = build();
        NK!.gemmGrouped(false, tB, groups, 1.25, b.A, D, b.B, ldb, beta, b.C, H);
        for (let i = 15 * H; i < 19 * H; i++) assert.ok(Number.isNaN(b.C[i]));
        for (let i = 12 * H; i < 15 * H; i++) assert.equal(b.C[i], 0, 'K=0 group with beta=0 gives zeros');
      }
    }
  }
});

test('native parity: binary (all ops, broadcast row/scalar, aliasing, views)', { skip: skipNative }, () => {
  for (const op of [BinaryOp.Add, BinaryOp.Sub, BinaryOp.Mul, BinaryOp.Div]) {
    for (const cols of COLS) {
      const rows = 5;
      const n = rows * cols;
      for (const bn of [n, cols, 1]) {
        for (const alias of [false, true]) {
          const build = () => {
            const r = new Rng(op * 1000 + cols + bn);
            const a = randn(r, n);
            const b = op === BinaryOp.Div ? uniform(r, bn, 0.5, 2) : randn(r, bn);
            return { out: alias ? a : nans(n), a, b };
          };
          parity(`binary op=${op} n=${n} bn=${bn} alias=${alias}`, build, (k, x) => k.binary(op, x.out, x.a, x.b, n, bn), ['out'], EXACT);
        }
      }
    }
  }
  // typed-array views with byteOffset
  const build = () => {
    const r = new Rng(9);
    const big = randn(r, 300);
    return { big, out: big.subarray(200, 233), a: big.subarray(1, 34), b: big.subarray(100, 133) };
  };
  parity('binary views', build, (k, x) => k.binary(BinaryOp.Mul, x.out, x.a, x.b, 33, 33), ['big'], EXACT);
});

test('native parity: binaryCol (all ops, aliasing)', { skip: skipNative }, () => {
  for (const op of [BinaryOp.Add, BinaryOp.Sub, BinaryOp.Mul, BinaryOp.Div]) {
    for (const cols of COLS) {
      for (const alias of [false, true]) {
        const rows = 6;
        const build = () => {
          const r = new Rng(op * 7 + cols);
          const a = randn(r, rows * cols);
          return { out: alias ? a : nans(rows * cols), a, b: uniform(r, rows, 0.5, 2) };
        };
        parity(`binaryCol op=${op} cols=${cols} alias=${alias}`, build, (k, x) => k.binaryCol(op, x.out, x.a, x.b, rows, cols), ['out'], EXACT);
      }
    }
  }
});

test('native parity: axpby (beta=0 does not read out)', { skip: skipNative }, () => {
  for (const n of [1, 7, 33, 130, 1001]) {
    for (const [alpha, beta] of [
      [2, 0],
      [0.5, -1.5],
      [1, 1],
    ]) {
      const build = () => {
        const r = new Rng(n);
        return { out: beta === 0 ? nans(n) : randn(r, n), a: randn(r, n) };
      };
      parity(`axpby n=${n} a=${alpha} b=${beta}`, build, (k, x) => k.axpby(x.out, alpha, x.a, beta), ['out']);
    }
  }
});

const UNARY_TOL: Record<number, Tol> = {
  [UnaryOp.Gelu]: { rel: 1e-5, abs: 2e-6 }, // float erf (Eigen's rational): ~1e-7 absolute error
  [UnaryOp.Relu]: EXACT,
  [UnaryOp.Tanh]: { rel: 1e-5, abs: 1e-6 },
  [UnaryOp.GeluTanh]: { rel: 1e-5, abs: 1e-6 },
};

test('native parity: unary and unaryBackward (all ops, tails, aliasing, specials)', { skip: skipNative }, () => {
  for (const op of [UnaryOp.Gelu, UnaryOp.Relu, UnaryOp.Tanh, UnaryOp.GeluTanh]) {
    for (const n of [1, 7, 33, 130, 1000]) {
      for (const alias of [false, true]) {
        const build = () => {
          const r = new Rng(op * 31 + n);
          const x = randn(r, n, 2.5);
          if (n >= 33) x.set([0, -0, 12, -12, 30, -30, 1e-6, -1e-6, Infinity, -Infinity], 13);
          return { x, out: alias ? x : nans(n) };
        };
        parity(`unary op=${op} n=${n} alias=${alias}`, build, (k, b) => k.unary(op, b.out, b.x), ['out'], UNARY_TOL[op]);

        const buildB = () => {
          const r = new Rng(op * 37 + n);
          const x = randn(r, n, 2.5);
          const saved = op === UnaryOp.Tanh ? uniform(r, n, -1, 1) : x;
          const dy = randn(r, n);
          return { saved, dy, dx: alias ? dy : nans(n) };
        };
        parity(
          `unaryBackward op=${op} n=${n} alias=${alias}`,
          buildB,
          (k, b) => k.unaryBackward(op, b.dx, b.saved, b.dy),
          ['dx'],
          op === UnaryOp.Relu ? EXACT : { rel: 1e-5, abs: 2e-6 },
        );
      }
    }
  }
});

test('native parity: sumAxis, expandAxis, transpose, sumSquares', { skip: skipNative }, () => {
  const shapes: [number, number, number][] = [
    [1, 130, 33],
    [3, 7, 1],
    [2, 33, 130],
    [1, 1, 7],
    [4, 0, 5],
    [2, 200, 3],
    [1, 1000, 1],
    [2, 300, 130], // over the threading threshold, rows of 8 x 16 lanes and a masked tail of 2
  ];
  for (const [outer, n, inner] of shapes) {
    const build = () => {
      const r = new Rng(outer * 1000 + n * 10 + inner);
      return { a: randn(r, outer * n * inner), out: nans(outer * inner), small: randn(r, outer * inner), big: nans(outer * n * inner) };
    };
    parity(`sumAxis ${outer}x${n}x${inner}`, build, (k, b) => k.sumAxis(b.out, b.a, outer, n, inner), ['out']);
    parity(`expandAxis ${outer}x${n}x${inner}`, build, (k, b) => k.expandAxis(b.big, b.small, outer, n, inner), ['big'], EXACT);
  }
  const tshapes: [number, number, number, number][] = [
    [1, 33, 130, 1],
    [2, 7, 9, 1],
    [2, 5, 3, 4],
    [3, 17, 4, 16],
    [1, 64, 64, 1],
    [1, 130, 70, 1],
    [2, 9, 8, 7],
    [1, 1, 5, 3],
  ];
  for (const [outer, X, Y, inner] of tshapes) {
    const n = outer * X * Y * inner;
    const build = () => {
      const r = new Rng(n);
      return { a: randn(r, n), out: nans(n) };
    };
    parity(`transpose ${outer}x${X}x${Y}x${inner}`, build, (k, b) => k.transpose(b.out, b.a, outer, X, Y, inner), ['out'], EXACT);
  }
  for (const n of [0, 1, 7, 33, 130, 100001]) {
    const r = new Rng(n);
    const a = randn(r, n, 3);
    closeNum(NK!.sumSquares(a), T.sumSquares(a), { rel: 1e-12, abs: 1e-12 }, `sumSquares n=${n}`);
  }
});

test('native parity: layerNorm and layerNormBackward (accumulating dgamma/dbeta)', { skip: skipNative }, () => {
  for (const cols of [...COLS, 256, 768]) {
    const rows = 9;
    const build = () => {
      const r = new Rng(cols);
      const x = randn(r, rows * cols, 2, 0.5);
      return {
        x,
        gamma: randn(r, cols, 0.3, 1),
        beta: randn(r, cols, 0.3),
        y: nans(rows * cols),
        mean: nans(rows),
        rstd: nans(rows),
        dy: randn(r, rows * cols),
        dx: nans(rows * cols),
        dgamma: randn(r, cols),
        dbeta: randn(r, cols),
      };
    };
    parity(
      `layerNorm cols=${cols}`,
      build,
      (k, b) => {
        k.layerNorm(b.y, b.mean, b.rstd, b.x, b.gamma, b.beta, rows, cols, 1e-5);
        k.layerNormBackward(b.dx, b.dgamma, b.dbeta, b.dy, b.x, b.mean, b.rstd, b.gamma, rows, cols);
      },
      ['y', 'mean', 'rstd', 'dx', 'dgamma', 'dbeta'],
      { rel: 1e-5, abs: 1e-5 },
    );
  }
});

test('native parity: softmax (masks with -Infinity, fully masked rows, log) and backward', { skip: skipNative }, () => {
  for (const cols of [...COLS, 64]) {
    for (const log of [false, true]) {
      for (const masked of [false, true]) {
        const rows = 7;
        const build = () => {
          const r = new Rng(cols * 3 + (log ? 1 : 0));
          const x = randn(r, rows * cols, 3);
          if (cols > 5) x[2 * cols + 1] = -Infinity; // an -Infinity logit in a live row
          const mask = randn(r, 3 * cols, 0.5);
          for (let j = 0; j < cols; j++) {
            if (j % 2 === 1) mask[j] = -Infinity; // causal-ish row
            mask[2 * cols + j] = -Infinity; // fully masked
          }
          return {
            x,
            mask,
            maskRow: new Int32Array([0, 1, 2, 0, 2, 1, 1]),
            y: nans(rows * cols),
            dy: randn(r, rows * cols),
            dx: nans(rows * cols),
          };
        };
        parity(
          `softmax cols=${cols} log=${log} masked=${masked}`,
          build,
          (k, b) => {
            k.softmax(b.y, b.x, rows, cols, masked ? b.mask : null, masked ? b.maskRow : null, log);
            k.softmaxBackward(b.dx, b.y, b.dy, rows, cols, log);
          },
          ['y', 'dx'],
          { rel: 1e-5, abs: 1e-6 },
        );
        // dx may alias dy
        parity(
          `softmaxBackward alias cols=${cols} log=${log}`,
          build,
          (k, b) => {
            k.softmax(b.y, b.x, rows, cols, null, null, log);
            k.softmaxBackward(b.dy, b.y, b.dy, rows, cols, log);
          },
          ['dy'],
          { rel: 1e-5, abs: 1e-6 },
        );
      }
    }
  }
  // all -Infinity rows without a mask
  const x = new Float32Array(2 * 9).fill(-Infinity);
  x[12] = 0.5;
  for (const k of [T, NK!]) {
    const y = nans(18);
    k.softmax(y, x, 2, 9, null, null, false);
    assert.deepEqual([...y.subarray(0, 9)], new Array(9).fill(0), `${k.name}: fully -Infinity row gives zeros`);
    assert.equal(y[12], 1);
  }
});

test('native parity: crossEntropy and backward (ignored rows, smoothing)', { skip: skipNative }, () => {
  for (const cols of [...COLS, 1000]) {
    for (const eps of [0, 0.1]) {
      const rows = 8;
      const build = () => {
        const r = new Rng(cols + 13);
        const t = new Int32Array(rows);
        for (let i = 0; i < rows; i++) t[i] = i % 3 === 1 ? -100 : r.int(cols);
        return { logits: randn(r, rows * cols, 3), t, lse: nans(rows), dl: nans(rows * cols) };
      };
      parity(
        `crossEntropy cols=${cols} eps=${eps}`,
        build,
        (k, b) => {
          const loss = k.crossEntropy(b.lse, b.logits, b.t, rows, cols, -100, eps);
          k.crossEntropyBackward(b.dl, b.logits, b.lse, b.t, rows, cols, -100, eps, 0.125);
          return loss;
        },
        ['lse', 'dl'],
        { rel: 1e-5, abs: 1e-6 },
      );
    }
  }
});

test('native parity: gatherRows and scatterAddRows (repeated indices)', { skip: skipNative }, () => {
  // cols = 0 too: no rows to add into, yet zeroFirst must still zero all of out.
  for (const cols of [0, ...COLS]) {
    const srcRows = 10;
    const idx = new Int32Array([3, 0, 9, 3, 3, 7, 0]);
    const build = () => {
      const r = new Rng(cols + 5);
      return {
        src: randn(r, srcRows * cols),
        out: nans(idx.length * cols),
        acc: randn(r, srcRows * cols),
        upd: randn(r, idx.length * cols),
        fresh: nans(srcRows * cols + 3), // zeroFirst: every element written, the tail past whole rows too
        scaled: nans(srcRows * cols + 3),
        scale: randn(r, idx.length),
      };
    };
    parity(
      `gather/scatter cols=${cols}`,
      build,
      (k, b) => {
        k.gatherRows(b.out, b.src, idx, cols);
        k.scatterAddRows(b.acc, b.upd, idx, cols);
        k.scatterAddRows(b.fresh, b.upd, idx, cols, true);
        k.scatterAddRowsScaled(b.scaled, b.upd, b.scale, idx, cols, true);
      },
      ['out', 'acc', 'fresh', 'scaled'],
      { rel: 1e-6, abs: 1e-6 },
      { out: EXACT },
    );
  }
});

test('native parity: scatterAddRowsScaled and its backward (repeated and unique indices)', { skip: skipNative }, () => {
  for (const cols of [...COLS, 1031]) {
    for (const idx of [new Int32Array([3, 0, 9, 3, 3, 7, 0]), new Int32Array([3, 0, 9, 5, 7, 1, 2])]) {
      const n = idx.length;
      const build = () => {
        const r = new Rng(cols + 11);
        return {
          acc: randn(r, 10 * cols),
          src: randn(r, n * cols),
          scale: randn(r, n),
          dout: randn(r, 10 * cols),
          dsrc: nans(n * cols),
          dscale: nans(n),
        };
      };
      parity(
        `scatterAddRowsScaled cols=${cols} idx=${idx.join(',')}`,
        build,
        (k, b) => {
          k.scatterAddRowsScaled(b.acc, b.src, b.scale, idx, cols);
          k.scatterAddRowsScaledBackward(b.dsrc, b.dscale, b.dout, b.src, b.scale, idx, cols);
        },
        ['acc', 'dsrc', 'dscale'],
        { rel: 1e-5, abs: 1e-5 },
        { dsrc: EXACT },
      );
    }
  }
});

test('native parity: dropout masks and outputs identical bit for bit', { skip: skipNative }, () => {
  for (const n of [1, 7, 33, 130, 4097]) {
    for (const p of [0, 0.1, 0.5, 0.9, 1]) {
      for (const seed of [0, 12345, 4294967295, -7, 2 ** 40 + 3]) {
        const build = () => {
          const r = new Rng(n);
          const x = randn(r, n);
          return { x, y: nans(n), mask: new Uint8Array(n).fill(9), dy: randn(r, n), dx: nans(n) };
        };
        parity(
          `dropout n=${n} p=${p} seed=${seed}`,
          build,
          (k, b) => {
            k.dropout(b.y, b.mask, b.x, p, seed);
            k.dropoutBackward(b.dx, b.dy, b.mask, p);
            k.dropoutBackward(b.dy, b.dy, b.mask, p); // aliasing
          },
          ['y', 'mask', 'dx', 'dy'],
          EXACT,
        );
      }
    }
  }
});

// On AVX-512 builds GELU and its derivative run 16 lanes at a time and the last 8 on the AVX2
// path: the same values in both places must give the same bits (the 16-lane code mirrors the
// 8-lane code operation for operation). Elsewhere every lane takes the same path and this holds
// trivially.
test('native: GELU and its derivative give the same bits on 16-lane and 8-lane paths', { skip: skipNative }, () => {
  const r = new Rng(5);
  for (let trial = 0; trial < 3000; trial++) {
    const w = randn(r, 8, trial % 3 === 0 ? 6 : 2);
    if (trial === 0) w.set([0, -0, 1e-30, -12, 12, 40, -40, Number.NaN]);
    if (trial === 1) w.set([Infinity, -Infinity, 3.5, -3.5, 5.65685, -5.65686, 13.1, -13.2]);
    const x = new Float32Array(24);
    x.set(w, 0);
    x.set(w, 8);
    x.set(w, 16);
    const dy = Float32Array.from({ length: 24 }, (_, i) => 1 + (i % 8) / 8);
    const y = new Float32Array(24);
    const dx = new Float32Array(24);
    NK!.unary(UnaryOp.Gelu, y, x);
    NK!.unaryBackward(UnaryOp.Gelu, dx, x, dy);
    assert.deepEqual(y.subarray(16), y.subarray(0, 8), `gelu(${Array.from(w)})`);
    assert.deepEqual(dx.subarray(16), dx.subarray(0, 8), `gelu'(${Array.from(w)})`);
  }
});

// The fused pair is defined as the two kernels one after the other: on each backend, the same
// bits as unary then dropout (and dropoutBackward then unaryBackward), whatever the blocks and
// thread ranges (sizes around the fused kernel's 2048-element blocks and the threading threshold).
test('unaryDropout and its backward equal the two kernels they fuse, bit for bit, on each backend', () => {
  const backends: [string, Kernels][] = NK
    ? [
        ['ts', T],
        ['native', NK],
      ]
    : [['ts', T]];
  for (const [name, k] of backends) {
    for (const op of [UnaryOp.Gelu, UnaryOp.Relu, UnaryOp.GeluTanh]) {
      for (const n of [1, 7, 2047, 2049, 70_001]) {
        for (const p of [0.1, 0.5]) {
          const r = new Rng(op * 7 + n);
          const x = randn(r, n, 2.5);
          const dy = randn(r, n);
          const label = `${name} op=${op} n=${n} p=${p}`;
          const h = nans(n);
          const y = nans(n);
          const mask = new Uint8Array(n).fill(9);
          k.unary(op, h, x);
          k.dropout(y, mask, h, p, 99 + n);
          const fy = nans(n);
          const fmask = new Uint8Array(n).fill(9);
          k.unaryDropout(op, fy, fmask, x, p, 99 + n);
          closeArr(fy, y, EXACT, `${label} y`);
          closeArr(fmask, mask, EXACT, `${label} mask`);
          const d = nans(n);
          const dx = nans(n);
          k.dropoutBackward(d, dy, mask, p);
          k.unaryBackward(op, dx, x, d);
          const fdx = nans(n);
          k.unaryDropoutBackward(op, fdx, x, dy, fmask, p);
          closeArr(fdx, dx, EXACT, `${label} dx`);
          const alias = dy.slice();
          k.unaryDropoutBackward(op, alias, x, alias, fmask, p);
          closeArr(alias, dx, EXACT, `${label} dx aliasing dy`);
        }
      }
    }
  }
});

test('native parity: adamw over several steps', { skip: skipNative }, () => {
  for (const n of [1, 7, 33, 1000]) {
    const build = () => {
      const r = new Rng(n + 3);
      return { p: randn(r, n), m: new Float32Array(n), v: new Float32Array(n), g1: randn(r, n), g2: randn(r, n, 0.1) };
    };
    parity(
      `adamw n=${n}`,
      build,
      (k, b) => {
        for (let t = 1; t <= 5; t++) {
          const g = t % 2 ? b.g1 : b.g2;
          k.adamw(b.p, g, b.m, b.v, 1e-2, 0.9, 0.999, 1e-8, 0.1, 1 - 0.9 ** t, 1 - 0.999 ** t);
        }
      },
      ['p', 'm', 'v'],
      { rel: 1e-5, abs: 1e-6 },
    );
  }
});

// On AVX-512 builds AdamW runs 16 lanes at a time and the last 8 on the AVX2 path (native
// kernels.cc, adamw): the same values in both places must give the same bits over several steps.
test('native: adamw gives the same bits on 16-lane and 8-lane paths', { skip: skipNative }, () => {
  const r = new Rng(6);
  for (let trial = 0; trial < 500; trial++) {
    const scale = trial % 4 === 0 ? 1e-6 : trial % 4 === 1 ? 30 : 1;
    const state = [randn(r, 8), randn(r, 8, scale), randn(r, 8, 0.1), Float32Array.from(randn(r, 8, 0.01), Math.abs)];
    if (trial === 0) state[1].set([0, -0, 1e-30, -1e-30, 1e20, -1e20, 3, -3]);
    const [p, m, v] = [0, 2, 3].map((i) => {
      const a = new Float32Array(24);
      for (const o of [0, 8, 16]) a.set(state[i], o);
      return a;
    });
    for (let t = 1; t <= 3; t++) {
      const g = new Float32Array(24);
      for (const o of [0, 8, 16]) g.set(t === 2 ? state[1].map((x) => -0.5 * x) : state[1], o);
      NK!.adamw(p, g, m, v, 1e-2, 0.9, 0.999, 1e-8, 0.1, 1 - 0.9 ** t, 1 - 0.999 ** t);
    }
    for (const [name, a] of [
      ['p', p],
      ['m', m],
      ['v', v],
    ] as const) {
      assert.deepEqual(a.subarray(16), a.subarray(0, 8), `trial ${trial} ${name}`);
    }
  }
});

test('native parity: argmax and topk (ties, NaN)', { skip: skipNative }, () => {
  for (const cols of [1, 7, 33, 130, 1000]) {
    for (const k of [1, Math.min(3, cols), Math.min(64, cols), cols]) {
      for (const ties of [true, false]) {
        const rows = 6;
        const build = () => {
          const r = new Rng(cols * 10 + k);
          const x = ties ? new Float32Array(rows * cols) : randn(r, rows * cols);
          if (ties) for (let i = 0; i < x.length; i++) x[i] = r.int(4); // many ties
          x[cols + Math.min(2, cols - 1)] = NaN;
          if (cols > 40) x[4 * cols + 40] = NaN;
          return { x, am: new Int32Array(rows).fill(-1), v: nans(rows * k), ix: new Int32Array(rows * k).fill(-1) };
        };
        parity(
          `argmax/topk cols=${cols} k=${k} ties=${ties}`,
          build,
          (kk, b) => {
            kk.argmax(b.am, b.x, rows, cols);
            kk.topk(b.v, b.ix, b.x, rows, cols, k);
          },
          ['am', 'v', 'ix'],
          EXACT,
        );
      }
    }
  }
});

test('native: argument validation throws like the TS twin', { skip: skipNative }, () => {
  for (const k of [T, NK!]) {
    assert.throws(() => k.gemm(false, false, 2, 2, 2, 1, new Float32Array(3), 2, new Float32Array(4), 2, 0, new Float32Array(4), 2), TypeError, k.name);
    assert.throws(() => k.gemm(false, false, 2, 2, 2, 1, new Float32Array(4), 1, new Float32Array(4), 2, 0, new Float32Array(4), 2), RangeError, k.name);
    assert.throws(
      () => k.gemmBatched(false, false, 2, 2, 2, 1, new Float32Array(8), 2, 4, new Float32Array(4), 2, 0, 0, new Float32Array(7), 2, 4, 2),
      TypeError,
      k.name,
    );
    assert.throws(
      () => k.gemmGrouped(false, false, new Int32Array(5), 1, new Float32Array(4), 2, new Float32Array(4), 2, 0, new Float32Array(4), 2),
      RangeError,
      k.name,
    );
    assert.throws(() => k.binary(BinaryOp.Add, new Float32Array(6), new Float32Array(6), new Float32Array(4), 6, 4), RangeError, k.name);
    assert.throws(() => k.binary(BinaryOp.Add, new Float32Array(5), new Float32Array(6), new Float32Array(6), 6, 6), TypeError, k.name);
    assert.throws(
      () =>
        k.layerNorm(new Float32Array(6), new Float32Array(2), new Float32Array(2), new Float32Array(6), new Float32Array(2), new Float32Array(3), 2, 3, 1e-5),
      TypeError,
      k.name,
    );
    assert.throws(() => k.softmax(new Float32Array(6), new Float32Array(6), 2, 3, new Float32Array(3), new Int32Array([0, 1]), false), RangeError, k.name);
    assert.throws(() => k.gatherRows(new Float32Array(4), new Float32Array(4), new Int32Array([0, 2]), 2), RangeError, k.name);
    assert.throws(() => k.scatterAddRows(new Float32Array(4), new Float32Array(4), new Int32Array([0, -1]), 2), RangeError, k.name);
    assert.throws(() => k.crossEntropy(new Float32Array(1), new Float32Array(3), new Int32Array([3]), 1, 3, -100, 0), RangeError, k.name);
    assert.throws(() => k.dropout(new Float32Array(1), new Uint8Array(1), new Float32Array(1), 0.5, 0.5), RangeError, k.name);
    const [f2, u2] = [new Float32Array(2), new Uint8Array(2)];
    assert.throws(() => k.unaryDropout(UnaryOp.Gelu, f2, new Uint8Array(1), f2, 0.1, 1), TypeError, k.name);
    assert.throws(() => k.unaryDropout(UnaryOp.Gelu, f2, u2, f2, 0.1, 0.5), RangeError, k.name);
    assert.throws(() => k.unaryDropout(9 as UnaryOp, f2, u2, f2, 0.1, 1), RangeError, k.name);
    assert.throws(() => k.unaryDropoutBackward(UnaryOp.Gelu, f2, new Float32Array(1), f2, u2, 0.1), TypeError, k.name);
    assert.throws(() => k.topk(new Float32Array(4), new Int32Array(4), new Float32Array(4), 1, 4, 5), RangeError, k.name);
    assert.throws(
      () => k.adamw(new Float32Array(4), new Float32Array(4), new Float32Array(3), new Float32Array(4), 1e-3, 0.9, 0.999, 1e-8, 0, 0.1, 0.001),
      TypeError,
      k.name,
    );
  }
  // wrong typed-array kinds are rejected by the addon (the TS twin relies on the type checker)
  const nk = NK as unknown as Record<string, (...a: unknown[]) => unknown>;
  assert.throws(() => nk.unary(0, new Float64Array(4), new Float32Array(4)), TypeError);
  assert.throws(() => nk.gatherRows(new Float32Array(4), new Float32Array(4), new Float32Array([0]), 2), TypeError);
  assert.throws(() => nk.gemm(0, false, 1, 1, 1, 1, new Float32Array(1), 1, new Float32Array(1), 1, 0, new Float32Array(1), 1), TypeError);
});

test('native: BLAS thread control round-trips', { skip: skipNative }, () => {
  const b = loaded.blas!;
  const before = b.threads();
  b.setThreads(1);
  assert.equal(b.threads(), 1);
  b.setThreads(before);
  assert.equal(b.threads(), before);
});

// A^T B with beta = 0 into a C of at most 2^20 elements (the weight gradients) takes its own
// paths in native/kernels.cc's gemm: over K >= 1024 rows, two fixed halves of K added at the
// end; into a C wider than tall, the transposed product and a transpose. Their bits must be
// those of the direct calls they stand for, which beta = 1 on a zeroed C takes (0 + x = x): the
// whole product, or its two halves added in float32. At 1 and 2 threads, into a C with spare
// columns (ldc > N) and NaNs that beta = 0 must overwrite.
test('native: A^T B weight-gradient paths (halves of K, transposed) give the direct bits', { skip: skipNative }, () => {
  const b = loaded.blas!;
  const before = b.threads();
  const r = new Rng(22);
  const rand = (n: number) => Float32Array.from({ length: n }, () => r.normal());
  try {
    for (const [M, N, K] of [
      [256, 1024, 1100], // wide, halves
      [300, 256, 1500], // tall, halves
      [64, 3000, 200], // wide, whole
      [100, 300, 5000],
      [13, 2050, 301],
      [40, 40, 1300], // K >= 1024 but below the parallel threshold: the direct path
      [256, 4100, 1300], // C above 2^20 elements: the direct path
    ]) {
      const A = rand(K * M);
      const B = rand(K * N);
      const ldc = N + 5;
      const direct = (k0: number, k1: number) => {
        const C = new Float32Array(M * ldc).fill(Number.NaN);
        for (let i = 0; i < M; i++) C.fill(0, i * ldc, i * ldc + N);
        NK!.gemm(true, false, M, N, k1 - k0, 0.5, A.subarray(k0 * M), M, B.subarray(k0 * N), N, 1, C, ldc);
        return C;
      };
      const halves = K >= 1024 && M * N <= 1 << 20 && M * N * K >= 1 << 21;
      for (const t of [1, 2]) {
        b.setThreads(t);
        let want = direct(0, K);
        if (halves) {
          const [h0, h1] = [direct(0, K >> 1), direct(K >> 1, K)];
          want = h0.map((x, i) => x + h1[i]);
        }
        const got = new Float32Array(M * ldc).fill(Number.NaN);
        NK!.gemm(true, false, M, N, K, 0.5, A, M, B, N, 0, got, ldc);
        for (let i = 0; i < M; i++) {
          const row = (c: Float32Array) => c.subarray(i * ldc, i * ldc + N);
          assert.deepEqual(row(got), row(want), `${M}x${N}x${K} threads=${t} row ${i}`);
          assert.ok(got.subarray(i * ldc + N, (i + 1) * ldc).every(Number.isNaN), `${M}x${N}x${K} threads=${t}: spare columns of row ${i} written`);
        }
      }
    }
  } finally {
    b.setThreads(before);
  }
});

// One pool for all native work (docs/engine.md): OpenBLAS runs single-threaded, large GEMMs are
// split between the pool's threads by rows or columns of C, batches and groups item by item.
// Every element is computed by one sgemm over the whole K (or, for the weight gradients tested
// above, two halves fixed by K alone), so the thread count cannot change a bit.
test('native: GEMMs (single, batched, grouped) and GELU are bit-identical at 1 and 2 threads', { skip: skipNative }, () => {
  const b = loaded.blas!;
  const before = b.threads();
  const r = new Rng(21);
  const rand = (n: number) => Float32Array.from({ length: n }, () => r.normal());
  const atThreads = (t: number, f: () => Float32Array) => {
    b.setThreads(t);
    return f();
  };
  try {
    // Shapes that split by rows (M >= N, or N > M >= 256 with a B of at most 2^20 elements), by
    // columns (N > M with few rows or a larger B), an odd remainder, and transposes.
    for (const [M, N, K, ta, tb] of [
      [1030, 512, 300, false, true],
      [300, 700, 256, false, true],
      [64, 3000, 200, true, false],
      [256, 1200, 1100, true, false],
      [517, 517, 129, true, true],
    ] as const) {
      const A = rand(M * K);
      const B = rand(N * K);
      const gemm = () => {
        const C = new Float32Array(M * N).fill(1);
        NK!.gemm(ta, tb, M, N, K, 0.5, A, ta ? M : K, B, tb ? K : N, 0.25, C, N);
        return C;
      };
      const one = atThreads(1, gemm);
      assert.deepEqual(atThreads(2, gemm), one, `gemm ${M}x${N}x${K}`);
      // and it is the product: spot-check against a float64 sum
      for (let s = 0; s < 20; s++) {
        const i = Math.floor(r.uniform() * M);
        const j = Math.floor(r.uniform() * N);
        let acc = 0;
        for (let k = 0; k < K; k++) acc += (ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
        assert.ok(Math.abs(one[i * N + j] - (0.5 * acc + 0.25)) <= 1e-4 * (1 + Math.abs(acc)), `gemm ${M}x${N}x${K} at ${i},${j}`);
      }
    }
    // A batch of attention-sized products, and expert groups of unequal sizes.
    const [bn, m, n, k] = [48, 96, 96, 64];
    const A = rand(bn * m * k);
    const B = rand(bn * n * k);
    const batched = () => {
      const C = new Float32Array(bn * m * n);
      NK!.gemmBatched(false, true, m, n, k, 1, A, k, m * k, B, k, n * k, 0, C, n, m * n, bn);
      return C;
    };
    assert.deepEqual(atThreads(2, batched), atThreads(1, batched), 'gemmBatched');
    const [E, D, F] = [8, 128, 512];
    const rows = [300, 0, 77, 512, 45, 260, 16, 301];
    const X = rand(rows.reduce((a, x) => a + x, 0) * D);
    const W = rand(E * F * D);
    const G = new Int32Array(6 * E);
    for (let e = 0, off = 0; e < E; off += rows[e], e++) G.set([rows[e], F, D, off * D, e * F * D, off * F], 6 * e);
    const grouped = () => {
      const C = new Float32Array((X.length / D) * F);
      NK!.gemmGrouped(false, true, G, 1, X, D, W, D, 0, C, F);
      return C;
    };
    assert.deepEqual(atThreads(2, grouped), atThreads(1, grouped), 'gemmGrouped');
    const x = rand(300_000);
    const geluAll = () => {
      const y = new Float32Array(x.length);
      NK!.unary(UnaryOp.Gelu, y, x);
      return y;
    };
    const g1 = atThreads(1, geluAll);
    assert.deepEqual(atThreads(2, geluAll), g1, 'gelu');
    // The AVX-512 GELU (16 lanes) computes the twin's function.
    const want = new Float32Array(x.length);
    T.unary(UnaryOp.Gelu, want, x);
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(g1[i] - want[i]) <= 2e-6 * (1 + Math.abs(x[i])), `gelu(${x[i]}): ${g1[i]} vs ${want[i]}`);
  } finally {
    b.setThreads(before);
  }
});

test('native: training kernels split between threads give bit for bit what one thread gives, and agree with the twin', { skip: skipNative }, () => {
  const b = loaded.blas!;
  const before = b.threads();
  const r = new Rng(22);
  const rand = (n: number) => Float32Array.from({ length: n }, () => r.normal());
  // Each case runs the native kernel on fresh copies of its inputs at 1 and at 2 threads, and the
  // twin once; it returns every buffer the kernel writes. Sizes are above the threading threshold.
  const cases: Record<string, { run: (k: Kernels) => (Float32Array | Uint8Array | number)[]; tol: number }> = {};
  const [R, C] = [2053, 256]; // an odd row count: ranges split unevenly
  const x = rand(R * C);
  const dy = rand(R * C);
  const gamma = rand(C);
  cases.unaryBackward = {
    run: (k) => {
      const dx = new Float32Array(x.length);
      k.unaryBackward(UnaryOp.Gelu, dx, x, dy);
      return [dx];
    },
    tol: 1e-5,
  };
  cases['sumAxis (bias gradient)'] = {
    run: (k) => {
      const out = new Float32Array(C);
      k.sumAxis(out, dy, 1, R, C);
      return [out];
    },
    tol: 1e-4,
  };
  // Few slabs: on 1 thread each is summed whole, on 2 each slab's chunks of rows are split; the
  // chunks are the same, so the sums are too.
  const slabs = rand(3 * 1000 * 40);
  cases['sumAxis (three slabs of column sums)'] = {
    run: (k) => {
      const out = new Float32Array(3 * 40);
      k.sumAxis(out, slabs, 3, 1000, 40);
      return [out];
    },
    tol: 1e-4,
  };
  const squares = rand(300_001); // five chunks and a bit
  cases.sumSquares = { run: (k) => [k.sumSquares(squares)], tol: 1e-9 };
  cases['sumAxis (row sums)'] = {
    run: (k) => {
      const out = new Float32Array(R);
      k.sumAxis(out, dy, R, C, 1);
      return [out];
    },
    tol: 1e-4,
  };
  cases.expandAxis = {
    run: (k) => {
      const out = new Float32Array(R * C);
      k.expandAxis(out, gamma, 1, R, C);
      return [out];
    },
    tol: 0,
  };
  cases.transpose = {
    run: (k) => {
      const out = new Float32Array(x.length - 64 * 5);
      k.transpose(out, x, 31, 64, 4, 64 / 4 - 1); // (B, T, H, D) -> (B, H, T, D), with odd sizes
      return [out];
    },
    tol: 0,
  };
  const mean = rand(R);
  const rstd = Float32Array.from({ length: R }, (_, i) => 0.5 + (i % 7) / 7);
  cases.layerNormBackward = {
    run: (k) => {
      const dx = new Float32Array(R * C);
      const dg = Float32Array.from({ length: C }, (_, i) => i / C);
      const db = Float32Array.from({ length: C }, (_, i) => -i / C);
      k.layerNormBackward(dx, dg, db, dy, x, mean, rstd, gamma, R, C);
      return [dx, dg, db];
    },
    tol: 1e-3,
  };
  const mask = Float32Array.from({ length: 2 * C }, (_, i) => (i % C > C - 30 && i >= C ? -Infinity : 0));
  const maskRow = Int32Array.from({ length: R }, (_, i) => i % 2);
  cases['softmax and its backward'] = {
    run: (k) => {
      const y = new Float32Array(R * C);
      k.softmax(y, x, R, C, mask, maskRow, false);
      const dx = new Float32Array(R * C);
      k.softmaxBackward(dx, y, dy, R, C, false);
      return [y, dx];
    },
    tol: 1e-5,
  };
  const targets = Int32Array.from({ length: R }, (_, i) => (i % 11 === 0 ? -100 : (i * 7) % C));
  cases['crossEntropy and its backward'] = {
    run: (k) => {
      const lse = new Float32Array(R);
      const total = k.crossEntropy(lse, x, targets, R, C, -100, 0.1);
      const d = new Float32Array(R * C);
      k.crossEntropyBackward(d, x, lse, targets, R, C, -100, 0.1, 1 / R);
      return [lse, total, d];
    },
    tol: 1e-4,
  };
  const idx = Int32Array.from({ length: R }, (_, i) => (i * 13) % 97); // repeated rows
  cases['gatherRows and scatterAddRows'] = {
    run: (k) => {
      const g = new Float32Array(R * C);
      k.gatherRows(g, x, idx, C);
      const s = Float32Array.from({ length: 97 * C }, (_, i) => i / 1000);
      k.scatterAddRows(s, dy, idx, C);
      return [g, s];
    },
    tol: 1e-4,
  };
  // Sorted runs of uneven length (as the experts' rows), and every row once: split by rows.
  const runs = Int32Array.from({ length: R }, (_, i) => Math.floor(Math.sqrt(i * 40)));
  const perm = Int32Array.from({ length: R }, (_, i) => (i * 37) % R); // each row once (R, 37 coprime)
  cases['scatterAddRows (sorted runs, then each row once)'] = {
    run: (k) => {
      const s = Float32Array.from({ length: (runs[R - 1] + 1) * C }, (_, i) => i / 1000);
      k.scatterAddRows(s, dy, runs, C);
      const u = Float32Array.from({ length: R * C }, (_, i) => -i / 1000);
      k.scatterAddRows(u, dy, perm, C);
      return [s, u];
    },
    tol: 1e-4,
  };
  // zeroFirst on garbage (NaN) outputs: split by output rows (each row once), by columns
  // (repeated rows), and a table far larger than the rows added (an embedding's gradient).
  cases['scatter-adds into zeroed outputs'] = {
    run: (k) => {
      const a = new Float32Array(R * C + 5).fill(Number.NaN);
      k.scatterAddRows(a, dy, perm, C, true);
      const b = new Float32Array(97 * C).fill(Number.NaN);
      k.scatterAddRows(b, dy, idx, C, true);
      const t = new Float32Array(5000 * C).fill(Number.NaN);
      k.scatterAddRows(t, dy.subarray(0, 300 * C), idx.subarray(0, 300), C, true);
      const w = new Float32Array(R * C).fill(Number.NaN);
      k.scatterAddRowsScaled(w, dy, x.subarray(0, R), perm, C, true);
      return [a, b, t, w];
    },
    tol: 1e-4,
  };
  // Each row once into half of out's rows (a top-1 dispatch with room to spare): on 2 threads each
  // run's first row is written, not added onto a zeroed row, and the rows no run reaches are
  // zeroed. Compared as bits, so 0 + (-0) must still give +0, as the zeroed row and the twin do.
  const spread = Int32Array.from({ length: R }, (_, i) => ((i * 37) % R) * 2);
  const signed = Float32Array.from(dy, (v, i) => (i % 5 === 0 ? -0 : v));
  const scaleZ = Float32Array.from({ length: R }, (_, i) => (i % 7 === 0 ? 0 : i % 2 ? -0.5 : 1.5));
  cases['scatter-adds into zeroed outputs, half of the rows reached'] = {
    run: (k) => {
      const a = new Float32Array(2 * R * C).fill(Number.NaN);
      k.scatterAddRows(a, signed, spread, C, true);
      const w = new Float32Array(2 * R * C).fill(Number.NaN);
      k.scatterAddRowsScaled(w, signed, scaleZ, spread, C, true);
      return [new Uint8Array(a.buffer), new Uint8Array(w.buffer)];
    },
    tol: 0,
  };
  cases['scatterAddRowsScaled and its backward'] = {
    run: (k) => {
      const scale = Float32Array.from({ length: R }, (_, i) => Math.sin(i));
      const outs: Float32Array[] = [];
      for (const ix of [idx, perm]) {
        const rows = ix === idx ? 97 : R;
        const s = Float32Array.from({ length: rows * C }, (_, i) => i / 1000);
        k.scatterAddRowsScaled(s, dy, scale, ix, C);
        const dsrc = new Float32Array(R * C);
        const dscale = new Float32Array(R);
        k.scatterAddRowsScaledBackward(dsrc, dscale, s, x, scale, ix, C);
        outs.push(s, dsrc, dscale);
      }
      return outs;
    },
    tol: 1e-4,
  };
  cases['dropout and its backward'] = {
    run: (k) => {
      const y = new Float32Array(R * C);
      const m = new Uint8Array(R * C);
      k.dropout(y, m, x, 0.1, 1234);
      const dx = new Float32Array(R * C);
      k.dropoutBackward(dx, dy, m, 0.1);
      return [y, m, dx];
    },
    tol: 1e-6,
  };
  cases['unaryDropout and its backward'] = {
    run: (k) => {
      const y = new Float32Array(R * C);
      const m = new Uint8Array(R * C);
      k.unaryDropout(UnaryOp.Gelu, y, m, x, 0.1, 1234);
      const dx = new Float32Array(R * C);
      k.unaryDropoutBackward(UnaryOp.Gelu, dx, x, dy, m, 0.1);
      return [y, m, dx];
    },
    tol: 1e-5,
  };
  cases.adamw = {
    run: (k) => {
      const p = x.slice();
      const m = dy.slice();
      const v = Float32Array.from(dy, (a) => a * a);
      k.adamw(p, dy, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.01, 0.1, 0.001);
      return [p, m, v];
    },
    tol: 1e-5,
  };
  cases['binaryCol and axpby'] = {
    run: (k) => {
      const out = new Float32Array(R * C);
      k.binaryCol(
        BinaryOp.Div,
        out,
        x,
        Float32Array.from({ length: R }, (_, i) => 1 + i),
        R,
        C,
      );
      const acc = dy.slice();
      k.axpby(acc, 0.5, x, 0.25);
      return [out, acc];
    },
    tol: 1e-6,
  };
  try {
    for (const [name, c] of Object.entries(cases)) {
      b.setThreads(1);
      const one = c.run(NK!);
      b.setThreads(2);
      const two = c.run(NK!);
      assert.deepEqual(two, one, `${name}: 2 threads vs 1`);
      // After 2 ms idle the pool's worker is asleep (it spins 0.1 ms): the calling thread then
      // claims the part the worker has not woken for, and must give the same bits.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
      assert.deepEqual(c.run(NK!), one, `${name}: 2 threads, the worker asleep at the call, vs 1`);
      const twin = c.run(T);
      twin.forEach((w, i) => {
        const got = one[i];
        if (typeof w === 'number') {
          assert.ok(Math.abs((got as number) - w) <= c.tol * (1 + Math.abs(w)), `${name}: output ${i}: ${got} vs twin ${w}`);
          return;
        }
        const g = got as Float32Array | Uint8Array;
        for (let j = 0; j < w.length; j++) {
          const ok = g[j] === w[j] || Math.abs(g[j] - w[j]) <= c.tol * (1 + Math.abs(w[j]));
          if (!ok) assert.fail(`${name}: output ${i} [${j}]: native ${g[j]} vs twin ${w[j]}`);
        }
      });
    }
  } finally {
    b.setThreads(before);
  }
});
