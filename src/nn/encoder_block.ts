import { Tensor, add, type Rng } from '../engine/index.js';
import { Module } from './module.js';
import { LayerNorm } from './layer_norm.js';
import { MultiHeadSelfAttention, type Attend } from './attention.js';
import { FeedForward, type Activation, type FfnLike, type RouteContext } from './ffn.js';
import type { LowRankUpdate } from './lora.js';

export type NormPlacement = 'pre' | 'post';

export interface BlockConfig {
  dModel: number;
  heads: number;
  ffn: number;
  activation: Activation;
  /** Dropout on the residual branches (and inside the FFN). */
  dropout: number;
  /** Dropout on the attention probabilities (defaults to `dropout`). */
  attentionDropout?: number;
  layerNormEps: number;
  initStd: number;
  /** 'pre' (default; GPT-2 style, stable to train) or 'post' (original Transformer / BERT). */
  normPlacement?: NormPlacement;
}

/**
 * A Transformer encoder block.
 *   pre-LN:  h = x + attn(ln1(x));   y = h + ffn(ln2(h))
 *   post-LN: h = ln1(x + attn(x));   y = ln2(h + ffn(h))      (BERT; needed to import its weights)
 */
export class EncoderBlock extends Module {
  readonly ln1: LayerNorm;
  readonly attn: MultiHeadSelfAttention;
  readonly ln2: LayerNorm;
  readonly ffn: FfnLike;

  /** `ffn` replaces the dense FFN (a Switch or skill layer built by src/sparse). */
  constructor(
    readonly cfg: BlockConfig,
    rng: Rng,
    ffn?: FfnLike,
  ) {
    super();
    this.ln1 = this.child('ln1', new LayerNorm(cfg.dModel, cfg.layerNormEps));
    this.attn = this.child('attn', new MultiHeadSelfAttention(cfg, rng));
    this.ln2 = this.child('ln2', new LayerNorm(cfg.dModel, cfg.layerNormEps));
    this.ffn = this.child('ffn', ffn ?? new FeedForward(cfg, rng));
  }

  /**
   * x [B, T, D] with a padding mask, or [1, N, D] packed (Attend: every other op is per token).
   * `update`: a path's low-rank update of this block's projections (nn/lora.ts), or none.
   */
  forward(x: Tensor, mask: Attend = null, causal = false, route?: RouteContext, update: LowRankUpdate | null = null): Tensor {
    if (this.cfg.normPlacement === 'post') {
      const h = this.ln1.forward(add(x, this.attn.forward(x, mask, causal, update)));
      return this.ln2.forward(add(h, this.ffn.forward(h, route, update)));
    }
    const h = add(x, this.attn.forward(this.ln1.forward(x), mask, causal, update));
    return add(h, this.ffn.forward(this.ln2.forward(h), route, update));
  }
}
