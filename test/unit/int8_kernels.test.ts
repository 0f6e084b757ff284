// int8 kernels: the packed layout and the quantizers (engine/int8.ts) against values worked out
// by hand; gemmI8 against a naive exact reference on the unpacked weights, on the TypeScript
// twin and on every native int8 path (AMX, AVX-512 VNNI, AVX-VNNI, AVX2, scalar: whichever this
// build and CPU have), with extreme values (±127 everywhere) that would expose a saturating
// AVX2 pair sum; linearI8 and quantizeRowsI8 native against the twin bit for bit; thread-count
// independence; argument validation. Native cases are skipped, with the reason shown, when the
// addon is not built.

import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { UnaryOp } from '../../src/engine/kernels.js';
import type { Kernels } from '../../src/engine/kernels.js';
import { tsKernels } from '../../src/engine/kernels_ts.js';
import { loadNativeKernels } from '../../src/engine/kernels_native.js';
import { blas } from '../../src/engine/backend.js';
import { dequantizeI8, packI8, packedLengthI8, padKI8, padNI8, quantizeWeightsI8, roundHalfEven } from '../../src/engine/int8.js';
import { Rng } from '../../src/engine/rng.js';
import { ROOT } from '../helpers.js';

const loaded = loadNativeKernels();
const NK = loaded.kernels;
const skipNative: string | false = NK ? false : `native addon unavailable: ${loaded.error}`;
const T = tsKernels;
const ISAS: string[] = loaded.int8?.isas() ?? [];

/** Runs fn(kernels, label) on the TS twin and on the native kernels with each int8 path selected. */
function eachBackend(fn: (k: Kernels, label: string) => void): void {
  fn(T, 'ts');
  if (!NK || !loaded.int8) return;
  const prev = loaded.int8.isa();
  try {
    for (const isa of ISAS) {
      loaded.int8.setIsa(isa);
      fn(NK, `native/${isa}`);
    }
  } finally {
    loaded.int8.setIsa(prev);
  }
}

/** Random int8 values in [lo, hi]. */
function randI8(rng: Rng, n: number, lo = -127, hi = 127): Int8Array {
  const a = new Int8Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + rng.int(hi - lo + 1);
  return a;
}

function randn(rng: Rng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * rng.normal();
  return a;
}

/**
 * A [M, lda] and W [N, K] in [-127, 127], with rows of ±127 (A row 0 = +127, row 1 = -127;
 * W row 0 = -127, row 1 = +127, row 2 alternating) and garbage in A's columns K..lda.
 */
function operands(seed: number, M: number, N: number, K: number, lda: number): { A: Int8Array; W: Int8Array } {
  const rng = new Rng(seed);
  const A = randI8(rng, M * lda, -128, 127); // columns >= K meet W's zero padding: any value
  for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) if (A[m * lda + k] === -128) A[m * lda + k] = -127;
  const W = randI8(rng, N * K);
  for (let k = 0; k < K; k++) {
    if (M > 0) A[k] = 127;
    if (M > 1) A[lda + k] = -127;
    if (N > 0) W[k] = -127;
    if (N > 1) W[K + k] = 127;
    if (N > 2) W[2 * K + k] = k % 2 ? 127 : -127;
  }
  return { A, W };
}

/** The exact reference: acc[m, n] = sum_{k < K} A[m, k] W[n, k]. */
function naiveGemm(M: number, N: number, K: number, A: Int8Array, lda: number, W: Int8Array): Int32Array {
  const acc = new Int32Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += A[m * lda + k] * W[n * K + k];
      acc[m * N + n] = s;
    }
  return acc;
}

