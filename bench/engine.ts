// Engine benchmark: the training step (forward, backward, AdamW) of one pre-LN encoder block,
// batch 32, sequence 64, d_model 256, 4 heads, FFN 1024, GELU, dropout 0.1, against the same
// block in PyTorch (bench/torch_engine.py) measured in the same run, alternating, with PyTorch
// at its best thread setting for this machine (found by --pick-threads first). Prints one JSON
// line last (medians):
//   steps_per_s, torch_steps_per_s, ratio     the step, and against the peer
//   gemm_bound_steps_per_s, bound_fraction    the physical limit beside the peer: the step's GEMMs
//                                             alone (the very calls one step makes, recorded and
//                                             replayed on the same buffers), and the step's speed
//                                             as a fraction of it
//   multitask_step_ms, multitask_thread_speedup
//                                             one step of six-task training (trainMultiTask on the
//                                             quickstart's six built-in tasks, from --base) at 1
//                                             and 2 threads, alternating, and the ratio; null
//                                             without the base. A step's time is the mean over
//                                             --mt-steps consecutive steps (the run's wall time
//                                             over its steps, so what training takes), the
//                                             median of --mt-rounds rounds
//   gemm_gflop_per_step, gemm_bound_gflops    the arithmetic of those GEMMs (2 M N K summed over
//                                             the calls), and their throughput when replayed
//   fma_peak_gflops, ratio_ceiling_at_fma_peak
//                                             the machine's fp32 ceiling (fused multiply-adds in
//                                             registers on the pool's threads, blas.fmaPeak), and
//                                             the ratio a step would reach if it were nothing but
//                                             its GEMMs' arithmetic at that ceiling: no step that
//                                             does these products can beat PyTorch by more
//   gemm_gflops                               fp32 GEMM throughput at three shapes
//
//   npm run bench:engine [-- --rounds 5 --steps 20 --mt-steps 40 --mt-rounds 5 --base models/base --warm-ms 2000]
//   (each round first warms the step and its GEMMs for --warm-ms, and PyTorch as long: see warmFor)

import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import * as E from '../src/engine/index.js';
import { AdamW, Rng, Tensor, backendName, blas, currentKernels, paddingMask, withKernels } from '../src/engine/index.js';
import { K } from '../src/engine/backend.js';
import type { Kernels } from '../src/engine/kernels.js';
import { EncoderBlock } from '../src/nn/index.js';
import { TaskModel, inLayout, loadPretrained, specOf } from '../src/model/index.js';
import { loadBuiltinTask } from '../src/tasks/builtin/index.js';
import { lexicalDefaultsSchema } from '../src/tasks/ngrams.js';
import { trainMultiTask } from '../src/train/multitask.js';
import { ROOT, WARM_FLAG, benchFlags, log, median, torchReference, torchWarm, warmFor } from './common.js';

