import { Tensor, add, type Rng } from '../engine/index.js';
import { Module } from './module.js';
import { LayerNorm } from './layer_norm.js';
import { MultiHeadSelfAttention } from './attention.js';
import { FeedForward, type Activation } from './ffn.js';

export interface BlockConfig {
  dModel: number;
  heads: number;
  ffn: number;
  activation: Activation;
  dropout: number;
  layerNormEps: number;
  initStd: number;
}

/** Pre-LN Transformer block: h = x + attn(ln1(x)); y = h + ffn(ln2(h)). */
export class EncoderBlock extends Module {
  readonly ln1: LayerNorm;
  readonly attn: MultiHeadSelfAttention;
  readonly ln2: LayerNorm;
  readonly ffn: FeedForward;

  constructor(readonly cfg: BlockConfig, rng: Rng) {
    super();
    this.ln1 = this.child('ln1', new LayerNorm(cfg.dModel, cfg.layerNormEps));
    this.attn = this.child('attn', new MultiHeadSelfAttention(cfg, rng));
    this.ln2 = this.child('ln2', new LayerNorm(cfg.dModel, cfg.layerNormEps));
    this.ffn = this.child('ffn', new FeedForward(cfg, rng));
  }

  forward(x: Tensor, mask: Tensor | null = null, causal = false): Tensor {
    const h = add(x, this.attn.forward(this.ln1.forward(x), mask, causal));
    return add(h, this.ffn.forward(this.ln2.forward(h)));
  }
}
