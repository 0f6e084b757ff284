// Layer normalisation over the last axis (one fused kernel each way).

import { K } from '../backend.js';
import { needsGrad, record } from '../autograd.js';
import { emptyF32, release } from '../storage.js';
import { Tensor, shapeStr } from '../tensor.js';

export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
  const C = x.cols;
  if (gamma.size !== C || beta.size !== C) {
    throw new RangeError(`layerNorm: gamma ${shapeStr(gamma.shape)} / beta ${shapeStr(beta.shape)} must have ${C} elements for input ${shapeStr(x.shape)}`);
  }
  const R = x.rows;
  const y = emptyF32(x.size);
  const mean = emptyF32(R);
  const rstd = emptyF32(R);
  K.layerNorm(y, mean, rstd, x.f32, gamma.f32, beta.f32, R, C, eps);
  const out = new Tensor(y, x.shape);
  if (!needsGrad(x, gamma, beta)) return out;
  return record(out, 'layerNorm', [x, gamma, beta], (g) => {
    const dx = emptyF32(x.size);
    const dgamma = new Float32Array(C);
    const dbeta = new Float32Array(C);
    K.layerNormBackward(dx, dgamma, dbeta, g, x.f32, mean, rstd, gamma.f32, R, C);
    if (!x.requiresGrad) release(dx); // the kernel writes dx whatever is wanted
    return [x.requiresGrad ? dx : null, gamma.requiresGrad ? dgamma : null, beta.requiresGrad ? dbeta : null];
  });
}
