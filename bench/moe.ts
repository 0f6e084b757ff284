// MoE benchmark: one Switch layer (8 experts, top-1, capacity factor 1.25, d_model 256,
// FFN 1024, 2048 tokens, GELU), forward + backward of sum(out * upstream) + 0.01 lb + 0.001 z.
//   hf_ratio       = the same layer written the Hugging Face way in PyTorch (a loop over experts
//                    with boolean masks; bench/torch_moe.py), divided by Pathwise's time
//   dense_overhead = Pathwise's time divided by a Pathwise dense FFN with the same activated
//                    FLOPs (one Linear-GELU-Linear over all 2048 tokens, plus the router matmul)
// Both steps follow the Trainer's memory policy. Each round first warms both for --warm-ms (see
// warmFor). Medians of alternating rounds; one JSON line last.
//
//   npm run bench:moe [-- --rounds 5 --iters 20 --warm-ms 2000]   (PyTorch warms as long)

import { cpus } from 'node:os';
import * as E from '../src/engine/index.js';
import { Rng, backendName, blas } from '../src/engine/index.js';
import { FeedForward } from '../src/nn/index.js';
import { SwitchFFN, auxLoss } from '../src/sparse/index.js';
import { WARM_FLAG, benchFlags, log, median, torchReference, torchWarm, warmFor } from './common.js';

const opt = benchFlags({
  rounds: { type: 'number', default: 5, integer: true, min: 1 },
  iters: { type: 'number', default: 20, integer: true, min: 1 },
  ...WARM_FLAG,
});
const ROUNDS = opt.rounds;
const ITERS = opt.iters;
const N = 2048,
  D = 256,
  F = 1024,
  EXPERTS = 8;
const TORCH_ARGS = ['--tokens', `${N}`, '--d-model', `${D}`, '--ffn', `${F}`, '--experts', `${EXPERTS}`];

const rng = new Rng(0);
const x = E.randn([N, D], rng);
x.requiresGrad = true;
const up = E.randn([N, D], rng);
const sw = new SwitchFFN(
  {
    experts: EXPERTS,
    topK: 1,
    capacityFactor: 1.25,
    evalCapacityFactor: 1.25,
    jitter: 0,
    expertDropout: 0,
    lbWeight: 0.01,
    zWeight: 0.001,
    normalizeTopK: true,
  },
  D,
  F,
  'gelu',
  rng,
  0.02,
);
const dense = new FeedForward({ dModel: D, ffn: F, activation: 'gelu', dropout: 0, initStd: 0.02 }, rng);
const router = E.randn([EXPERTS, D], rng, 0.02, true);

// Each step follows the Trainer's memory policy (src/train/step.ts): gradients of the step before
// recycled (zeroGrad), activations handed back to the pool as backward consumes them. Without it
// every step would add its weight gradients onto the last step's, an 8-expert layer 8 times the
// memory of the dense one, which is not what training does.
// (AdamW only for its zeroGrad: the bench times no optimizer step.)
const switchGrads = new E.AdamW([x, ...sw.parameters()], { lr: 0 });
const denseGrads = new E.AdamW([x, router, ...dense.parameters()], { lr: 0 });
const switchStep = () => {
  switchGrads.zeroGrad({ recycle: true });
  const out = sw.forward(x);
  E.add(E.sum(E.mul(out, up)), auxLoss(sw)!).backward(undefined, { freeActivations: true });
};
const denseStep = () => {
  denseGrads.zeroGrad({ recycle: true });
  const out = dense.forward(x);
  const logits = E.matmul(x, router, { transB: true }); // the router's matmul, for equal FLOPs
  E.add(E.sum(E.mul(out, up)), E.scale(E.sum(logits), 0)).backward(undefined, { freeActivations: true });
};
function timeMs(f: () => void): number {
  const t0 = performance.now();
  for (let i = 0; i < ITERS; i++) f();
  return (performance.now() - t0) / ITERS;
}

log(`moe benchmark: backend ${backendName()}, OpenBLAS threads ${blas.available() ? blas.threads() : 'n/a'}, ${cpus().length} cores`);
log(`Switch layer: ${EXPERTS} experts, top-1, capacity factor 1.25, d_model ${D}, FFN ${F}, ${N} tokens; forward + backward`);
const { ref: picked, missing: why } = torchReference('torch_moe.py', TORCH_ARGS);

const ours: number[] = [];
const denseMs: number[] = [];
const hf: number[] = [];
const torchDense: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  warmFor(opt['warm-ms'], [switchStep, denseStep]);
  const s = timeMs(switchStep);
  const d = timeMs(denseStep);
  ours.push(s);
  denseMs.push(d);
  let line = `round ${r + 1}: pathwise switch ${s.toFixed(2)} ms, pathwise dense ${d.toFixed(2)} ms`;
  if (picked) {
    const t = picked.run(['--steps', `${ITERS}`, ...torchWarm(opt['warm-ms'])]);
    hf.push(t.hf_ms);
    torchDense.push(t.dense_ms);
    line += `, torch hf ${t.hf_ms.toFixed(2)} ms, torch dense ${t.dense_ms.toFixed(2)} ms`;
  }
  log(line);
}
log(`router: tokens per expert ${sw.stats.tokensPerExpert.join(' ')}, dropped ${(100 * sw.stats.droppedFraction).toFixed(1)}%`);
const ms = median(ours);
console.log(
  JSON.stringify({
    switch_ms: +ms.toFixed(3),
    dense_ms: +median(denseMs).toFixed(3),
    dense_overhead: +(ms / median(denseMs)).toFixed(3),
    torch_hf_ms: picked ? +median(hf).toFixed(3) : null,
    torch_dense_ms: picked ? +median(torchDense).toFixed(3) : null,
    hf_ratio: picked ? +(median(hf) / ms).toFixed(3) : null,
    backend: backendName(),
    torch_threads: picked && { intra: picked.intra, blas: picked.blas },
    ...(why ? { torch_missing: why } : {}),
  }),
);
