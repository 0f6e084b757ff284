// The Switch Transformer FFN: a learned router sends each token to its top-k experts, each
// expert an FFN of its own; only routed tokens are computed (grouped GEMM), an expert with no
// tokens costs nothing, and tokens over an expert's capacity are dropped (the residual carries
// them). The auxiliary losses and routing statistics of the last forward are kept on the layer.

import * as E from '../engine/index.js';
import { Tensor, type Rng } from '../engine/index.js';
import { Module } from '../nn/module.js';
import { truncNormal, constant } from '../nn/init.js';
import { type Activation, type FeedForward, type FfnLike, type RouteContext } from '../nn/ffn.js';
import { Router } from './router.js';
import { capacityOf, planDispatch } from './dispatch.js';
import { loadBalancingLoss, routerZLoss } from './aux_losses.js';
import type { SwitchConfig } from './schema.js';

// The layer's config (type, defaults, bounds) is declared once, as a schema, in schema.ts.
export { DEFAULT_SWITCH, type SwitchConfig } from './schema.js';

export interface RouterStats {
  /** Tokens kept per expert in the last forward. */
  tokensPerExpert: number[];
  /** Share of (token, choice) assignments dropped for capacity. */
  droppedFraction: number;
}

/** The experts' weights, stacked: W1 [E, F, D], b1 [E, F], W2 [E, D, F], b2 [E, D]. */
export class Experts extends Module {
  readonly w1: Tensor;
  readonly b1: Tensor;
  readonly w2: Tensor;
  readonly b2: Tensor;
  constructor(n: number, dModel: number, ffn: number, rng: Rng, std: number) {
    super();
    this.w1 = this.param('w1', truncNormal([n, ffn, dModel], rng, std));
    this.b1 = this.param('b1', constant([n, ffn], 0));
    this.w2 = this.param('w2', truncNormal([n, dModel, ffn], rng, std));
    this.b2 = this.param('b2', constant([n, dModel], 0));
  }
}

export class SwitchFFN extends Module implements FfnLike {
  readonly router: Router;
  readonly experts: Experts;
  /** Set by each training forward: lbWeight·lb + zWeight·z (null in eval / under noGrad). */
  auxLoss: Tensor | null = null;
  lastLb = NaN;
  lastZ = NaN;
  stats: RouterStats = { tokensPerExpert: [], droppedFraction: 0 };

  constructor(
    readonly cfg: SwitchConfig,
    readonly dModel: number,
    readonly ffn: number,
    readonly activation: Activation,
    private readonly rng: Rng,
    initStd: number,
  ) {
    super();
    if (!(cfg.topK >= 1 && cfg.topK <= cfg.experts)) throw new RangeError(`switch.topK must be in [1, ${cfg.experts}], got ${cfg.topK}`);
    this.router = this.child('router', new Router(dModel, cfg.experts, rng, initStd));
    this.experts = this.child('experts', new Experts(cfg.experts, dModel, ffn, rng, initStd));
  }

  /** Upcycling: every expert starts as a copy of a (pretrained) dense FFN. */
  initFromDense(dense: FeedForward): void {
    const { w1, b1, w2, b2 } = this.experts;
    for (let e = 0; e < this.cfg.experts; e++) {
      w1.f32.set(dense.fc1.weight.f32, e * dense.fc1.weight.size);
      w2.f32.set(dense.fc2.weight.f32, e * dense.fc2.weight.size);
      if (dense.fc1.bias) b1.f32.set(dense.fc1.bias.f32, e * this.ffn);
      if (dense.fc2.bias) b2.f32.set(dense.fc2.bias.f32, e * this.dModel);
    }
  }

  forward(x: Tensor, _route?: RouteContext): Tensor {
    const D = this.dModel;
    const N = x.size / D;
    const k = this.cfg.topK;
    const nE = this.cfg.experts;
    const xf = E.reshape(x, [N, D]);
    const r = this.router.route(xf, k, this.cfg.jitter, this.cfg.normalizeTopK);
    const factor = this.training ? this.cfg.capacityFactor : this.cfg.evalCapacityFactor;
    const plan = planDispatch(r.expert, N, k, nE, capacityOf(N, k, nE, factor));
    this.stats = { tokensPerExpert: Array.from(plan.counts), droppedFraction: plan.dropped / (N * k) };

    // Dispatch, experts (grouped GEMM over the routed rows only), combine.
    const rows = new Tensor(plan.token, [plan.token.length]);
    const xs = E.gatherRows(xf, rows);
    const { w1, b1, w2, b2 } = this.experts;
    // Quantized experts (pathwise quantize) run the int8 GEMM in inference (engine/ops/linear_int8.ts).
    const h = E.int8Applies(xs, w1)
      ? E.dropout(E.groupedLinearI8(xs, w1, b1, plan.offsets, this.activation), this.cfg.expertDropout, this.rng, this.training)
      : E.activationDropout(E.groupedLinear(xs, w1, b1, plan.offsets), this.activation, this.cfg.expertDropout, this.rng, this.training);
    const ys = E.int8Applies(h, w2) ? E.groupedLinearI8(h, w2, b2, plan.offsets) : E.groupedLinear(h, w2, b2, plan.offsets);
    const gates = E.gatherRows(r.gates, new Tensor(plan.gate, [plan.gate.length]));
    const out = E.scatterAddRowsScaled(ys, gates, rows, N);

    if (E.isGradEnabled() && this.training) {
      const lb = loadBalancingLoss(r.probs, r.expert, k);
      const z = routerZLoss(r.logits);
      this.lastLb = lb.item();
      this.lastZ = z.item();
      this.auxLoss = E.add(E.scale(lb, this.cfg.lbWeight), E.scale(z, this.cfg.zWeight));
    } else this.auxLoss = null;
    return E.reshape(out, x.shape);
  }
}

/** Sum of the auxiliary losses of every Switch layer in a model (null if none ran). */
export function auxLoss(model: Module): Tensor | null {
  let total: Tensor | null = null;
  for (const m of model.modules()) {
    if (m instanceof SwitchFFN && m.auxLoss) total = total ? E.add(total, m.auxLoss) : m.auxLoss;
  }
  return total;
}
