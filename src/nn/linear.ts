import { Tensor, activation, int8Applies, linear, linearI8, type FusedActivation, type Rng } from '../engine/index.js';
import { Module } from './module.js';
import { constant, truncNormal } from './init.js';

/**
 * y = x Wᵀ + b, W stored [out, in] (PyTorch / Hugging Face layout). A quantized layer (its weight
 * has an int8 form: engine/quantized.ts) runs the int8 GEMM in inference, from the crossover
 * batch size up; otherwise, and always in training, the fp32 GEMM on the dequantized weights.
 */
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
    return int8Applies(x, this.weight) ? linearI8(x, this.weight, this.bias) : linear(x, this.weight, this.bias);
  }

  /** act(forward(x)), the activation fused into the int8 GEMM when that runs. */
  forwardActivated(x: Tensor, act: FusedActivation): Tensor {
    if (int8Applies(x, this.weight)) return linearI8(x, this.weight, this.bias, act);
    return activation(linear(x, this.weight, this.bias), act);
  }
}
