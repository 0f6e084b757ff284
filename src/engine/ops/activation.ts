// Activations and dropout.

import { K } from '../backend.js';
import { needsGrad, record } from '../autograd.js';
import { UnaryOp } from '../kernels.js';
import { emptyF32, emptyMask, releaseMask } from '../storage.js';
import { Tensor } from '../tensor.js';
import type { Rng } from '../rng.js';

function unaryOp(op: UnaryOp, name: string, x: Tensor): Tensor {
  const y = emptyF32(x.size);
  K.unary(op, y, x.f32);
  const out = new Tensor(y, x.shape);
  if (!needsGrad(x)) return out;
  // tanh's derivative is cheapest from its output; the others need the input.
  const saved = op === UnaryOp.Tanh ? y : x.f32;
  return record(out, name, [x], (g) => {
    const d = emptyF32(g.length);
    K.unaryBackward(op, d, saved, g);
    return [d];
  });
}

/** Exact GELU, x·Φ(x) (PyTorch's default, BERT's). */
export const gelu = (x: Tensor): Tensor => unaryOp(UnaryOp.Gelu, 'gelu', x);
/** GELU with the tanh approximation (GPT-2's). */
export const geluTanh = (x: Tensor): Tensor => unaryOp(UnaryOp.GeluTanh, 'geluTanh', x);
export const relu = (x: Tensor): Tensor => unaryOp(UnaryOp.Relu, 'relu', x);
export const tanh = (x: Tensor): Tensor => unaryOp(UnaryOp.Tanh, 'tanh', x);

/** An activation by name (nn's names): what an FFN, a pooler or the int8 GEMM's epilogue applies. */
export type ActivationName = 'gelu' | 'gelu_tanh' | 'relu' | 'tanh';

/** @internal Each name's kernel op (the int8 epilogue takes the code). */
export const ACTIVATION_OPS: Readonly<Record<ActivationName, UnaryOp>> = {
  gelu: UnaryOp.Gelu,
  gelu_tanh: UnaryOp.GeluTanh,
  relu: UnaryOp.Relu,
  tanh: UnaryOp.Tanh,
};

/** The named activation of x: the same op as gelu, geluTanh, relu or tanh. */
export function activation(x: Tensor, name: ActivationName): Tensor {
  return unaryOp(ACTIVATION_OPS[name], name === 'gelu_tanh' ? 'geluTanh' : name, x);
}

/**
 * Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1-p).
 * Identity when p = 0 or `training` is false. The mask comes from a counter-based hash seeded by
 * one draw of `rng`, so it is reproducible and identical on both backends.
 */
export function dropout(x: Tensor, p: number, rng: Rng, training = true): Tensor {
  if (!(p >= 0 && p < 1)) throw new RangeError(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  const seed = rng.nextU32();
  const y = emptyF32(x.size);
  const mask = emptyMask(x.size);
  K.dropout(y, mask, x.f32, p, seed);
  const out = new Tensor(y, x.shape);
  if (!needsGrad(x)) {
    releaseMask(mask);
    return out;
  }
  return record(out, 'dropout', [x], (g) => {
    const d = emptyF32(g.length);
    K.dropoutBackward(d, g, mask, p);
    releaseMask(mask);
    return [d];
  });
}

/**
 * dropout(activation(x, name), p, rng, training) in one kernel pass each way (an FFN's hidden
 * layer): the same values, gradients, rng draw and bits as the two ops, one 4-byte-per-element
 * buffer fewer written and read in each direction.
 */
export function activationDropout(x: Tensor, name: ActivationName, p: number, rng: Rng, training = true): Tensor {
  if (!(p >= 0 && p < 1)) throw new RangeError(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return activation(x, name);
  // tanh's derivative comes from its output, which the fused pass does not keep before dropout.
  if (name === 'tanh') return dropout(activation(x, name), p, rng, training);
  const op = ACTIVATION_OPS[name];
  const seed = rng.nextU32();
  const y = emptyF32(x.size);
  const mask = emptyMask(x.size);
  K.unaryDropout(op, y, mask, x.f32, p, seed);
  const out = new Tensor(y, x.shape);
  if (!needsGrad(x)) {
    releaseMask(mask);
    return out;
  }
  return record(out, 'activationDropout', [x], (g) => {
    const d = emptyF32(g.length);
    K.unaryDropoutBackward(op, d, x.f32, g, mask, p);
    releaseMask(mask);
    return [d];
  });
}
