// Kernel micro-benchmark: per-kernel time of the native addon and the TypeScript twin at the
// sizes of one Transformer training step (batch 32 x seq 64 = 2048 tokens, d_model 256, FFN
// 1024, 4 heads -> attention softmax 8192 x 64), GEMM throughput, and the per-call overhead of
// the native binding. Prints a table, then one JSON line last.
//
//   npx tsc -p tsconfig.json && node dist/bench/kernels.js [--budget-ms 300] [--no-ts]

import { cpus } from 'node:os';
import { BinaryOp, UnaryOp } from '../src/engine/kernels.js';
import type { Kernels } from '../src/engine/kernels.js';
import { tsKernels } from '../src/engine/kernels_ts.js';
import { loadNativeKernels } from '../src/engine/kernels_native.js';
import { Rng } from '../src/engine/rng.js';
import { benchFlags } from './common.js';

const opt = benchFlags({
  'budget-ms': { type: 'number', default: 300, min: 0 },
  'no-ts': { type: 'boolean' },
});
const BUDGET_MS = opt['budget-ms'];
const RUN_TS = !opt['no-ts'];

const loaded = loadNativeKernels();
const NK = loaded.kernels;
if (!NK) console.warn(`native kernels unavailable: ${loaded.error} (only the TS twin is measured)`);

const rng = new Rng(1234);
function randn(n: number, scale = 1, shift = 0): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = shift + scale * rng.normal();
  return a;
}

