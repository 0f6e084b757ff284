// The quickstart demo for now: a two-layer model (mean of word embeddings -> GELU MLP -> 2
// classes) learning the real `sent` task, printing the falling loss and held-out accuracy.
// Later issues replace it with multi-task training from a pretrained base.

import * as E from '../engine/index.js';
import { AdamW, Rng, Tensor, lrSchedule, noGrad } from '../engine/index.js';
import { Linear, Module } from '../nn/index.js';
import { truncNormal } from '../nn/init.js';
import { loadSent, splitFixed, type LabelledText } from '../data/sent.js';

const PAD = 0;
const UNK = 1;

function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu) ?? [];
}

class BagOfEmbeddings extends Module {
  readonly emb: Tensor;
  readonly hidden: Linear;
  readonly out: Linear;
  constructor(vocab: number, dim: number, classes: number, private readonly rng: Rng) {
    super();
    this.emb = this.param('emb', truncNormal([vocab, dim], rng, 0.1));
    this.hidden = this.child('hidden', new Linear(dim, dim, rng, { std: 0.1 }));
    this.out = this.child('out', new Linear(dim, classes, rng, { std: 0.1 }));
  }
  /** ids [B, L] padded with PAD; keep [B, L, 1] 1/0; lengths [B, 1]. */
  forward(ids: Tensor, keep: Tensor, lengths: Tensor): Tensor {
    const e = E.mul(E.embedding(ids, this.emb), keep); // padding rows contribute nothing
    const pooled = E.dropout(E.div(E.sum(e, { axis: 1 }), lengths), 0.5, this.rng, this.training);
    return this.out.forward(E.gelu(this.hidden.forward(pooled)));
  }
}

function batchOf(rows: LabelledText[], vocab: Map<string, number>) {
  const toks = rows.map((r) => words(r.text).map((w) => vocab.get(w) ?? UNK));
  const L = Math.max(1, ...toks.map((t) => t.length));
  const ids = new Int32Array(rows.length * L).fill(PAD);
  const keep = new Float32Array(rows.length * L);
  const lengths = new Float32Array(rows.length);
  toks.forEach((t, b) => {
    t.forEach((id, i) => {
      ids[b * L + i] = id;
      keep[b * L + i] = 1;
    });
    lengths[b] = Math.max(1, t.length);
  });
  return {
    ids: new Tensor(ids, [rows.length, L]),
    keep: new Tensor(keep, [rows.length, L, 1]),
    lengths: new Tensor(lengths, [rows.length, 1]),
    labels: E.intTensor(rows.map((r) => r.label)),
  };
}

export function runDemo(log: (s: string) => void = console.log): { testAccuracy: number; losses: number[] } {
  const t0 = performance.now();
  const split = splitFixed(loadSent(), 13, 0.1, 0.1);
  const vocab = new Map<string, number>();
  for (const r of split.train) for (const w of words(r.text)) if (!vocab.has(w)) vocab.set(w, vocab.size + 2);
  log(`sent: ${split.train.length} train / ${split.dev.length} dev / ${split.test.length} test sentences, vocabulary ${vocab.size + 2}, backend ${E.backendName()}`);

  const rng = new Rng(1);
  const model = new BagOfEmbeddings(vocab.size + 2, 64, 2, rng);
  const epochs = 12;
  const batch = 32;
  const stepsPerEpoch = Math.ceil(split.train.length / batch);
  const opt = new AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0.01 });
  const sched = lrSchedule({ kind: 'cosine', warmupSteps: stepsPerEpoch, totalSteps: epochs * stepsPerEpoch });
  const accuracy = (rows: LabelledText[]) =>
    noGrad(() => {
      model.eval();
      const b = batchOf(rows, vocab);
      const pred = E.argmax(model.forward(b.ids, b.keep, b.lengths)).i32;
      model.train();
      return pred.reduce((s, p, i) => s + (p === rows[i].label ? 1 : 0), 0) / rows.length;
    });
  // Early stopping on dev accuracy: keep a copy of the best parameters.
  let best = { acc: -1, epoch: 0, params: [] as Float32Array[] };

  const losses: number[] = [];
  let step = 0;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const order = rng.shuffle(Array.from(split.train.keys())) as number[];
    let total = 0;
    for (let s = 0; s < stepsPerEpoch; s++) {
      const b = batchOf(order.slice(s * batch, (s + 1) * batch).map((i) => split.train[i]), vocab);
      const loss = E.crossEntropy(model.forward(b.ids, b.keep, b.lengths), b.labels);
      opt.zeroGrad();
      loss.backward();
      opt.step(3e-3 * sched(step++));
      total += loss.item();
    }
    losses.push(total / stepsPerEpoch);
    const dev = accuracy(split.dev);
    if (dev > best.acc) best = { acc: dev, epoch, params: model.parameters().map((p) => Float32Array.from(p.f32)) };
    log(`epoch ${String(epoch).padStart(2)}  train loss ${losses[losses.length - 1].toFixed(4)}  dev accuracy ${(100 * dev).toFixed(1)}%`);
  }
  model.parameters().forEach((p, i) => p.f32.set(best.params[i]));
  log(`best dev accuracy ${(100 * best.acc).toFixed(1)}% at epoch ${best.epoch}`);
  const testAccuracy = accuracy(split.test);
  log(`test accuracy ${(100 * testAccuracy).toFixed(1)}% (Naive Bayes floor 81%) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { testAccuracy, losses };
}
