// Switch Transformer's headline at our scale: at equal FLOPs per token, a Switch model (8
// experts, top-1, every other FFN) against its dense twin, masked LM on the built-in corpus, same
// data order, schedule and hyperparameters. Reports the steps each needs to reach the dense
// model's final held-out loss, with both curves, in docs/results/switch_vs_dense.md and .svg.
//
//   npm run bench:switch [-- --steps 1200]      (not in CI: two pretraining runs)
// Runs resume if interrupted (they are ordinary `pathwise pretrain` runs under runs/).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_PRETRAIN, validatePretrainConfig, type PretrainConfig } from '../src/train/pretrain_config.js';
import { pretrain } from '../src/train/pretrain.js';
import { DEFAULT_SPARSE_SWITCH } from '../src/sparse/index.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { ROOT, benchFlags, log } from './common.js';

const STEPS = benchFlags({ steps: { type: 'number', default: 1200, integer: true, min: 1 } }).steps;
const base: PretrainConfig = {
  ...DEFAULT_PRETRAIN,
  train: { ...DEFAULT_PRETRAIN.train, steps: STEPS, warmupSteps: Math.round(STEPS / 12), evalEvery: 100, checkpointEvery: 200, evalBatches: 16 },
};
const runs = {
  dense: { ...base, out: join(ROOT, 'runs', 'headline-dense') },
  switch: {
    ...base,
    model: { ...base.model, sparse: { switch: { ...DEFAULT_SPARSE_SWITCH, experts: 8, topK: 1, every: 2 }, skills: null } },
    out: join(ROOT, 'runs', 'headline-switch'),
  },
};

type Curve = { step: number; loss: number }[];
const curveOf = (out: string): { held: Curve; train: Curve; tps: number } => {
  const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const held = lines.filter((m) => 'heldout_loss' in m).map((m) => ({ step: m.step, loss: m.heldout_loss }));
  const train = lines.filter((m) => 'loss' in m).map((m) => ({ step: m.step, loss: m.loss }));
  const tps = lines.filter((m) => 'tokens_per_s' in m).map((m) => m.tokens_per_s);
  return { held, train, tps: tps[tps.length - 1] ?? NaN };
};

/** First step at which a curve reaches `target` (linear interpolation between evaluations). */
function stepsToReach(c: Curve, target: number): number | null {
  for (let i = 0; i < c.length; i++) {
    if (c[i].loss <= target) {
      if (i === 0) return c[0].step;
      const a = c[i - 1];
      const b = c[i];
      return a.step + ((a.loss - target) / (a.loss - b.loss)) * (b.step - a.step);
    }
  }
  return null;
}

