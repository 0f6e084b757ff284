import { Tensor, dropout, selfAttention, type Rng } from '../engine/index.js';
import { Module } from './module.js';
import { Linear } from './linear.js';

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

  /** x [B, T, D]; mask additive, broadcastable to [B, H, T, T]. */
  forward(x: Tensor, mask: Tensor | null = null, causal = false): Tensor {
    const ctx = selfAttention(this.qkv.forward(x), {
      heads: this.cfg.heads,
      mask,
      causal,
      dropout: this.cfg.attentionDropout ?? this.cfg.dropout,
      rng: this.rng,
      training: this.training,
    });
    return dropout(this.out.forward(ctx), this.cfg.dropout, this.rng, this.training);
  }
}
