// Pretraining benchmark: masked-LM training tokens/s of the default pretraining config
// (vocab 16384, sequence 128, d_model 256, 4 layers, 4 heads, FFN 1024, dropout 0.1, pre-LN,
// batch 32 packed sequences), against the same model and computation in PyTorch
// (bench/torch_pretrain.py) in the same run, alternating, PyTorch at its best thread setting.
// Per step: exactly round(0.15 * B * T) masked positions (80% [MASK], 10% random, 10% kept),
// only masked positions through the tied LM head, cross-entropy, backward, clip to norm 1,
// AdamW(1e-4, weight decay 0.01). Prints one JSON line last (medians).
//
//   npm run bench:pretrain [-- --rounds 3 --steps 8 --warm-ms 2000]
//   (each round first warms for --warm-ms, PyTorch as long: see warmFor in bench/common.ts)

import { cpus } from 'node:os';
import { AdamW, Rng, Tensor, backendName, blas, clipGradNorm } from '../src/engine/index.js';
import { DEFAULT_ENCODER, LanguageModel } from '../src/nn/index.js';
import { WARM_FLAG, benchFlags, log, median, torchReference, torchWarm, warmFor } from './common.js';

const opt = benchFlags({
  rounds: { type: 'number', default: 3, integer: true, min: 1 },
  steps: { type: 'number', default: 8, integer: true, min: 1 },
  warmup: { type: 'number', default: 2, integer: true, min: 0 },
  ...WARM_FLAG,
});
const ROUNDS = opt.rounds;
const STEPS = opt.steps;
const WARMUP = opt.warmup;
const B = 32;
const T = DEFAULT_ENCODER.maxPositions;
const V = DEFAULT_ENCODER.vocabSize;
const MASK_ID = 4;
const FIRST_REGULAR = 5;
const TORCH_ARGS = [
  '--batch',
  `${B}`,
  '--seq',
  `${T}`,
  '--vocab',
  `${V}`,
  '--d-model',
  `${DEFAULT_ENCODER.dModel}`,
  '--layers',
  `${DEFAULT_ENCODER.layers}`,
  '--heads',
  `${DEFAULT_ENCODER.heads}`,
  '--ffn',
  `${DEFAULT_ENCODER.ffn}`,
  '--dropout',
  `${DEFAULT_ENCODER.dropout}`,
];

function makeStep() {
  const rng = new Rng(0);
  const model = new LanguageModel(DEFAULT_ENCODER, rng);
  const opt = new AdamW(model.parameters(), { lr: 1e-4, weightDecay: 0.01 });
  const params = model.parameters();
  const nMask = Math.round(0.15 * B * T);
  return () => {
    const ids = new Int32Array(B * T);
    for (let i = 0; i < ids.length; i++) ids[i] = FIRST_REGULAR + rng.int(V - FIRST_REGULAR);
    // nMask distinct positions (partial Fisher-Yates).
    const all = Int32Array.from({ length: B * T }, (_, i) => i);
    for (let i = 0; i < nMask; i++) {
      const j = i + rng.int(all.length - i);
      [all[i], all[j]] = [all[j], all[i]];
    }
    const positions = all.slice(0, nMask);
    const targets = new Int32Array(nMask);
    positions.forEach((p, k) => {
      targets[k] = ids[p];
      const r = rng.uniform();
      if (r < 0.8) ids[p] = MASK_ID;
      else if (r < 0.9) ids[p] = FIRST_REGULAR + rng.int(V - FIRST_REGULAR);
    });
    opt.zeroGrad({ recycle: true }); // as the Trainer does: last step's gradient buffers are reused
    const loss = model.mlmLoss(new Tensor(ids, [B, T]), new Tensor(positions, [nMask]), new Tensor(targets, [nMask]));
    const value = loss.item();
    loss.backward(undefined, { freeActivations: true }); // as the pretraining loop does
    clipGradNorm(params, 1.0);
    opt.step();
    return { loss: value, params: model.numParameters() };
  };
}

function timeOurs(step: ReturnType<typeof makeStep>): number {
  for (let i = 0; i < WARMUP; i++) step();
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) step();
  return (STEPS * B * T) / ((performance.now() - t0) / 1000);
}

log(`pretrain benchmark: backend ${backendName()}, OpenBLAS threads ${blas.available() ? blas.threads() : 'n/a'}, ${cpus().length} cores`);
log(
  `masked LM, vocab ${V}, batch ${B} x ${T}, d_model ${DEFAULT_ENCODER.dModel}, ${DEFAULT_ENCODER.layers} layers; ${ROUNDS} rounds of ${WARMUP} warmup + ${STEPS} timed steps`,
);
const step = makeStep();
const { ref: picked, missing: why } = torchReference('torch_pretrain.py', TORCH_ARGS);

const ours: number[] = [];
const theirs: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  warmFor(opt['warm-ms'], [step], 0);
  const mine = timeOurs(step);
  ours.push(mine);
  let line = `round ${r + 1}: pathwise ${Math.round(mine)} tokens/s`;
  if (picked) {
    const t = picked.run(['--steps', `${STEPS}`, '--warmup', `${WARMUP}`, ...torchWarm(opt['warm-ms'])]);
    theirs.push(t.tokens_per_s);
    line += `, torch ${Math.round(t.tokens_per_s)} tokens/s`;
  }
  log(line);
}
const tps = median(ours);
const ttps = picked ? median(theirs) : null;
console.log(
  JSON.stringify({
    tokens_per_s: Math.round(tps),
    torch_tokens_per_s: ttps === null ? null : Math.round(ttps),
    ratio: ttps === null ? null : +(tps / ttps).toFixed(3),
    params: step().params,
    backend: backendName(),
    torch_threads: picked && { intra: picked.intra, blas: picked.blas },
    ...(why ? { torch_missing: why } : {}),
  }),
);
