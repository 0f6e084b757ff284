// A residual adapter (Houlsby et al. 2019; μ2Net's optional per-block adapters):
//   y = x + up(gelu(down(LayerNorm(x))))
// The up-projection's weight and bias start at zero, so a fresh adapter is exactly the identity:
// inserting one into a trained path leaves that path's function unchanged until it trains, and
// a child that inserts adapters starts from its parent's quality instead of from noise.

import { Tensor, add, type Rng } from '../engine/index.js';
import { Module } from './module.js';
import { LayerNorm } from './layer_norm.js';
import { Linear } from './linear.js';

export interface AdapterConfig {
  dModel: number;
  /** Bottleneck width. */
  size: number;
  layerNormEps: number;
  /** Std of the down-projection's truncated-normal init. */
  initStd: number;
}

export class ResidualAdapter extends Module {
  readonly norm: LayerNorm;
  readonly down: Linear;
  readonly up: Linear;

  constructor(
    readonly dModel: number,
    readonly size: number,
    readonly eps: number,
    rng: Rng,
    readonly initStd = 0.02,
  ) {
    super();
    if (!Number.isInteger(dModel) || dModel < 1) throw new RangeError(`adapter dModel must be a positive integer, got ${dModel}`);
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`adapter size must be a positive integer, got ${size}`);
    this.norm = this.child('norm', new LayerNorm(dModel, eps));
    this.down = this.child('down', new Linear(dModel, size, rng, { std: initStd }));
    this.up = this.child('up', new Linear(size, dModel, rng, { std: initStd }));
    // Zero init of the whole up-projection (the bias is already zero): identity at init. The
    // down-projection's gradient is then zero on the first step, but the up-projection's is not
    // (it sees gelu(down(...)) != 0), so the adapter starts learning at once.
    this.up.weight.f32.fill(0);
    this.up.bias?.f32.fill(0);
  }

  get config(): AdapterConfig {
    return { dModel: this.dModel, size: this.size, layerNormEps: this.eps, initStd: this.initStd };
  }

  /** x [..., D] -> [..., D]. */
  forward(x: Tensor): Tensor {
    return add(x, this.up.forward(this.down.forwardActivated(this.norm.forward(x), 'gelu')));
  }
}
