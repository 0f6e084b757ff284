// Gradient clipping by global norm (torch.nn.utils.clip_grad_norm_).

import { K } from '../backend.js';
import type { Tensor } from '../tensor.js';

/** Scales all gradients so their global L2 norm is at most maxNorm; returns the norm before. */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): number {
  let sq = 0;
  for (const p of params) if (p.grad) sq += K.sumSquares(p.grad);
  const norm = Math.sqrt(sq);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const p of params) if (p.grad) K.axpby(p.grad, coef, p.grad, 0);
  return norm;
}
