// Engine benchmark: the training step (forward, backward, AdamW) of one pre-LN encoder block,
// batch 32, sequence 64, d_model 256, 4 heads, FFN 1024, GELU, dropout 0.1, against the same
// block in PyTorch (bench/torch_engine.py) measured in the same run, alternating, with PyTorch
// at its best thread setting for this machine (found by --pick-threads first). Also fp32 GEMM
// throughput. Prints one JSON line last (medians).
//
//   npm run bench:engine [-- --rounds 5 --steps 20]

import { cpus } from 'node:os';
import * as E from '../src/engine/index.js';
import { AdamW, Rng, Tensor, backendName, blas, paddingMask } from '../src/engine/index.js';
import { K } from '../src/engine/backend.js';
import { EncoderBlock } from '../src/nn/index.js';
import { flag, log, median, torchReference } from './common.js';

const ROUNDS = flag('rounds', 5);
const STEPS = flag('steps', 20);
const WARMUP = flag('warmup', 3);
const CFG = { batch: 32, seq: 64, dModel: 256, heads: 4, ffn: 1024, dropout: 0.1 };

// --------------------------------------------------------------------------- Pathwise side
function makeStep() {
  const { batch: B, seq: T, dModel: D } = CFG;
  const rng = new Rng(0);
  const block = new EncoderBlock(
    { dModel: D, heads: CFG.heads, ffn: CFG.ffn, activation: 'gelu', dropout: CFG.dropout, layerNormEps: 1e-5, initStd: 0.02 },
    rng,
  );
  const x = E.randn([B, T, D], rng);
  const target = E.randn([B, T, D], rng);
  // The last T/8 tokens of every other sequence are padding (as on the PyTorch side).
  const keep = new Int32Array(B * T).fill(1);
  for (let b = 1; b < B; b += 2) for (let t = T - T / 8; t < T; t++) keep[b * T + t] = 0;
  const mask = paddingMask(new Tensor(keep, [B, T]));
  const opt = new AdamW(block.parameters(), { lr: 1e-4, weightDecay: 0.01 });
  return () => {
    opt.zeroGrad();
    const loss = E.mse(block.forward(x, mask), target);
    loss.backward();
    opt.step();
    return loss.item();
  };
}

function timeOurs(step: () => number): number {
  for (let i = 0; i < WARMUP; i++) step();
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) step();
  return STEPS / ((performance.now() - t0) / 1000);
}

function gemmGflops(M: number, K_: number, N: number): number {
  const rng = new Rng(1);
  const A = E.randn([M, K_], rng).f32;
  const B = E.randn([K_, N], rng).f32;
  const C = new Float32Array(M * N);
  const flops = 2 * M * N * K_;
  const reps = Math.max(3, Math.ceil(2e10 / flops));
  K.gemm(false, false, M, N, K_, 1, A, K_, B, N, 0, C, N);
  const times: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) K.gemm(false, false, M, N, K_, 1, A, K_, B, N, 0, C, N);
    times.push((performance.now() - t0) / 1000 / reps);
  }
  return flops / Math.min(...times) / 1e9;
}

const TORCH_ARGS = [
  '--batch',
  `${CFG.batch}`,
  '--seq',
  `${CFG.seq}`,
  '--d-model',
  `${CFG.dModel}`,
  '--heads',
  `${CFG.heads}`,
  '--ffn',
  `${CFG.ffn}`,
  '--dropout',
  `${CFG.dropout}`,
];

// ------------------------------------------------------------------------------------ main
log(`engine benchmark: backend ${backendName()}, OpenBLAS threads ${blas.available() ? blas.threads() : 'n/a'}, ${cpus().length} cores`);
log(`block: ${JSON.stringify(CFG)}; ${ROUNDS} alternating rounds of ${WARMUP} warmup + ${STEPS} timed steps`);

const step = makeStep();
const { ref, missing: why } = torchReference('torch_engine.py', TORCH_ARGS);
const threads = ref && { intra: ref.intra, blas: ref.blas };

const ours: number[] = [];
const theirs: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const mine = timeOurs(step);
  ours.push(mine);
  let line = `round ${r + 1}: pathwise ${mine.toFixed(2)} steps/s`;
  if (ref) {
    const t = ref.run(['--steps', `${STEPS}`, '--warmup', `${WARMUP}`]);
    theirs.push(t.steps_per_s);
    line += `, torch ${t.steps_per_s.toFixed(2)} steps/s`;
  }
  log(line);
}

const gemm = {
  '256x256x256': +gemmGflops(256, 256, 256).toFixed(1),
  '1024x1024x1024': +gemmGflops(1024, 1024, 1024).toFixed(1),
  '4096x256x1024': +gemmGflops(4096, 256, 1024).toFixed(1),
};
const sps = median(ours);
const tsps = threads ? median(theirs) : null;
console.log(
  JSON.stringify({
    steps_per_s: +sps.toFixed(3),
    torch_steps_per_s: tsps === null ? null : +tsps.toFixed(3),
    ratio: tsps === null ? null : +(sps / tsps).toFixed(3),
    gemm_gflops: gemm,
    backend: backendName(),
    torch_threads: threads,
    ...(why ? { torch_missing: why } : {}),
  }),
);
