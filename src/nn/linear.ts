import { Tensor, linear, type Rng } from '../engine/index.js';
import { Module } from './module.js';
import { constant, truncNormal } from './init.js';

/** y = x Wᵀ + b, W stored [out, in] (PyTorch / Hugging Face layout). */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    rng: Rng,
    opts: { bias?: boolean; std?: number } = {},
  ) {
    super();
    this.weight = this.param('weight', truncNormal([outFeatures, inFeatures], rng, opts.std ?? 0.02));
    this.bias = opts.bias === false ? null : this.param('bias', constant([outFeatures], 0));
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}
