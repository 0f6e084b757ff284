import { Tensor, activationDropout, dropout, ffnI8, int8Applies, type Rng } from '../engine/index.js';
import { Module } from './module.js';
import { Linear } from './linear.js';
import { projectWithLowRank, type LowRankUpdate } from './lora.js';

export type Activation = 'gelu' | 'gelu_tanh' | 'relu';

export interface FfnConfig {
  dModel: number;
  ffn: number;
  activation: Activation;
  dropout: number;
  initStd: number;
}

/**
 * Which named parts of a sparse layer a forward pass may use: SkillNet's active skills for the
 * current task or objective. Dense layers ignore it.
 */
export interface RouteContext {
  skills?: readonly string[];
}

/**
 * Anything that can stand in a block's FFN slot: dense FFN, Switch experts, skills. A low-rank
 * update (nn/lora.ts) reaches only a dense FFN: a sparse layer's is built without FFN factors.
 */
export interface FfnLike extends Module {
  forward(x: Tensor, route?: RouteContext, update?: LowRankUpdate | null): Tensor;
}

/** The position-wise feed-forward network: fc2(dropout(act(fc1(x)))), then dropout. */
export class FeedForward extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(
    readonly cfg: FfnConfig,
    private readonly rng: Rng,
  ) {
    super();
    this.fc1 = this.child('fc1', new Linear(cfg.dModel, cfg.ffn, rng, { std: cfg.initStd }));
    this.fc2 = this.child('fc2', new Linear(cfg.ffn, cfg.dModel, rng, { std: cfg.initStd }));
  }

  forward(x: Tensor, _route?: RouteContext, update: LowRankUpdate | null = null): Tensor {
    const fc1 = update?.fc1 ?? null;
    const fc2 = update?.fc2 ?? null;
    if (fc1 && fc2) {
      // With a path's low-rank update the hidden layer must exist in float32 (the update adds to
      // it before the activation), so the fused int8 FFN below does not apply.
      const pre = projectWithLowRank(this.fc1, x, fc1);
      const h = activationDropout(pre, this.cfg.activation, this.cfg.dropout, this.rng, this.training);
      return dropout(projectWithLowRank(this.fc2, h, fc2), this.cfg.dropout, this.rng, this.training);
    }
    // Inference on int8 weights: the hidden layer goes from one int8 GEMM to the next quantized.
    if (!this.training && int8Applies(x, this.fc1.weight) && int8Applies(x, this.fc2.weight))
      return ffnI8(x, this.fc1.weight, this.fc1.bias, this.cfg.activation, this.fc2.weight, this.fc2.bias);
    // Training fuses the activation with the hidden layer's dropout; inference may fuse it with
    // the int8 GEMM instead (forwardActivated).
    const h = this.training
      ? activationDropout(this.fc1.forward(x), this.cfg.activation, this.cfg.dropout, this.rng)
      : this.fc1.forwardActivated(x, this.cfg.activation);
    return dropout(this.fc2.forward(h), this.cfg.dropout, this.rng, this.training);
  }
}
