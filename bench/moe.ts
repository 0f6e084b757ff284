// MoE benchmark: one Switch layer (8 experts, top-1, capacity factor 1.25, d_model 256,
// FFN 1024, 2048 tokens, GELU), forward + backward of sum(out * upstream) + 0.01 lb + 0.001 z.
//   hf_ratio       = the same layer written the Hugging Face way in PyTorch (a loop over experts
//                    with boolean masks; bench/torch_moe.py), divided by Pathwise's time
//   dense_overhead = Pathwise's time divided by a Pathwise dense FFN with the same activated
//                    FLOPs (one Linear-GELU-Linear over all 2048 tokens, plus the router matmul)
// Medians of alternating rounds; one JSON line last.
//
//   npm run bench:moe [-- --rounds 5 --iters 20]

import { cpus } from 'node:os';
import * as E from '../src/engine/index.js';
import { Rng, backendName, blas } from '../src/engine/index.js';
import { FeedForward } from '../src/nn/index.js';
import { SwitchFFN, auxLoss } from '../src/sparse/index.js';
import { flag, log, median, torchReference } from './common.js';

const ROUNDS = flag('rounds', 5);
const ITERS = flag('iters', 20);
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

const switchStep = () => {
  x.grad = null;
  const out = sw.forward(x);
  E.add(E.sum(E.mul(out, up)), auxLoss(sw)!).backward();
};
const denseStep = () => {
  x.grad = null;
  const out = dense.forward(x);
  const logits = E.matmul(x, router, { transB: true }); // the router's matmul, for equal FLOPs
  E.add(E.sum(E.mul(out, up)), E.scale(E.sum(logits), 0)).backward();
};
function timeMs(f: () => void): number {
  for (let i = 0; i < 3; i++) f();
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
  const s = timeMs(switchStep);
  const d = timeMs(denseStep);
  ours.push(s);
  denseMs.push(d);
  let line = `round ${r + 1}: pathwise switch ${s.toFixed(2)} ms, pathwise dense ${d.toFixed(2)} ms`;
  if (picked) {
    const t = picked.run(['--steps', `${ITERS}`]);
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
