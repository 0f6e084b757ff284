import { Tensor, gelu, linear, type Rng } from '../engine/index.js';
import { Module } from './module.js';
import { Linear } from './linear.js';
import { LayerNorm } from './layer_norm.js';
import { constant } from './init.js';

/**
 * BERT's language-model head: transform (dense, GELU, LayerNorm), then a decoder whose weight is
 * the token embedding table (tied) plus a per-token bias. Serves masked and causal LM alike.
 */
export class LmHead extends Module {
  readonly dense: Linear;
  readonly norm: LayerNorm;
  readonly bias: Tensor;

  constructor(dModel: number, vocabSize: number, layerNormEps: number, initStd: number, rng: Rng) {
    super();
    this.dense = this.child('dense', new Linear(dModel, dModel, rng, { std: initStd }));
    this.norm = this.child('norm', new LayerNorm(dModel, layerNormEps));
    this.bias = this.param('bias', constant([vocabSize], 0));
  }

  /** h [..., D] and the tied word embeddings [V, D] -> logits [..., V]. */
  forward(h: Tensor, wordEmbeddings: Tensor): Tensor {
    return linear(this.norm.forward(gelu(this.dense.forward(h))), wordEmbeddings, this.bias);
  }
}
