import { Tensor, layerNorm } from '../engine/index.js';
import { Module } from './module.js';
import { constant } from './init.js';

export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.param('weight', constant([dim], 1));
    this.bias = this.param('bias', constant([dim], 0));
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}