/** Median milliseconds per call: warm up, then repeat until the budget is spent (>= 1 timed run). */
function timeMs(fn: () => void, budgetMs = BUDGET_MS, maxReps = 200): number {
  const w0 = performance.now();
  fn();
  const first = performance.now() - w0;
  if (first > budgetMs) return first;
  fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < maxReps && (times.length < 3 || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

interface Row {
  kernel: string;
  shape: string;
  native_ms: number | null;
  ts_ms: number | null;
}
const rows: Row[] = [];

/** Times `run(k)` on both backends (opts.ts = false skips the TS twin). */
function bench(kernel: string, shape: string, run: (k: Kernels) => void, opts: { ts?: boolean } = {}): void {
  const native = NK ? timeMs(() => run(NK)) : null;
  const ts = RUN_TS && opts.ts !== false ? timeMs(() => run(tsKernels), BUDGET_MS, 20) : null;
  rows.push({ kernel, shape, native_ms: native, ts_ms: ts });
  const f = (v: number | null) => (v === null ? '-'.padStart(10) : v.toFixed(3).padStart(10));
  const speedup = native !== null && ts !== null ? `${(ts / native).toFixed(1)}x` : '';
  console.log(`${kernel.padEnd(24)} ${shape.padEnd(26)} ${f(native)} ${f(ts)}   ${speedup}`);
}

console.log(`Pathwise kernel micro-benchmark (${cpus().length} CPUs: ${cpus()[0]?.model ?? '?'})`);
if (loaded.blas) console.log(`BLAS: ${loaded.blas.config()}, threads ${loaded.blas.threads()}; kernels SIMD: ${loaded.simd}`);
console.log(`${'kernel'.padEnd(24)} ${'shape'.padEnd(26)} ${'native ms'.padStart(10)} ${'ts ms'.padStart(10)}   ts/native`);

// ------------------------------------------------------------------------------- elementwise
const R = 2048;
const D = 256;
const F = 1024;
const xF = randn(R * F);
const yF = new Float32Array(R * F);
const dyF = randn(R * F);
const dxF = new Float32Array(R * F);
const biasF = randn(F);
const xD = randn(R * D);
const yD = new Float32Array(R * D);

bench('unary gelu', `${R}x${F}`, (k) => k.unary(UnaryOp.Gelu, yF, xF));
bench('unaryBackward gelu', `${R}x${F}`, (k) => k.unaryBackward(UnaryOp.Gelu, dxF, xF, dyF));
bench('unary geluTanh', `${R}x${F}`, (k) => k.unary(UnaryOp.GeluTanh, yF, xF));
bench('unary relu', `${R}x${F}`, (k) => k.unary(UnaryOp.Relu, yF, xF));
bench('unary tanh', `${R}x${F}`, (k) => k.unary(UnaryOp.Tanh, yF, xF));
bench('binary add', `${R}x${F}`, (k) => k.binary(BinaryOp.Add, yF, xF, dyF, R * F, R * F));
bench('binary add bias', `${R}x${F} + ${F}`, (k) => k.binary(BinaryOp.Add, yF, xF, biasF, R * F, F));
bench('binary mul scalar', `${R}x${D} * 1`, (k) => k.binary(BinaryOp.Mul, yD, xD, biasF, R * D, 1));
bench('binaryCol div', `${R}x${D} / ${R}`, (k) => k.binaryCol(BinaryOp.Div, yD, xD, xF.subarray(0, R), R, D));
bench('axpby', `${R}x${F}`, (k) => k.axpby(yF, 0.5, xF, 0.9));

// ------------------------------------------------------------------------- layout & reduce
const sumOut = new Float32Array(F);
bench('sumAxis (bias grad)', `${R}x${F} -> ${F}`, (k) => k.sumAxis(sumOut, xF, 1, R, F));
const rowOut = new Float32Array(R);
bench('sumAxis (row sums)', `${R}x${F} -> ${R}`, (k) => k.sumAxis(rowOut, xF, R, F, 1));
bench('expandAxis', `${F} -> ${R}x${F}`, (k) => k.expandAxis(yF, biasF, 1, R, F));
const B = 32;
const Tq = 64;
const H = 4;
const Dh = 64;
bench('transpose heads', `(${B},${Tq},${H},${Dh})->(${B},${H},${Tq},${Dh})`, (k) => k.transpose(yD, xD, B, Tq, H, Dh));
bench('transpose 2-D', `${R}x${D}`, (k) => k.transpose(yD, xD, 1, R, D, 1));
bench('sumSquares', `${R}x${F}`, (k) => {
  k.sumSquares(xF);
});

// ------------------------------------------------------------------------------ layer norm
const gamma = randn(D, 0.1, 1);
const beta = randn(D, 0.1);
const mean = new Float32Array(R);
const rstd = new Float32Array(R);
const dgamma = new Float32Array(D);
const dbeta = new Float32Array(D);
const dyD = randn(R * D);
const dxD = new Float32Array(R * D);
bench('layerNorm', `${R}x${D}`, (k) => k.layerNorm(yD, mean, rstd, xD, gamma, beta, R, D, 1e-5));
bench('layerNormBackward', `${R}x${D}`, (k) => k.layerNormBackward(dxD, dgamma, dbeta, dyD, xD, mean, rstd, gamma, R, D));

// --------------------------------------------------------------------------------- softmax
const SR = B * H * Tq;
const SC = Tq;
const sx = randn(SR * SC, 2);
const sy = new Float32Array(SR * SC);
const sdy = randn(SR * SC);
const sdx = new Float32Array(SR * SC);
const causal = new Float32Array(Tq * Tq);
for (let i = 0; i < Tq; i++) for (let j = i + 1; j < Tq; j++) causal[i * Tq + j] = -Infinity;
const maskRow = new Int32Array(SR).map((_, r) => r % Tq);
bench('softmax', `${SR}x${SC}`, (k) => k.softmax(sy, sx, SR, SC, null, null, false));
bench('softmax + causal mask', `${SR}x${SC}`, (k) => k.softmax(sy, sx, SR, SC, causal, maskRow, false));
bench('softmaxBackward', `${SR}x${SC}`, (k) => k.softmaxBackward(sdx, sy, sdy, SR, SC, false));

// --------------------------------------------------------------------------- cross-entropy
const V = 1024;
const targets = new Int32Array(R).map(() => rng.int(V));
const lse = new Float32Array(R);
bench('crossEntropy', `${R}x${V}`, (k) => {
  k.crossEntropy(lse, xF, targets, R, V, -100, 0.1);
});
bench('crossEntropyBackward', `${R}x${V}`, (k) => k.crossEntropyBackward(dxF, xF, lse, targets, R, V, -100, 0.1, 1 / R));

// ------------------------------------------------------------------ gather / scatter / drop
const table = randn(1000 * D);
const tokIdx = new Int32Array(R).map(() => rng.int(1000));
const tableGrad = new Float32Array(1000 * D);
bench('gatherRows', `${R} of 1000x${D}`, (k) => k.gatherRows(yD, table, tokIdx, D));
bench('scatterAddRows', `${R} into 1000x${D}`, (k) => k.scatterAddRows(tableGrad, xD, tokIdx, D));
const dmask = new Uint8Array(R * F);
bench('dropout', `${R}x${F}`, (k) => k.dropout(yF, dmask, xF, 0.1, 42));
bench('dropoutBackward', `${R}x${F}`, (k) => k.dropoutBackward(dxF, dyF, dmask, 0.1));

// ------------------------------------------------------------------------------- optimizer
const P = 800_000;
const pp = randn(P, 0.02);
const pg = randn(P, 0.01);
const pm = new Float32Array(P);
const pv = new Float32Array(P);
bench('adamw', `${P}`, (k) => k.adamw(pp, pg, pm, pv, 1e-3, 0.9, 0.999, 1e-8, 0.01, 0.1, 0.001));

// ------------------------------------------------------------------------ no-grad helpers
const lv = new Float32Array(R * 5);
const li = new Int32Array(R * 5);
bench('argmax', `${R}x${V}`, (k) => k.argmax(li, xF, R, V));
bench('topk k=5', `${R}x${V}`, (k) => k.topk(lv, li, xF, R, V, 5));

// ------------------------------------------------------------------------------------ GEMM
function gemmCase(label: string, M: number, N: number, K: number, tA = false, tB = false): number | null {
  const A = randn(M * K);
  const Bm = randn(K * N);
  const C = new Float32Array(M * N);
  const lda = tA ? M : K;
  const ldb = tB ? K : N;
  const flops = 2 * M * N * K;
  bench(label, `${M}x${N}x${K}${tA ? ' tA' : ''}${tB ? ' tB' : ''}`, (k) => k.gemm(tA, tB, M, N, K, 1, A, lda, Bm, ldb, 0, C, N), { ts: flops <= 1.1e9 });
  const last = rows[rows.length - 1];
  return last.native_ms !== null ? flops / (last.native_ms * 1e6) : null;
}
gemmCase('gemm qkv', R, 3 * D, D);
gemmCase('gemm attn-out', R, D, D);
gemmCase('gemm ffn1', R, F, D);
gemmCase('gemm ffn2', R, D, F);
gemmCase('gemm dW (A^T B)', D, F, R, true, false);
gemmCase('gemm dX (A B^T)', R, D, F, false, true);
{
  const A = randn(B * H * Tq * Dh);
  const Bm = randn(B * H * Tq * Dh);
  const C = new Float32Array(B * H * Tq * Tq);
  bench('gemmBatched scores', `${B * H}x(${Tq}x${Tq}x${Dh}) tB`, (k) =>
    k.gemmBatched(false, true, Tq, Tq, Dh, 0.125, A, Dh, Tq * Dh, Bm, Dh, Tq * Dh, 0, C, Tq, Tq * Tq, B * H),
  );
}
const gflops: Record<string, number | null> = {
  '256^3': gemmCase('gemm', 256, 256, 256),
  '1024^3': gemmCase('gemm', 1024, 1024, 1024),
  '4096x256x1024': gemmCase('gemm', 4096, 256, 1024),
};
console.log(
  `GEMM GFLOP/s (native): ${Object.entries(gflops)
    .map(([k, v]) => `${k} ${v === null ? '-' : v.toFixed(1)}`)
    .join(', ')}`,
);

// ------------------------------------------------------------------------- call overhead
let overheadUs: number | null = null;
if (NK) {
  const a = new Float32Array(8);
  const o = new Float32Array(8);
  const reps = 200_000;
  for (let i = 0; i < 10_000; i++) NK.binary(BinaryOp.Add, o, a, a, 8, 8);
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) NK.binary(BinaryOp.Add, o, a, a, 8, 8);
  const tBin = ((performance.now() - t0) * 1000) / reps;
  const A1 = new Float32Array(1);
  const t1 = performance.now();
  for (let i = 0; i < reps / 4; i++) NK.gemm(false, false, 1, 1, 0, 1, A1, 1, A1, 1, 0, A1, 1);
  const tGemm = ((performance.now() - t1) * 1000) / (reps / 4);
  overheadUs = tBin;
  console.log(`native call overhead: binary(n=8) ${tBin.toFixed(3)} us, gemm(K=0, 13 args) ${tGemm.toFixed(3)} us`);
}

const summary = {
  bench: 'kernels',
  cpus: cpus().length,
  blas: loaded.blas ? loaded.blas.config() : null,
  simd: loaded.simd ?? null,
  blas_threads: loaded.blas ? loaded.blas.threads() : null,
  call_overhead_us: overheadUs === null ? null : Number(overheadUs.toFixed(3)),
  gemm_gflops: Object.fromEntries(Object.entries(gflops).map(([k, v]) => [k, v === null ? null : Number(v.toFixed(1))])),
  kernels: Object.fromEntries(
    rows.map((r) => [
      `${r.kernel} ${r.shape}`,
      {
        native_ms: r.native_ms === null ? null : Number(r.native_ms.toFixed(4)),
        ts_ms: r.ts_ms === null ? null : Number(r.ts_ms.toFixed(3)),
      },
    ]),
  ),
};
console.log(JSON.stringify(summary));
