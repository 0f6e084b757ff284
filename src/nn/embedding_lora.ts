// A low-rank update of a word-embedding table (LoRA on an embedding, as PEFT applies it):
//   word(ids) + linear(embed(ids, A), B),     A [vocab, rank], B [dModel, rank]
// while the table stays frozen. A starts at zero, so a fresh update is exactly the embeddings:
// adding one to a path leaves its function unchanged bit for bit until it trains (x + 0 is x in
// float32).
//
// Why a path wants it (docs/continual_probes.md, "Embeddings a path can adapt"): a path that reuses
// the base's embeddings frozen cannot move a word's vector, and cloning the table whole (16,384 x
// 256 = 4.2M parameters in our base) is more than a path may add. Every token gets `rank` numbers
// of its own, and B maps them into the model's width: 16,384 x 8 + 256 x 8 = 133,120 parameters at
// rank 8.

import { Tensor, embedding, linear, zeros, type Rng } from '../engine/index.js';
import { Module } from './module.js';
import { truncNormal } from './init.js';

export interface EmbeddingLoraConfig {
  vocabSize: number;
  dModel: number;
  rank: number;
}

export class EmbeddingLowRank extends Module {
  /** [vocabSize, rank], zero at init: each token's own coordinates. */
  readonly a: Tensor;
  /** [dModel, rank] ([out, in], as Linear's weight): the directions they move a word's vector along. */
  readonly b: Tensor;

  constructor(
    readonly cfg: EmbeddingLoraConfig,
    rng: Rng,
  ) {
    super();
    for (const k of ['vocabSize', 'dModel', 'rank'] as const)
      if (!Number.isInteger(cfg[k]) || cfg[k] < 1) throw new RangeError(`embedding low-rank update: ${k} must be a positive integer, got ${cfg[k]}`);
    this.a = this.param('a', zeros([cfg.vocabSize, cfg.rank]));
    // B as LoRA draws its A (unit scale for a unit input): with A zero, B's gradient is zero until
    // A moves, and A's gradient is B's projection of the loss's, so B must not start at zero.
    this.b = this.param('b', truncNormal([cfg.dModel, cfg.rank], rng, 1 / Math.sqrt(cfg.rank)));
  }

  /** What the update adds to the word embeddings of `ids` (int32 [B, T]): [B, T, dModel]. */
  forward(ids: Tensor): Tensor {
    return linear(embedding(ids, this.a), this.b);
  }
}