const opt = benchFlags({
  rounds: { type: 'number', default: 5, integer: true, min: 1 },
  steps: { type: 'number', default: 20, integer: true, min: 1 },
  warmup: { type: 'number', default: 3, integer: true, min: 0 },
  'mt-steps': { type: 'number', default: 40, integer: true, min: 2 },
  'mt-rounds': { type: 'number', default: 5, integer: true, min: 1 },
  base: { type: 'string', default: join(ROOT, 'models', 'base') },
  ...WARM_FLAG,
});
const ROUNDS = opt.rounds;
const STEPS = opt.steps;
const WARMUP = opt.warmup;
/** Timed steps of six-task training per thread count and round, and the rounds. */
const MT_STEPS = opt['mt-steps'];
const MT_ROUNDS = opt['mt-rounds'];
const BASE = opt.base;
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
  // As the Trainer steps (train/step.ts): gradients and activations go back to the buffer pool
  // as soon as they are used, so a step reuses the last step's memory instead of faulting in new.
  return () => {
    opt.zeroGrad({ recycle: true });
    const loss = E.mse(block.forward(x, mask), target);
    loss.backward(undefined, { freeActivations: true });
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

type GemmName = 'gemm' | 'gemmBatched' | 'gemmGrouped';
const GEMMS: readonly GemmName[] = ['gemm', 'gemmBatched', 'gemmGrouped'];

/**
 * The GEMM calls one step makes, in order, each replayable on the buffers it was given: the step
 * runs once with the current kernels' GEMMs wrapped to record their arguments. Replaying them is
 * the step's GEMM work and nothing else (what the contents of reused buffers are by then does not
 * change the work a GEMM does).
 */
function recordGemms(step: () => unknown): { calls: (() => void)[]; flop: number } {
  const k = currentKernels();
  const calls: (() => void)[] = [];
  let flop = 0;
  const wrapped: Record<string, unknown> = { ...k };
  for (const name of GEMMS) {
    const fn = k[name] as (...a: unknown[]) => void;
    wrapped[name] = (...args: unknown[]) => {
      calls.push(() => fn.apply(k, args));
      flop += gemmFlop(name, args);
      fn.apply(k, args);
    };
  }
  withKernels(wrapped as unknown as Kernels, step);
  return { calls, flop };
}

/** The arithmetic of one GEMM call, 2 M N K per product (signatures in engine/kernels.ts). */
function gemmFlop(name: GemmName, args: readonly unknown[]): number {
  if (name === 'gemmGrouped') {
    const g = args[2] as Int32Array;
    let f = 0;
    for (let i = 0; i < g.length; i += 6) f += 2 * g[i] * g[i + 1] * g[i + 2];
    return f;
  }
  const [M, N, K_] = [args[2], args[3], args[4]] as number[];
  const batch = name === 'gemmBatched' ? (args[16] as number) : 1;
  return 2 * M * N * K_ * batch;
}

function timeGemms(calls: readonly (() => void)[]): number {
  for (let i = 0; i < WARMUP; i++) for (const c of calls) c();
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) for (const c of calls) c();
  return STEPS / ((performance.now() - t0) / 1000);
}

/**
 * Six-task training as `pathwise train` runs it (trainMultiTask: a batch of one task per step,
 * tasks drawn ∝ n^(1/2), heads with n-gram bags), from the pretrained base. Returns a function
 * that trains `steps` steps at the given thread count and gives the mean step time in ms: from
 * the first step's end to the last's, over the steps between (batch encoding, the collector's
 * pauses and everything else training waits for included). Not the median: the tasks' batches run
 * from 20 to 128 tokens, and the median step is one mid-sized batch, not what training takes.
 * Every call trains the same model on with the same seed, so both thread counts see the same
 * batches.
 */
async function multitaskStepper(): Promise<((threads: number, steps: number) => Promise<number>) | string> {
  if (!existsSync(join(BASE, 'model.safetensors'))) return `no pretrained base at ${BASE} (bash scripts/setup.sh makes it)`;
  const names = ['sent', 'spam', 'sense', 'genre', 'pos', 'wic'];
  const tasks = names.map(loadBuiltinTask);
  const pre = loadPretrained(BASE);
  if (!pre.tokenizer) return `${BASE}: no tokenizer.json`;
  const sparse = { switch: null, skills: null };
  const rng = new Rng(1);
  const lm = inLayout(pre, BASE, sparse, rng, 'bench:engine');
  const model = TaskModel.fromEncoder(lm.encoder, pre.tokenizer, { sparse, rng, maxLen: 128 });
  const bag = lexicalDefaultsSchema.parse({});
  for (const t of tasks) model.addTask({ ...specOf(t), ...(t.type !== 'tagging' ? { lexical: bag } : {}) });
  model.train();
  return async (threads, steps) => {
    const before = blas.threads();
    blas.setThreads(threads);
    const ends: number[] = [];
    try {
      await trainMultiTask(model, tasks, {
        steps: steps + 1,
        batchSize: 32,
        lr: 1e-4,
        evalEvery: steps + 1,
        evalExamples: 1,
        seed: 7,
        onStep: () => ends.push(performance.now()),
        log: () => {},
      });
    } finally {
      blas.setThreads(before);
    }
    return (ends[ends.length - 1] - ends[0]) / (ends.length - 1);
  };
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
const { calls: gemmCalls, flop: gemmFlopPerStep } = recordGemms(step);
log(`one step makes ${gemmCalls.length} GEMM calls, ${(gemmFlopPerStep / 1e9).toFixed(3)} GFLOP`);
const { ref, missing: why } = torchReference('torch_engine.py', TORCH_ARGS);
const threads = ref && { intra: ref.intra, blas: ref.blas };

const ours: number[] = [];
const bound: number[] = [];
const theirs: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  warmFor(opt['warm-ms'], [step, () => gemmCalls.forEach((c) => c())]);
  const mine = timeOurs(step);
  ours.push(mine);
  const g = timeGemms(gemmCalls);
  bound.push(g);
  let line = `round ${r + 1}: pathwise ${mine.toFixed(2)} steps/s, its GEMMs alone ${g.toFixed(2)} steps/s`;
  if (ref) {
    const t = ref.run(['--steps', `${STEPS}`, '--warmup', `${WARMUP}`, ...torchWarm(opt['warm-ms'])]);
    theirs.push(t.steps_per_s);
    line += `, torch ${t.steps_per_s.toFixed(2)} steps/s`;
  }
  log(line);
}

