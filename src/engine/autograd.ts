// Reverse-mode automatic differentiation.
//
// Ops record a Node on their output when gradients are enabled and an input requires one.
// `backward` sorts the graph topologically, walks it in reverse, and accumulates gradients:
// leaves keep theirs in `.grad` (summed across backward calls, as in PyTorch, until the optimizer
// clears them); intermediate gradients live only during the walk. The graph is freed as it is
// walked (PyTorch's retain_graph=False), releasing saved activations early.
//
// Gradient buffers may be shared: an op's backward can return the same array for two inputs
// (add returns `grad` twice, once to the residual stream and once to the branch). So autograd
// counts, for each buffer it owns, how many pending gradients hold it (`holders`); it writes one
// in place only when it is the sole holder, and otherwise accumulation allocates. A buffer whose
// last holder has been consumed is dead and goes back to the buffer pool (storage.ts) for the
// next allocation of its size. (When sharing simply gave up ownership, every residual add leaked
// its gradient to the GC: 7.5 MB of new memory a six-task step, most of what the step still
// allocated.)
//
// With `freeActivations`, the intermediate tensors' storage goes back to the pool too: once the
// reverse walk reaches a tensor, every op that read it has run its backward, so autograd no longer
// needs its values. Without it, each training step creates ~200 MB of new ArrayBuffers (the
// forward activations), and V8 answers every ~64 MB of new external memory with a full
// collection, whose cost grows with everything else alive in the heap (the built-in datasets
// loaded for multi-task training, for one). A buffer is freed only when every Tensor ever made
// over it is an intermediate the walk has passed (one tensor, or a reshape and its input; a
// detached view or the root keeps it), see storage.ts, and a freed tensor throws on any later
// read; the caller's side of the contract is to keep no raw array (t.f32) of an intermediate past
// backward(). The root is never freed.
//
// The contract for a Node's backward(g): return, per input, null, g itself (passed through), or
// a freshly allocated buffer that nothing else references. Never a view of g or of a saved
// forward buffer.

import type { Node, Tensor } from './tensor.js';
import { K } from './backend.js';
import { SMALL, emptyF32, release, releaseIfAllSeen, releaseIfSole } from './storage.js';

/** A pooled copy (Float32Array.from copies element by element through the iterator, into new memory). */
function copyOf(g: Float32Array): Float32Array {
  const c = emptyF32(g.length);
  c.set(g);
  return c;
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn with gradient recording off (inference); restores the previous mode. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** True when an op with these inputs must record a node. */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): boolean {
  if (!gradEnabled) return false;
  for (const t of inputs) if (t?.requiresGrad) return true;
  return false;
}

