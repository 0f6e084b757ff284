// Parameter initialisers (seeded).

import { Tensor, numel, type Rng, type Shape } from '../engine/index.js';

let noInit = 0;

/**
 * Runs `build` with truncNormal drawing nothing (its tensors left at zero): for modules whose
 * every parameter is replaced right after, where drawing millions of normals is most of the cost
 * of building them (a served model rebuilt over shared weights). A module built so has drawn
 * nothing from its Rng: a generator it takes from that Rng afterwards (dropout's) is not the one
 * a normal build gives it, so only a model that will never train may be built this way.
 */
export function withoutRandomInit<T>(build: () => T): T {
  noInit++;
  try {
    return build();
  } finally {
    noInit--;
  }
}

/** Normal(0, std) truncated to [-2 std, 2 std] by resampling (BERT's initializer_range scheme). */
export function truncNormal(shape: Shape, rng: Rng, std: number): Tensor {
  const d = new Float32Array(numel(shape));
  if (noInit > 0) return new Tensor(d, shape);
  for (let i = 0; i < d.length; i++) {
    let x = rng.normal();
    while (x < -2 || x > 2) x = rng.normal();
    d[i] = x * std;
  }
  return new Tensor(d, shape);
}

/** Uniform(-bound, bound) (fastText's init of its input vectors: bound = 1 / dim). */
export function uniformInit(shape: Shape, rng: Rng, bound: number): Tensor {
  const d = new Float32Array(numel(shape));
  if (noInit > 0) return new Tensor(d, shape);
  for (let i = 0; i < d.length; i++) d[i] = (2 * rng.uniform() - 1) * bound;
  return new Tensor(d, shape);
}

export function constant(shape: Shape, value: number): Tensor {
  return new Tensor(new Float32Array(numel(shape)).fill(value), shape);
}
