import { Tensor, dropout, selfAttention, type Rng } from '../engine/index.js';
import { Module } from './module.js';
import { Linear } from './linear.js';
import { projectWithLowRank, type LowRankUpdate } from './lora.js';

/**
 * Which keys each position attends to: an additive mask (padding; x is [B, T, D]), or packed
 * sequences (x is [1, N, D] holding sequences of these lengths end to end, each attending only
 * within itself: a batch with no padding), or every position (null).
 */
export type Attend = Tensor | { segments: ArrayLike<number> } | null;

export interface AttentionConfig {
  dModel: number;
  heads: number;
  /** Dropout after the output projection. */
  dropout: number;
  /** Dropout on the attention probabilities (defaults to `dropout`). */
  attentionDropout?: number;
  initStd: number;
}

/**
 * Multi-head self-attention with one fused QKV projection (rows: Q, then K, then V) and an
 * output projection. The attention itself is one fused op (engine/ops/attention.ts).
 */
export class MultiHeadSelfAttention extends Module {
  readonly qkv: Linear;
  readonly out: Linear;

  constructor(
    readonly cfg: AttentionConfig,
    private readonly rng: Rng,
  ) {
    super();
    if (cfg.dModel % cfg.heads !== 0) throw new RangeError(`dModel ${cfg.dModel} is not divisible by heads ${cfg.heads}`);
    this.qkv = this.child('qkv', new Linear(cfg.dModel, 3 * cfg.dModel, rng, { std: cfg.initStd }));
    this.out = this.child('out', new Linear(cfg.dModel, cfg.dModel, rng, { std: cfg.initStd }));
  }

  /**
   * x [B, T, D]; mask additive, broadcastable to [B, H, T, T]; or x [1, N, D] packed (Attend).
   * `update`: a path's low-rank update of this block (nn/lora.ts), added to both projections.
   */
  forward(x: Tensor, mask: Attend = null, causal = false, update: LowRankUpdate | null = null): Tensor {
    const packed = mask !== null && !(mask instanceof Tensor);
    const qkv = update ? projectWithLowRank(this.qkv, x, update.qkv) : this.qkv.forward(x);
    const ctx = selfAttention(qkv, {
      heads: this.cfg.heads,
      mask: packed ? null : mask,
      segments: packed ? mask.segments : null,
      causal,
      dropout: this.cfg.attentionDropout ?? this.cfg.dropout,
      rng: this.rng,
      training: this.training,
    });
    const out = update ? projectWithLowRank(this.out, ctx, update.out) : this.out.forward(ctx);
    return dropout(out, this.cfg.dropout, this.rng, this.training);
  }
}