// Six-task training at 1 and 2 threads, alternating, after one untimed run that warms up the
// JIT, the buffer pool and the heap (the first step of each run, which waits on nothing before
// it, is not timed either).
const mt = await multitaskStepper();
const mtMs: Record<'1' | '2', number[]> = { '1': [], '2': [] };
if (typeof mt === 'string') log(`six-task step: not timed, ${mt}`);
else {
  await mt(2, MT_STEPS);
  for (let r = 0; r < MT_ROUNDS; r++) {
    for (const t of [1, 2] as const) {
      const ms = await mt(t, MT_STEPS);
      mtMs[t].push(ms);
      log(`six-task step, round ${r + 1}, ${t} thread${t > 1 ? 's' : ''}: ${ms.toFixed(1)} ms`);
    }
  }
}
const mt1 = mtMs['1'].length ? median(mtMs['1']) : null;
const mt2 = mtMs['2'].length ? median(mtMs['2']) : null;

const gemm = {
  '256x256x256': +gemmGflops(256, 256, 256).toFixed(1),
  '1024x1024x1024': +gemmGflops(1024, 1024, 1024).toFixed(1),
  '4096x256x1024': +gemmGflops(4096, 256, 1024).toFixed(1),
};
// The ceiling last, alone: three runs of about a second each, the median.
const peaks = [0, 1, 2].map(() => blas.fmaPeak(1000));
const peak = peaks.every((p) => p !== null) ? median(peaks as number[]) : null;
const sps = median(ours);
const gsps = median(bound);
const tsps = threads ? median(theirs) : null;
console.log(
  JSON.stringify({
    steps_per_s: +sps.toFixed(3),
    torch_steps_per_s: tsps === null ? null : +tsps.toFixed(3),
    ratio: tsps === null ? null : +(sps / tsps).toFixed(3),
    gemm_bound_steps_per_s: +gsps.toFixed(3),
    bound_fraction: +(sps / gsps).toFixed(3),
    torch_vs_gemm_bound: tsps === null ? null : +(tsps / gsps).toFixed(3),
    gemm_gflop_per_step: +(gemmFlopPerStep / 1e9).toFixed(3),
    gemm_bound_gflops: +((gemmFlopPerStep * gsps) / 1e9).toFixed(1),
    fma_peak_gflops: peak === null ? null : +peak.toFixed(1),
    ratio_ceiling_at_fma_peak: peak === null || tsps === null ? null : +((peak * 1e9) / gemmFlopPerStep / tsps).toFixed(3),
    multitask_step_ms: mt1 === null || mt2 === null ? null : { '1': +mt1.toFixed(1), '2': +mt2.toFixed(1) },
    multitask_thread_speedup: mt1 === null || mt2 === null ? null : +(mt1 / mt2).toFixed(3),
    ...(typeof mt === 'string' ? { multitask_missing: mt } : {}),
    gemm_gflops: gemm,
    backend: backendName(),
    torch_threads: threads,
    ...(why ? { torch_missing: why } : {}),
  }),
);
