// The Switch router: a bias-free Linear(d, E) in float32, softmax over experts, top-k choice.
// In training, multiplicative jitter noise U(1-ε, 1+ε) on the router input (Switch Transformer
// §2.4) explores assignments; evaluation is deterministic.

import * as E from '../engine/index.js';
import { Tensor, type Rng } from '../engine/index.js';
import { Module } from '../nn/module.js';
import { truncNormal } from '../nn/init.js';

export interface Routing {
  /** Router logits [N, E] (for the z-loss). */
  logits: Tensor;
  /** Softmax probabilities [N, E] (for the load-balancing loss). */
  probs: Tensor;
  /** Chosen experts [N, k], descending probability (ties: lower index). */
  expert: Int32Array;
  /** Gate of each choice [N * k, 1], differentiable through the router. */
  gates: Tensor;
}

export class Router extends Module {
  readonly weight: Tensor;

  constructor(
    readonly dModel: number,
    readonly experts: number,
    private readonly rng: Rng,
    std: number,
  ) {
    super();
    this.weight = this.param('weight', truncNormal([experts, dModel], rng, std));
  }

  route(x: Tensor, k: number, jitter: number, normalizeTopK: boolean): Routing {
    const [N] = x.shape;
    const nE = this.experts;
    let input = x;
    if (this.training && jitter > 0) {
      const noise = E.rand(x.shape, this.rng, 1 - jitter, 1 + jitter);
      input = E.mul(x, noise);
    }
    const logits = E.matmul(input, this.weight, { transB: true });
    const probs = E.softmax(logits);
    // topk records no gradient, so probs goes in as it is: a detached view would be one more Tensor
    // over its buffer, and autograd could then never hand the buffer back (engine/autograd.ts).
    const expert = E.topkIndices(probs, k).i32;
    const flat = new Int32Array(N * k);
    for (let n = 0; n < N; n++) for (let j = 0; j < k; j++) flat[n * k + j] = n * nE + expert[n * k + j];
    let gates = E.gatherRows(E.reshape(probs, [N * nE, 1]), new Tensor(flat, [N * k]));
    if (k > 1 && normalizeTopK) {
      const g = E.reshape(gates, [N, k]);
      gates = E.reshape(E.div(g, E.sum(g, { axis: 1, keepdim: true })), [N * k, 1]);
    }
    return { logits, probs, expert, gates };
  }
}
