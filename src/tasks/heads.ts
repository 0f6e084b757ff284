// Task heads on top of the encoder's hidden states [B, T, D].
//   classification / pair_classification: a pooled vector -> dense + tanh (BERT's pooler) -> dropout -> Linear(D, C)
//     pooling "mean": the mean of the real (non-padding) tokens' states. The default for new heads:
//     an encoder pretrained by masked LM alone never trains [CLS] to summarise the sentence (one
//     comparison on models/base is in docs/multitask.md).
//     pooling "cls": the [CLS] state, as BERT (and models saved before the option existed).
//   tagging:    dropout -> Linear(D, C) at the first subtoken of every word
//   regression: the pooler -> dropout -> Linear(D, 1)
//   lexical (sequence tasks, optional): + Linear(dim, C) of the mean of the example's hashed
//     n-gram embeddings (fastText beside the encoder, nn/ngram_bag.ts), added to the logits. Its
//     output layer starts at zero, as fastText's, so a new lexical head starts as the plain one.
//   prior (classification, pair_classification, optional): + w · a Naive Bayes log posterior,
//     counted after training and weighted on dev (naive_bayes_prior.ts); stored beside the
//     parameters, never trained.
// Each head returns logits (or predictions) and knows its loss.

import * as E from '../engine/index.js';
import { Tensor, type Rng } from '../engine/index.js';
import { Linear, Module, NgramBag, type BagInput } from '../nn/index.js';
import { NaiveBayesPrior, takesPrior } from './naive_bayes_prior.js';
import type { LexicalConfig } from './ngrams.js';
import type { TaskType } from './task.js';

export interface HeadConfig {
  type: TaskType;
  dModel: number;
  /** Number of labels (1 for regression). */
  classes: number;
  dropout: number;
  initStd: number;
  /** Sequence tasks: how the hidden states become one vector; absent means "cls". */
  pooling?: 'cls' | 'mean';
  /** Sequence tasks: a hashed n-gram bag beside the encoder; absent means none. */
  lexical?: LexicalConfig;
}

export class TaskHead extends Module {
  readonly pooler: Linear | null;
  readonly out: Linear;
  readonly bag: NgramBag | null = null;
  readonly bagOut: Linear | null = null;
  /** Counted, not trained: outside the parameters, saved and loaded beside them (namedBuffers). */
  prior: NaiveBayesPrior | null = null;

  constructor(
    readonly cfg: HeadConfig,
    private readonly rng: Rng,
  ) {
    super();
    const outputs = cfg.type === 'regression' ? 1 : cfg.classes;
    this.pooler = cfg.type === 'tagging' ? null : this.child('pooler', new Linear(cfg.dModel, cfg.dModel, rng, { std: cfg.initStd }));
    this.out = this.child('out', new Linear(cfg.dModel, outputs, rng, { std: cfg.initStd }));
    // Built after the rest, so a head without it draws the same initial weights as before it existed.
    if (cfg.lexical) {
      if (cfg.type === 'tagging') throw new RangeError('a tagging head has no lexical part (it scores words, not a text)');
      this.bag = this.child('bag', new NgramBag(cfg.lexical.buckets, cfg.lexical.dim, rng));
      this.bagOut = this.child('bag_out', new Linear(cfg.lexical.dim, outputs, rng, { std: cfg.initStd }));
      this.bagOut.weight.f32.fill(0);
    }
  }

  /**
   * hidden [B, T, D] -> logits: [B, C] for sequence tasks (from position 0, [CLS]); for tagging,
   * [R, C] at the flat positions `rows` (b*T + t of each word's first subtoken).
   */
  forward(hidden: Tensor, rows: Tensor | null = null, keep: Tensor | null = null, bag: BagInput | null = null, prior: Tensor | null = null): Tensor {
    const [B, T, D] = hidden.shape;
    const flat = E.reshape(hidden, [B * T, D]);
    if (this.cfg.type === 'tagging') {
      if (!rows) throw new Error('tagging head: word positions are required');
      return this.out.forward(E.dropout(E.gatherRows(flat, rows), this.cfg.dropout, this.rng, this.training));
    }
    let summary: Tensor;
    if (this.cfg.pooling === 'mean') {
      if (!keep) throw new Error('mean pooling: the padding mask is required');
      const { mask, inverseCount } = meanWeights(keep);
      summary = E.mul(E.sum(E.mul(hidden, mask), { axis: 1 }), inverseCount);
    } else summary = E.gatherRows(flat, clsRows(B, T));
    const pooled = this.pooler!.forwardActivated(summary, 'tanh');
    let logits = this.out.forward(E.dropout(pooled, this.cfg.dropout, this.rng, this.training));
    if (this.bag) {
      if (!bag) throw new Error('lexical head: the batch has no n-gram bags');
      logits = E.add(logits, this.bagLogits(bag));
    }
    if (this.prior) {
      if (!prior) throw new Error('this head has a Naive Bayes prior, but the batch has no prior logits');
      logits = E.add(logits, prior);
    }
    return logits;
  }

