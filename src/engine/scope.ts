// Inference without garbage: `inference(fn)` runs fn with gradient recording off, and when it
// returns, every tensor created inside it goes back to the buffer pool except the ones it returns.
//
// Why: a forward pass allocates its activations as new buffers, and without a backward pass
// nothing hands them back (autograd.ts explains what that costs: a V8 full collection every
// ~64 MB of them, priced by everything else in the heap). Evaluation scores thousands of batches.
// The same guards as backward's freeActivations apply (storage.ts): only buffers the engine
// allocated, only when one Tensor wraps them, and a freed tensor throws on any later read. What
// it asks of the caller: keep no raw array (t.f32) of a tensor made inside fn, except of what fn
// returns.

import type { Tensor } from './tensor.js';
import { noGrad } from './autograd.js';
import { releaseIfSole } from './storage.js';

let collecting: Tensor[] | null = null;

/** @internal The Tensor constructor reports each new tensor here. */
export function noteTensor(t: Tensor): void {
  if (collecting !== null) collecting.push(t);
}

export function inference<T extends Tensor | readonly Tensor[]>(fn: () => T): T {
  const outer = collecting;
  const made: Tensor[] = [];
  collecting = made;
  let result: T;
  try {
    result = noGrad(fn);
  } finally {
    collecting = outer;
  }
  const keep = new Set<Tensor>(Array.isArray(result) ? (result as readonly Tensor[]) : [result as Tensor]);
  for (const t of made) {
    if (keep.has(t) || t.freed) continue;
    if (t.dtype === 'float32' && releaseIfSole(t.data)) t.freeStorage();
  }
  // Kept tensors belong to the caller now, and to an enclosing inference() if there is one.
  if (outer !== null) for (const t of keep) outer.push(t);
  return result;
}
