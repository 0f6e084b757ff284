// Parameter initialisers (seeded).

import { Tensor, numel, type Rng, type Shape } from '../engine/index.js';

/** Normal(0, std) truncated to [-2 std, 2 std] by resampling (BERT's initializer_range scheme). */
export function truncNormal(shape: Shape, rng: Rng, std: number): Tensor {
  const d = new Float32Array(numel(shape));
  for (let i = 0; i < d.length; i++) {
    let x = rng.normal();
    while (x < -2 || x > 2) x = rng.normal();
    d[i] = x * std;
  }
  return new Tensor(d, shape);
}

export function constant(shape: Shape, value: number): Tensor {
  return new Tensor(new Float32Array(numel(shape)).fill(value), shape);
}