function svg(curves: { name: string; color: string; c: Curve }[], title: string): string {
  const W = 640,
    H = 400,
    L = 60,
    R = 20,
    T = 40,
    B = 50;
  const all = curves.flatMap((x) => x.c);
  const xmax = Math.max(...all.map((p) => p.step));
  const ymin = Math.floor(Math.min(...all.map((p) => p.loss)) * 2) / 2;
  const ymax = Math.ceil(Math.max(...all.map((p) => p.loss)) * 2) / 2;
  const X = (s: number) => L + ((W - L - R) * s) / xmax;
  const Y = (v: number) => T + ((H - T - B) * (ymax - v)) / (ymax - ymin);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${title}</text>`,
  ];
  for (let v = ymin; v <= ymax + 1e-9; v += 0.5) {
    out.push(
      `<line x1="${L}" x2="${W - R}" y1="${Y(v)}" y2="${Y(v)}" stroke="#ddd"/><text x="${L - 6}" y="${Y(v) + 4}" text-anchor="end">${v.toFixed(1)}</text>`,
    );
  }
  const xstep = Math.max(100, Math.round(xmax / 6 / 100) * 100);
  for (let s = 0; s <= xmax; s += xstep) out.push(`<text x="${X(s)}" y="${H - B + 18}" text-anchor="middle">${s}</text>`);
  out.push(`<text x="${(W + L) / 2}" y="${H - 12}" text-anchor="middle">training step</text>`);
  out.push(`<text x="16" y="${(H - B + T) / 2}" transform="rotate(-90 16 ${(H - B + T) / 2})" text-anchor="middle">held-out MLM loss</text>`);
  out.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="black"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="black"/>`);
  curves.forEach(({ name, color, c }, i) => {
    out.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${c.map((p) => `${X(p.step).toFixed(1)},${Y(p.loss).toFixed(1)}`).join(' ')}"/>`,
    );
    out.push(
      `<line x1="${W - 170}" x2="${W - 150}" y1="${T + 10 + 18 * i}" y2="${T + 10 + 18 * i}" stroke="${color}" stroke-width="2"/><text x="${W - 145}" y="${T + 14 + 18 * i}">${name}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

for (const [name, cfg] of Object.entries(runs)) {
  validatePretrainConfig(cfg, name);
  log(`== ${name} run: ${cfg.out}`);
  await pretrain(cfg, { log });
}
const dense = curveOf(runs.dense.out);
const sw = curveOf(runs.switch.out);
const target = dense.held[dense.held.length - 1].loss;
const dSteps = stepsToReach(dense.held, target)!;
const sSteps = stepsToReach(sw.held, target);
const speedup = sSteps === null ? null : dSteps / sSteps;
const rows = dense.held.map((d, i) => `| ${d.step} | ${d.loss.toFixed(4)} | ${sw.held[i]?.loss.toFixed(4) ?? ''} |`);
writeFileAtomic(
  join(ROOT, 'docs', 'results', 'switch_vs_dense.svg'),
  svg(
    [
      { name: 'dense', color: '#1f77b4', c: dense.held },
      { name: 'Switch, 8 experts', color: '#d62728', c: sw.held },
    ],
    'Masked LM on the built-in corpus, equal FLOPs per token',
  ),
);
writeFileAtomic(
  join(ROOT, 'docs', 'results', 'switch_vs_dense.md'),
  `# Switch vs dense at equal FLOPs per token

Produced by \`npm run bench:switch -- --steps ${STEPS}\`: two \`pathwise pretrain\` runs on the built-in
corpus, masked LM. Both runs use the default config (d_model 256, 4 layers, 4 heads, FFN 1024,
sequence 128, batch 32, vocabulary 16,384), the same seed, data order, learning rate
(${base.train.lr}, ${base.train.warmupSteps} warmup steps, cosine to ${base.train.minLrRatio}), and ${STEPS} steps.
The Switch model replaces the FFN of layers 1 and 3 with 8 experts (top-1, capacity factor
${DEFAULT_SPARSE_SWITCH.capacityFactor}, load-balancing weight ${DEFAULT_SPARSE_SWITCH.lbWeight}, z-loss weight ${DEFAULT_SPARSE_SWITCH.zWeight}). Each token still
visits one expert of the dense FFN's size, so FLOPs per token are equal (plus the router's
2·256·8 per token), while FFN parameters in those layers grow 8×.

![held-out loss](switch_vs_dense.svg)

| | dense | Switch (8 experts) |
|---|---|---|
| final held-out MLM loss | ${target.toFixed(4)} | ${sw.held[sw.held.length - 1].loss.toFixed(4)} |
| steps to reach the dense model's final loss | ${Math.round(dSteps)} | ${sSteps === null ? 'not reached' : Math.round(sSteps)} |
| speed-up in steps | 1.0× | ${speedup === null ? '-' : `${speedup.toFixed(2)}×`} |
| training tokens/s in the run (includes evaluations; not a speed benchmark, see \`bench:moe\`) | ${Math.round(dense.tps)} | ${Math.round(sw.tps)} |

Held-out loss by step:

| step | dense | Switch |
|---|---|---|
${rows.join('\n')}

Measured on the 2-core project machine; rerun with more steps for later stages of training.
`,
);
console.log(
  JSON.stringify({
    dense_final: target,
    switch_final: sw.held[sw.held.length - 1].loss,
    dense_steps: dSteps,
    switch_steps: sSteps,
    speedup,
    dense_tokens_per_s: dense.tps,
    switch_tokens_per_s: sw.tps,
  }),
);
