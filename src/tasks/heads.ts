// Task heads on top of the encoder's hidden states [B, T, D].
//   classification / pair_classification: BERT's pooler (dense + tanh on [CLS]) -> dropout -> Linear(D, C)
//   tagging:    dropout -> Linear(D, C) at the first subtoken of every word
//   regression: the pooler -> dropout -> Linear(D, 1)
// Each head returns logits (or predictions) and knows its loss.

import * as E from '../engine/index.js';
import { Tensor, type Rng } from '../engine/index.js';
import { Linear, Module } from '../nn/index.js';
import type { TaskType } from './task.js';

export interface HeadConfig {
  type: TaskType;
  dModel: number;
  /** Number of labels (1 for regression). */
  classes: number;
  dropout: number;
  initStd: number;
}

export class TaskHead extends Module {
  readonly pooler: Linear | null;
  readonly out: Linear;

  constructor(readonly cfg: HeadConfig, private readonly rng: Rng) {
    super();
    this.pooler = cfg.type === 'tagging' ? null : this.child('pooler', new Linear(cfg.dModel, cfg.dModel, rng, { std: cfg.initStd }));
    this.out = this.child('out', new Linear(cfg.dModel, cfg.type === 'regression' ? 1 : cfg.classes, rng, { std: cfg.initStd }));
  }

  /**
   * hidden [B, T, D] -> logits: [B, C] for sequence tasks (from position 0, [CLS]); for tagging,
   * [R, C] at the flat positions `rows` (b*T + t of each word's first subtoken).
   */
  forward(hidden: Tensor, rows: Tensor | null = null): Tensor {
    const [B, T, D] = hidden.shape;
    const flat = E.reshape(hidden, [B * T, D]);
    if (this.cfg.type === 'tagging') {
      if (!rows) throw new Error('tagging head: word positions are required');
      return this.out.forward(E.dropout(E.gatherRows(flat, rows), this.cfg.dropout, this.rng, this.training));
    }
    const cls = E.gatherRows(flat, clsRows(B, T));
    const pooled = E.tanh(this.pooler!.forward(cls));
    return this.out.forward(E.dropout(pooled, this.cfg.dropout, this.rng, this.training));
  }

  /** Cross-entropy (classification, tagging) or MSE (regression) against targets. */
  loss(logits: Tensor, targets: Tensor): Tensor {
    if (this.cfg.type === 'regression') return E.mse(E.reshape(logits, [logits.size]), targets);
    return E.crossEntropy(logits, targets);
  }
}

const clsCache = new Map<string, Tensor>();
function clsRows(B: number, T: number): Tensor {
  const key = `${B},${T}`;
  let t = clsCache.get(key);
  if (!t) clsCache.set(key, (t = new Tensor(Int32Array.from({ length: B }, (_, b) => b * T), [B])));
  return t;
}