function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>, n = b.length): number {
  for (let i = 0; i < n; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

function assertSame(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string, n = expected.length): void {
  const i = firstDiff(actual, expected, n);
  if (i >= 0) assert.fail(`${label}: element ${i}: got ${actual[i]}, expected ${expected[i]}`);
}

// ================================================================== layout and quantizers (TS)
test('packI8: the I8P layout on a hand-checked 3 x 5 weight', () => {
  // W[n, k] = 10 n + k + 1: row 0 = 1..5, row 1 = 11..15, row 2 = 21..25
  const W = new Int8Array([1, 2, 3, 4, 5, 11, 12, 13, 14, 15, 21, 22, 23, 24, 25]);
  const p = packI8(W, 3, 5);
  assert.equal(p.length, 16 * 64); // Np = 16, Kp = 64: one block
  // byte g*64 + j*4 + t holds W[j, 4g + t]: k 0..3 are group 0, k 4 is group 1, t 0
  const expected = new Int8Array(1024);
  expected.set([1, 2, 3, 4], 0); // j = 0, g = 0
  expected.set([11, 12, 13, 14], 4); // j = 1
  expected.set([21, 22, 23, 24], 8); // j = 2
  expected[64] = 5; // W[0, 4]: g = 1, j = 0, t = 0
  expected[68] = 15; // W[1, 4]
  expected[72] = 25; // W[2, 4]
  assertSame(p, expected, 'packed bytes');
});

test('packI8: sizes, block order and zero padding', () => {
  assert.equal(padKI8(1), 64);
  assert.equal(padKI8(64), 64);
  assert.equal(padKI8(65), 128);
  assert.equal(padNI8(17), 32);
  assert.equal(packedLengthI8(17, 65), 32 * 128);
  assert.equal(packedLengthI8(0, 5), 0);
  // N = 17, K = 65: blocks (nb, kb) at (nb * 2 + kb) * 1024
  const N = 17;
  const K = 65;
  const W = new Int8Array(N * K);
  for (let i = 0; i < W.length; i++) W[i] = (i % 200) - 100 || 1;
  const p = packI8(W, N, K);
  assert.equal(p.length, 4096);
  const at = (n: number, k: number) => p[((n >> 4) * 2 + (k >> 6)) * 1024 + ((k >> 2) & 15) * 64 + (n & 15) * 4 + (k & 3)];
  let nonzero = 0;
  for (let n = 0; n < 32; n++)
    for (let k = 0; k < 128; k++) {
      const v = at(n, k);
      assert.equal(v, n < N && k < K ? W[n * K + k] : 0, `W[${n}, ${k}]`);
      if (v !== 0) nonzero++;
    }
  assert.equal(nonzero, N * K);
  // W[16, 64] (last row, last column) sits in block (1, 1), group 0, column 0, t 0
  assert.equal(p[3 * 1024], W[16 * K + 64]);
  assert.throws(() => packI8(new Int8Array(3), 2, 2), RangeError);
});

test('roundHalfEven: ties go to the even neighbour', () => {
  const cases: [number, number][] = [
    [0.5, 0],
    [1.5, 2],
    [2.5, 2],
    [-0.5, 0],
    [-1.5, -2],
    [-63.5, -64],
    [31.75, 32],
    [126.5, 126],
    [2.4999999, 2],
    [-2.5000001, -3],
  ];
  for (const [x, r] of cases) assert.equal(roundHalfEven(x), r, `roundHalfEven(${x})`);
});

test('quantizeWeightsI8: values worked out by hand, zero rows, ties, dequantization', () => {
  const W = new Float32Array([
    1,
    -0.5,
    0.25,
    0, // absmax 1: inv 127; q 127, -63.5 -> -64, 31.75 -> 32, 0
    0,
    0,
    0,
    0, // zero row: scale 0, q 0
    0.5,
    -2,
    1.5,
    0.125, // absmax 2: inv 63.5; q 31.75 -> 32, -127, 95.25 -> 95, 7.9375 -> 8
    254,
    1,
    3,
    -5, // absmax 254: inv 0.5; q 127, 0.5 -> 0, 1.5 -> 2, -2.5 -> -2
  ]);
  const { q, scale } = quantizeWeightsI8(W, 4, 4);
  assertSame(q, new Int8Array([127, -64, 32, 0, 0, 0, 0, 0, 32, -127, 95, 8, 127, 0, 2, -2]), 'q');
  assertSame(scale, new Float32Array([1 / 127, 0, 2 / 127, 2]), 'scale');
  assert.equal(scale[0], Math.fround(1 / 127));
  const w = dequantizeI8(q, scale, 4, 4);
  assert.equal(w[1], Math.fround(-64 * Math.fround(1 / 127)));
  assert.equal(w[14], 4);
  assert.equal(w[5], 0);
  // |q| <= 127 always, and dequantized weights are within half a step
  const rng = new Rng(3);
  const R = randn(rng, 50 * 37, 3);
  const r = quantizeWeightsI8(R, 50, 37);
  const d = dequantizeI8(r.q, r.scale, 50, 37);
  for (let i = 0; i < R.length; i++) {
    assert.ok(r.q[i] >= -127 && r.q[i] <= 127);
    assert.ok(Math.abs(d[i] - R[i]) <= 0.5 * r.scale[Math.floor(i / 37)] * (1 + 1e-6) + 1e-12, `element ${i}`);
  }
});

test('quantizeWeightsI8: a weight that is not finite throws, naming the row', () => {
  const W = new Float32Array([1, 2, 3, 4, Number.NaN, 6]);
  assert.throws(
    () => quantizeWeightsI8(W, 2, 3),
    (e: unknown) => e instanceof RangeError && /row 1\b/.test((e as Error).message),
  );
  W[4] = Number.POSITIVE_INFINITY;
  assert.throws(() => quantizeWeightsI8(W, 2, 3), /row 1\b/);
});

// ============================================================================ gemmI8 exactness
test('gemmI8: exact against a naive reference, every backend and int8 path', () => {
  const Ms = [1, 3, 16, 33, 130];
  const Ns = [1, 5, 16, 17, 64, 100];
  const Ks = [1, 63, 64, 65, 256];
  const cases: { M: number; N: number; K: number; lda: number; A: Int8Array; Wp: Int8Array; ref: Int32Array }[] = [];
  for (const M of Ms)
    for (const N of Ns)
      for (const K of Ks) {
        const Kp = padKI8(K);
        const lda = Kp + (M % 2 ? 3 : 0); // odd M: unaligned rows
        const { A, W } = operands(M * 1000 + N * 10 + K, M, N, K, lda);
        cases.push({ M, N, K, lda, A, Wp: packI8(W, N, K), ref: naiveGemm(M, N, K, A, lda, W) });
      }
  eachBackend((k, label) => {
    for (const c of cases) {
      const acc = new Int32Array(c.M * c.N).fill(0x5a5a5a5a);
      k.gemmI8(c.M, c.N, padKI8(c.K), c.A, c.lda, c.Wp, acc);
      assertSame(acc, c.ref, `${label} gemmI8 M=${c.M} N=${c.N} K=${c.K}`);
    }
  });
});

test('gemmI8: all operands at ±127 (the sums AVX2 must not saturate)', () => {
  for (const [M, N, K] of [
    [5, 20, 256],
    [40, 33, 1024],
  ]) {
    const Kp = padKI8(K);
    for (const [a, w] of [
      [127, 127],
      [-127, -127],
      [127, -127],
      [-127, 127],
    ]) {
      const A = new Int8Array(M * Kp).fill(a);
      const Wp = packI8(new Int8Array(N * K).fill(w), N, K);
      const ref = new Int32Array(M * N).fill(a * w * K);
      eachBackend((k, label) => {
        const acc = new Int32Array(M * N);
        k.gemmI8(M, N, Kp, A, Kp, Wp, acc);
        assertSame(acc, ref, `${label} A=${a} W=${w} M=${M} N=${N} K=${K}`);
      });
    }
  }
});

test('gemmI8: M or N = 0 writes nothing; Kp = 0 gives zeros', () => {
  eachBackend((k, label) => {
    const acc = new Int32Array(4).fill(7);
    k.gemmI8(0, 4, 64, new Int8Array(0), 64, new Int8Array(1024), acc);
    k.gemmI8(4, 0, 64, new Int8Array(256), 64, new Int8Array(0), acc);
    assertSame(acc, new Int32Array(4).fill(7), `${label} empty`);
    k.gemmI8(2, 2, 0, new Int8Array(0), 0, new Int8Array(0), acc);
    assertSame(acc, new Int32Array(4), `${label} Kp = 0`);
  });
});

// ============================================================== quantizeRowsI8 (native == TS)
/** Rows exercising ties, zeros, -0, tiny and non-finite values, then random ones. */
function activationRows(rng: Rng, rows: number, cols: number): Float32Array {
  const x = randn(rng, rows * cols, 2);
  const special: ((j: number) => number)[] = [
    (j) => (j === 0 ? 127 : (j % 200) - 99.5), // absmax 127, inv 1: every other value a tie
    (j) => (j === 0 ? -254 : (j % 9) - 4.5), // inv 0.5: ties at odd integers
    () => 0,
    (j) => (j % 2 ? -0 : 0),
    (j) => (j === cols - 1 ? Number.NaN : j),
    (j) => (j === 0 ? Number.NEGATIVE_INFINITY : 1),
    (j) => (j === 0 ? 1e-38 : 0), // 127 / absmax overflows: a zero row
    (j) => (j % 3) * 1e-30,
    (j) => (j === cols >> 1 ? 3.5 : 0.5 * (j % 8)),
  ];
  for (let r = 0; r < Math.min(rows, special.length); r++) for (let j = 0; j < cols; j++) x[r * cols + j] = special[r](j);
  return x;
}

test('quantizeRowsI8: native equals the TS twin bit for bit, padding zeroed', { skip: skipNative }, () => {
  for (const cols of [1, 7, 16, 33, 130, 1000]) {
    for (const pad of [0, 5, 64]) {
      const rows = 23;
      const ldq = cols + pad;
      const x = activationRows(new Rng(cols * 7 + pad), rows, cols);
      const run = (k: Kernels) => {
        const q = randI8(new Rng(99), rows * ldq, -128, 127); // garbage: every byte must be written
        const s = new Float32Array(rows).fill(123);
        k.quantizeRowsI8(q, s, x, rows, cols, ldq);
        return { q, s };
      };
      const t = run(T);
      const n = run(NK!);
      const label = `quantizeRowsI8 cols=${cols} ldq=${ldq}`;
      assertSame(n.s, t.s, `${label} scale`);
      assertSame(n.q, t.q, `${label} q`);
      // the TS twin itself: padding 0, |q| <= 127, special rows as the contract says
      for (let r = 0; r < rows; r++) for (let j = cols; j < ldq; j++) assert.equal(t.q[r * ldq + j], 0, `${label} padding`);
      for (const v of t.q) assert.ok(v >= -127);
      assert.equal(t.s[0], Math.fround(127 / 127));
      assert.equal(t.s[2], 0);
      assert.equal(t.s[3], 0);
      if (cols > 1) assert.ok(Number.isNaN(t.s[4]), `${label}: a NaN row has scale NaN`);
      assert.ok(Number.isNaN(t.s[5]), `${label}: an infinite row has scale NaN`);
      assert.equal(t.s[6], 0, `${label}: a vanishing row is a zero row`);
      for (let j = 0; j < cols; j++) {
        assert.equal(t.q[5 * ldq + j], 0);
        assert.equal(t.q[6 * ldq + j], 0);
      }
      if (cols >= 4) {
        assert.equal(t.q[1], -98, `${label}: -98.5 rounds to -98`); // row 0, j = 1: (1 % 200) - 99.5
        assert.equal(t.q[ldq + 1], -2, `${label}: -3.5 * 0.5 = -1.75 -> -2`);
      }
    }
  }
});

test('quantizeRowsI8: large inputs (threaded natively) match the twin', { skip: skipNative }, () => {
  const rows = 700;
  const cols = 1000;
  const x = activationRows(new Rng(5), rows, cols);
  const out = [T, NK!].map((k) => {
    const q = new Int8Array(rows * 1024).fill(77);
    const s = new Float32Array(rows);
    k.quantizeRowsI8(q, s, x, rows, cols, 1024);
    return { q, s };
  });
  assertSame(out[1].s, out[0].s, 'scale');
  assertSame(out[1].q, out[0].q, 'q');
});

// ============================================================================== linearI8
interface LinCase {
  M: number;
  N: number;
  K: number;
  Kp: number;
  qa: Int8Array;
  sa: Float32Array;
  Wp: Int8Array;
  sw: Float32Array;
  bias: Float32Array | null;
  x: Float32Array;
  w: Float32Array;
  qw: Int8Array;
}

function linCase(seed: number, M: number, N: number, K: number, withBias: boolean): LinCase {
  const rng = new Rng(seed);
  const Kp = padKI8(K);
  const x = randn(rng, M * K);
  const w = randn(rng, N * K, 0.05);
  if (M > 2) x.fill(0, K, 2 * K); // a zero activation row: scale 0
  const { q: qw, scale: sw } = quantizeWeightsI8(w, N, K);
  const qa = new Int8Array(M * Kp);
  const sa = new Float32Array(M);
  T.quantizeRowsI8(qa, sa, x, M, K, Kp);
  const bias = withBias ? randn(rng, N, 0.5) : null;
  return { M, N, K, Kp, qa, sa, Wp: packI8(qw, N, K), sw, bias, x, w, qw };
}

function runLinear(k: Kernels, c: LinCase, act: number): Float32Array {
  const out = new Float32Array(c.M * c.N).fill(Number.NaN);
  k.linearI8(c.M, c.N, c.Kp, c.qa, c.Kp, c.sa, c.Wp, c.sw, c.bias, out, act);
  return out;
}

const LIN_SHAPES: [number, number, number][] = [
  [1, 5, 63],
  [3, 17, 64],
  [33, 100, 65],
  [130, 64, 256],
  [64, 2, 1024],
  [300, 300, 256], // threaded natively (rows)
  [20, 2048, 1024], // threaded natively (columns)
];

test('linearI8 (no activation): native equals the TS twin bit for bit, every int8 path', { skip: skipNative }, () => {
  for (const [M, N, K] of LIN_SHAPES) {
    for (const withBias of [true, false]) {
      const c = linCase(M + N + K, M, N, K, withBias);
      const ref = runLinear(T, c, -1);
      eachBackend((k, label) => {
        if (k === T) return;
        assertSame(runLinear(k, c, -1), ref, `${label} linearI8 M=${M} N=${N} K=${K} bias=${withBias}`);
      });
    }
  }
});

test('linearI8 with a fused activation: as `unary` computes it, every int8 path', { skip: skipNative }, () => {
  // The native activations are float32 approximations (Eigen's erf: ~1e-7 absolute), the same
  // tolerances as the unary parity test in kernels.test.ts; ReLU is exact.
  const tols: Record<number, { rel: number; abs: number }> = {
    [UnaryOp.Gelu]: { rel: 1e-5, abs: 2e-6 },
    [UnaryOp.Relu]: { rel: 0, abs: 0 },
    [UnaryOp.Tanh]: { rel: 1e-5, abs: 1e-6 },
    [UnaryOp.GeluTanh]: { rel: 1e-5, abs: 1e-6 },
  };
  for (const [M, N, K] of LIN_SHAPES.slice(0, 5)) {
    const c = linCase(M * 3 + N + K, M, N, K, true);
    const pre = runLinear(T, c, -1);
    for (const act of [UnaryOp.Gelu, UnaryOp.Relu, UnaryOp.Tanh, UnaryOp.GeluTanh]) {
      const ref = runLinear(T, c, act);
      // the TS twin applies exactly `unary` to the pre-activation
      const viaUnary = new Float32Array(pre.length);
      T.unary(act, viaUnary, pre);
      assertSame(ref, viaUnary, `ts linearI8 act=${act} vs unary`);
      eachBackend((k, label) => {
        if (k === T) return;
        const got = runLinear(k, c, act);
        const tol = tols[act];
        for (let i = 0; i < ref.length; i++) {
          const err = Math.abs(got[i] - ref[i]);
          assert.ok(err <= tol.abs + tol.rel * Math.abs(ref[i]), `${label} act=${act} M=${M} N=${N} K=${K} [${i}]: ${got[i]} vs ${ref[i]}`);
        }
        // and exactly what the native unary kernel gives on the native pre-activation
        const nativePre = runLinear(k, c, -1);
        const nativeAct = new Float32Array(pre.length);
        k.unary(act, nativeAct, nativePre);
        assertSame(got, nativeAct, `${label} act=${act} vs native unary`);
      });
    }
  }
});

test('linearI8Requant: linearI8 then quantizeRowsI8, bit for bit, on each backend and every int8 path', { skip: skipNative }, () => {
  for (const [M, N, K] of LIN_SHAPES) {
    const c = linCase(M * 5 + N + K, M, N, K, true);
    const ldq = padKI8(N);
    for (const act of [-1, UnaryOp.Gelu, UnaryOp.Relu]) {
      eachBackend((k, label) => {
        const q = new Int8Array(M * ldq).fill(99);
        const qs = new Float32Array(M).fill(Number.NaN);
        k.linearI8Requant(c.M, c.N, c.Kp, c.qa, c.Kp, c.sa, c.Wp, c.sw, c.bias, act, q, qs, ldq);
        const wantQ = new Int8Array(M * ldq);
        const wantS = new Float32Array(M);
        k.quantizeRowsI8(wantQ, wantS, runLinear(k, c, act), M, N, ldq);
        assert.deepEqual(q, wantQ, `${label} act=${act} M=${M} N=${N} K=${K}: values`);
        assertSame(qs, wantS, `${label} act=${act} M=${M} N=${N} K=${K}: scales`);
      });
    }
  }
});

test('linearI8: close to the fp32 linear layer on the dequantized operands, and to the unquantized one', () => {
  const c = linCase(11, 40, 70, 200, true);
  const xd = new Float32Array(c.M * c.K);
  for (let m = 0; m < c.M; m++) for (let k = 0; k < c.K; k++) xd[m * c.K + k] = c.qa[m * c.Kp + k] * c.sa[m];
  const wd = dequantizeI8(c.qw, c.sw, c.N, c.K);
  eachBackend((k, label) => {
    const y = runLinear(k, c, -1);
    let errDq = 0;
    let errFp = 0;
    let norm = 0;
    for (let m = 0; m < c.M; m++)
      for (let n = 0; n < c.N; n++) {
        let sDq = c.bias![n];
        let sFp = c.bias![n];
        for (let j = 0; j < c.K; j++) {
          sDq += xd[m * c.K + j] * wd[n * c.K + j];
          sFp += c.x[m * c.K + j] * c.w[n * c.K + j];
        }
        const v = y[m * c.N + n];
        errDq = Math.max(errDq, Math.abs(v - sDq));
        errFp += (v - sFp) ** 2;
        norm += sFp ** 2;
      }
    // the same real numbers, up to float32 rounding of the scales and the result
    assert.ok(errDq <= 1e-5, `${label}: max |int8 - fp32(dequantized)| = ${errDq}`);
    const rel = Math.sqrt(errFp / norm);
    assert.ok(rel < 0.02, `${label}: relative error against fp32 ${rel}`);
  });
});

// ====================================================================== threads and paths
test('gemmI8 / linearI8: the same results with 1 and 2 threads, every int8 path', { skip: skipNative }, () => {
  const prev = blas.threads();
  try {
    for (const [M, N, K] of [
      [1000, 300, 256],
      [20, 2048, 1024],
      [77, 40, 2000],
    ]) {
      const Kp = padKI8(K);
      const { A, W } = operands(M + N, M, N, K, Kp);
      const Wp = packI8(W, N, K);
      const ref = naiveGemm(M, N, K, A, Kp, W);
      const c = linCase(M * 2 + N, M, N, K, true);
      const lin = runLinear(T, c, -1);
      for (const threads of [1, 2]) {
        blas.setThreads(threads);
        eachBackend((k, label) => {
          if (k === T) return;
          const acc = new Int32Array(M * N);
          k.gemmI8(M, N, Kp, A, Kp, Wp, acc);
          assertSame(acc, ref, `${label} threads=${threads} gemmI8 M=${M} N=${N} K=${K}`);
          assertSame(runLinear(k, c, -1), lin, `${label} threads=${threads} linearI8 M=${M} N=${N} K=${K}`);
        });
      }
    }
  } finally {
    blas.setThreads(prev);
  }
});

test('int8 paths: listed best first, selectable, unknown names rejected', { skip: skipNative }, () => {
  const c = loaded.int8!;
  assert.ok(ISAS.length >= 1 && ISAS.at(-1) === 'scalar', `paths: ${ISAS.join(', ')}`);
  for (const isa of ISAS) assert.ok(['amx', 'avx512vnni', 'avxvnni', 'avx2', 'scalar'].includes(isa), isa);
  if (process.env.PATHWISE_INT8_ISA === undefined) assert.equal(c.isa(), ISAS[0]);
  const prev = c.isa();
  try {
    c.setIsa('scalar');
    assert.equal(c.isa(), 'scalar');
    assert.throws(
      () => c.setIsa('sse9'),
      (e: unknown) => e instanceof RangeError && /pathwise\.setInt8Isa: "sse9"/.test((e as Error).message),
    );
    assert.equal(c.isa(), 'scalar');
  } finally {
    c.setIsa(prev);
  }
});

test('PATHWISE_INT8_ISA picks the initial path; an unavailable one makes the int8 GEMMs throw', { skip: skipNative }, () => {
  const addon = join(ROOT, 'build', 'Release', 'pathwise.node');
  const probe = `
    const a = require(${JSON.stringify(addon)});
    let isa, gemm;
    try { isa = a.int8Isa(); } catch (e) { isa = e.name + ': ' + e.message; }
    try { a.gemmI8(1, 1, 64, new Int8Array(64), 64, new Int8Array(1024), new Int32Array(1)); gemm = 'ok'; } catch (e) { gemm = e.name + ': ' + e.message; }
    a.setInt8Isa('scalar');
    console.log(JSON.stringify({ isa, gemm, after: a.int8Isa() }));`;
  const run = (value: string) => {
    const r = spawnSync(process.execPath, ['-e', probe], { env: { ...process.env, PATHWISE_INT8_ISA: value }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim()) as { isa: string; gemm: string; after: string };
  };
  const ok = run('scalar');
  assert.deepEqual(ok, { isa: 'scalar', gemm: 'ok', after: 'scalar' });
  const bad = run('mmx');
  assert.match(bad.isa, /^RangeError: pathwise\.int8Isa: PATHWISE_INT8_ISA=mmx is not an int8 path/);
  assert.match(bad.gemm, /^RangeError: pathwise\.gemmI8: PATHWISE_INT8_ISA=mmx/);
  assert.equal(bad.after, 'scalar');
});

// ============================================================================== validation
test('int8 kernels reject bad arguments before writing, naming the kernel (both backends)', () => {
  const M = 3;
  const N = 20;
  const Kp = 128;
  const A = new Int8Array(M * Kp);
  const Wp = new Int8Array(32 * Kp);
  const sa = new Float32Array(M);
  const sw = new Float32Array(N);
  const kernels: Kernels[] = NK ? [T, NK] : [T];
  for (const k of kernels) {
    const out = new Float32Array(M * N).fill(Number.NaN);
    const acc = new Int32Array(M * N).fill(9);
    const lin = (over: Partial<Record<string, unknown>>) => () => {
      const a = { M, N, Kp, A, lda: Kp, sa, Wp, sw, bias: null, out, act: -1, ...over } as unknown as Record<string, never>;
      k.linearI8(a.M, a.N, a.Kp, a.A, a.lda, a.sa, a.Wp, a.sw, a.bias, a.out, a.act);
    };
    const err = (type: typeof TypeError | typeof RangeError, kernel: string, what: RegExp) => (e: unknown) =>
      e instanceof type && new RegExp(`^pathwise\\.${kernel}: `).test((e as Error).message) && what.test((e as Error).message);
    assert.throws(lin({ Wp: new Int8Array(32 * Kp - 1) }), err(TypeError, 'linearI8', /Wp is too short/), `${k.name}: short Wp`);
    assert.throws(lin({ Kp: 100, lda: 100 }), err(RangeError, 'linearI8', /multiple of 64/), `${k.name}: Kp % 64`);
    assert.throws(lin({ lda: 64 }), err(RangeError, 'linearI8', /lda/), `${k.name}: lda < Kp`);
    assert.throws(lin({ A: new Uint8Array(M * Kp) }), err(TypeError, 'linearI8', /A must be a Int8Array/), `${k.name}: A type`);
    assert.throws(lin({ Wp: new Float32Array(32 * Kp) }), err(TypeError, 'linearI8', /Wp must be a Int8Array/), `${k.name}: Wp type`);
    assert.throws(lin({ A: new Int8Array(M * Kp - 1) }), err(TypeError, 'linearI8', /A is too short/), `${k.name}: short A`);
    assert.throws(lin({ act: 4 }), err(RangeError, 'linearI8', /act/), `${k.name}: act 4`);
    assert.throws(lin({ act: -2 }), err(RangeError, 'linearI8', /act/), `${k.name}: act -2`);
    assert.throws(lin({ sw: new Float32Array(N - 1) }), err(TypeError, 'linearI8', /sw is too short/), `${k.name}: short sw`);
    assert.throws(lin({ bias: new Float32Array(N - 1) }), err(TypeError, 'linearI8', /bias is too short/), `${k.name}: short bias`);
    assert.throws(lin({ out: new Float32Array(M * N - 1) }), err(TypeError, 'linearI8', /out is too short/), `${k.name}: short out`);
    assert.ok(out.every(Number.isNaN), `${k.name}: out written by a rejected call`);

    assert.throws(() => k.gemmI8(M, N, Kp, A, Kp, Wp.subarray(1), acc), err(TypeError, 'gemmI8', /Wp is too short/));
    assert.throws(() => k.gemmI8(M, N, 96, A, Kp, Wp, acc), err(RangeError, 'gemmI8', /multiple of 64/));
    assert.throws(() => k.gemmI8(M, N, Kp, A, Kp, Wp, new Float32Array(M * N) as never), err(TypeError, 'gemmI8', /acc must be a Int32Array/));
    assert.throws(() => k.gemmI8(M, N, Kp, A, Kp, Wp, acc.subarray(1)), err(TypeError, 'gemmI8', /acc is too short/));
    assert.ok(
      acc.every((v) => v === 9),
      `${k.name}: acc written by a rejected call`,
    );

    const q = new Int8Array(8);
    const s = new Float32Array(2);
    const x = new Float32Array(8);
    assert.throws(() => k.quantizeRowsI8(q, s, x, 2, 4, 3), err(RangeError, 'quantizeRowsI8', /ldq/));
    assert.throws(() => k.quantizeRowsI8(q.subarray(1), s, x, 2, 4, 4), err(TypeError, 'quantizeRowsI8', /q is too short/));
    assert.throws(() => k.quantizeRowsI8(new Uint8Array(8) as never, s, x, 2, 4, 4), err(TypeError, 'quantizeRowsI8', /q must be a Int8Array/));
    assert.throws(() => k.quantizeRowsI8(q, s.subarray(1), x, 2, 4, 4), err(TypeError, 'quantizeRowsI8', /scale is too short/));
  }
});