  /** Whether the head scores one label per example (classification, pair_classification): what a prior needs. */
  private get scoresLabels(): boolean {
    return takesPrior(this.cfg.type);
  }

  /** Sets (or with null removes) the head's Naive Bayes prior; refuses one of another label count or a head it cannot join. */
  setPrior(prior: NaiveBayesPrior | null): void {
    if (prior && !this.scoresLabels)
      throw new RangeError(`a ${this.cfg.type} head has no Naive Bayes prior (it scores ${this.cfg.type === 'tagging' ? 'words' : 'values'}, not labels)`);
    if (prior && prior.classes !== this.cfg.classes) throw new RangeError(`a prior of ${prior.classes} classes for a head of ${this.cfg.classes}`);
    this.prior = prior;
  }

  /**
   * Takes the prior stored under `prefix` in a folder's tensors (none stored: none); a malformed
   * one, or one on a head that cannot have it, goes to `fail` (which throws the folder's error).
   * Returns the tensor names it used.
   */
  loadPrior(tensors: ReadonlyMap<string, Tensor>, prefix: string, fail: (msg: string) => never): string[] {
    const prior = NaiveBayesPrior.fromTensors(tensors, prefix, this.cfg.classes, fail);
    if (prior && !this.scoresLabels) fail(`a ${this.cfg.type} head has no Naive Bayes prior, but "${prefix}prior.keys" is stored`);
    this.prior = prior;
    return this.namedBuffers(prefix).map(([n]) => n);
  }

  /** Saved and loaded with the parameters, but not trained: the prior's tensors ("prior.keys", ...). */
  override namedBuffers(prefix = ''): [string, Tensor][] {
    return this.prior ? this.prior.tensors().map(([n, t]) => [prefix + n, t] as [string, Tensor]) : [];
  }

  /** The lexical part's logits alone, [B, C] (what its warm-up trains: train/lexical_warmup.ts). */
  bagLogits(bag: BagInput): Tensor {
    if (!this.bag) throw new Error('this head has no lexical part');
    return this.bagOut!.forward(this.bag.forward(bag));
  }

  /** Cross-entropy (classification, tagging) or MSE (regression) against targets. */
  loss(logits: Tensor, targets: Tensor): Tensor {
    if (this.cfg.type === 'regression') return E.mse(E.reshape(logits, [logits.size]), targets);
    return E.crossEntropy(logits, targets);
  }
}

/** keep [B, T] (1 real, 0 padding) -> mask [B, T, 1] and 1 / (real tokens) [B, 1], as floats. */
function meanWeights(keep: Tensor): { mask: Tensor; inverseCount: Tensor } {
  const [B, T] = keep.shape;
  const k = keep.data;
  const mask = new Float32Array(B * T);
  const inv = new Float32Array(B);
  for (let b = 0; b < B; b++) {
    let n = 0;
    for (let t = 0; t < T; t++) {
      if (k[b * T + t]) {
        mask[b * T + t] = 1;
        n++;
      }
    }
    inv[b] = 1 / Math.max(1, n);
  }
  return { mask: new Tensor(mask, [B, T, 1]), inverseCount: new Tensor(inv, [B, 1]) };
}

const clsCache = new Map<string, Tensor>();
function clsRows(B: number, T: number): Tensor {
  const key = `${B},${T}`;
  let t = clsCache.get(key);
  if (!t)
    clsCache.set(
      key,
      (t = new Tensor(
        Int32Array.from({ length: B }, (_, b) => b * T),
        [B],
      )),
    );
  return t;
}