/** Attaches a node to an op's output (call only when needsGrad(...inputs)). */
export function record(out: Tensor, op: string, inputs: readonly Tensor[], backward: Node['backward']): Tensor {
  out.requiresGrad = true;
  out.node = { op, inputs, backward };
  return out;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative post-order DFS (deep graphs must not overflow the JS stack).
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.node ? t.node.inputs : [];
    if (i < inputs.length) {
      top[1] = i + 1;
      const c = inputs[i];
      if (c.requiresGrad && !seen.has(c)) {
        seen.add(c);
        stack.push([c, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
  return order;
}

export interface BackwardOptions {
  /** Hand intermediate tensors' storage back to the pool as the walk passes them (see above). */
  freeActivations?: boolean;
}

export function backward(root: Tensor, grad?: Float32Array, opts: BackwardOptions = {}): void {
  if (!root.requiresGrad) throw new Error('backward: tensor does not require grad (no trainable input, or made under noGrad)');
  let rootOwned = false;
  if (grad === undefined) {
    if (root.size !== 1) throw new Error(`backward: a gradient is needed for a non-scalar output of shape [${root.shape.join(', ')}]`);
    grad = new Float32Array(1).fill(1);
    rootOwned = true;
  } else if (grad.length !== root.size) {
    throw new RangeError(`backward: gradient has ${grad.length} elements, output has ${root.size}`);
  }
  const order = topoOrder(root);
  const grads = new Map<Tensor, Float32Array>();
  // Buffers autograd owns, with how many entries of `grads` hold each (pending gradients).
  const holders = new Map<Float32Array, number>();
  grads.set(root, grad);
  if (rootOwned) holders.set(grad, 1);

  /** One holder of g is done with it; the last one hands it back to the pool. */
  const drop = (g: Float32Array): void => {
    const n = holders.get(g);
    if (n === undefined) return;
    if (n > 1) holders.set(g, n - 1);
    else {
      holders.delete(g);
      release(g);
    }
  };
  /** Whether g may be written in place (or kept): autograd owns it and nothing else holds it. */
  const sole = (g: Float32Array): boolean => holders.get(g) === 1;

  // g arrives holding one count for t.
  const accumulate = (t: Tensor, g: Float32Array): void => {
    const prev = grads.get(t);
    if (prev === undefined) {
      grads.set(t, g);
    } else if (sole(prev)) {
      K.axpby(prev, 1, g, 1);
      drop(g);
    } else {
      const sum = emptyF32(g.length);
      sum.set(prev);
      K.axpby(sum, 1, g, 1);
      holders.set(sum, 1);
      grads.set(t, sum);
      drop(prev);
      drop(g);
    }
  };

  // Intermediates that share one buffer (a reshape and its input: the Switch layer's output, the
  // router's probabilities): the ones the walk has passed, by buffer. The buffer goes back once
  // every Tensor ever made over it is among them; until this, each step lost such buffers to the GC
  // and allocated them anew (2.2 MB a step of bench:moe's layer, each new page a fault).
  const passed = new Map<ArrayBufferLike, Tensor[]>();
  const freeActivation = (t: Tensor): void => {
    if (releaseIfSole(t.data)) {
      t.freeStorage();
      return;
    }
    if (t.data.length < SMALL) return; // never pooled, nor counted as a view (storage.ts)
    const b = t.data.buffer;
    const views = passed.get(b) ?? [];
    views.push(t);
    if (releaseIfAllSeen(t.data, views.length)) {
      for (const v of views) v.freeStorage();
      passed.delete(b);
    } else passed.set(b, views);
  };

  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i];
    const g = grads.get(t);
    if (g === undefined) continue;
    const node = t.node;
    if (node === null) {
      // A leaf: fold into .grad. A previous .grad belongs to the leaf (its graph is gone).
      if (t.grad === null) {
        if (sole(g)) {
          holders.delete(g); // the leaf keeps it
          t.grad = g;
        } else {
          t.grad = copyOf(g);
          drop(g);
        }
      } else {
        K.axpby(t.grad, 1, g, 1);
        drop(g);
      }
      continue;
    }
    grads.delete(t);
    t.node = null; // free the graph as we go
    const inGrads = node.backward(g);
    if (opts.freeActivations && t !== root) freeActivation(t);
    // Contract for backward functions: each returned buffer is either `g` itself (passed
    // through) or freshly allocated. Each input that takes a buffer becomes one of its holders;
    // t's own hold on g ends here.
    for (let j = 0; j < node.inputs.length; j++) {
      const gi = inGrads[j];
      const x = node.inputs[j];
      if (gi === null || !x.requiresGrad) continue;
      if (gi.length !== x.size) {
        throw new Error(`autograd: ${node.op} returned a gradient of ${gi.length} elements for an input of ${x.size}`);
      }
      if (gi === g) {
        const n = holders.get(g);
        if (n !== undefined) holders.set(g, n + 1);
      } else holders.set(gi, (holders.get(gi) ?? 0) + 1);
    }
    // A fresh gradient for an input that wants none (a layer's input that is data) has no reader
    // (handed back once, however many such inputs it was returned for).
    for (let j = 0; j < node.inputs.length; j++) {
      const gi = inGrads[j];
      if (gi !== null && gi !== g && !node.inputs[j].requiresGrad && !holders.has(gi) && inGrads.indexOf(gi) === j) {
        holders.set(gi, 1);
        drop(gi);
      }
    }
    drop(g);
    for (let j = 0; j < node.inputs.length; j++) {
      const gi = inGrads[j];
      const x = node.inputs[j];
      if (gi === null || !x.requiresGrad) continue;
      accumulate(x, gi);
    }
  }
}
