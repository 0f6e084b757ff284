// AdamW (decoupled weight decay, bias-corrected moments), PyTorch's torch.optim.AdamW semantics.
// One fused kernel call per parameter tensor.

import { K } from '../backend.js';
import { release } from '../storage.js';
import { dropInt8 } from '../quantized.js';
import type { Tensor } from '../tensor.js';

export interface AdamWOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** A set of parameters sharing options (e.g. biases and norms without weight decay). */
export interface ParamGroup {
  params: Tensor[];
  weightDecay?: number;
  /** Multiplies the optimizer's learning rate for this group. */
  lrScale?: number;
}

export interface AdamWState {
  step: number;
  /** Moments per parameter, in the order of `parameters()`. */
  m: Float32Array[];
  v: Float32Array[];
}

export class AdamW {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly groups: Required<ParamGroup>[];
  private t = 0;
  private readonly m = new Map<Tensor, Float32Array>();
  private readonly v = new Map<Tensor, Float32Array>();

  constructor(params: Tensor[] | ParamGroup[], opts: AdamWOptions) {
    const [b1, b2] = opts.betas ?? [0.9, 0.999];
    if (!(opts.lr >= 0)) throw new RangeError(`AdamW: lr must be >= 0, got ${opts.lr}`);
    if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1)) throw new RangeError(`AdamW: betas must be in [0, 1), got [${b1}, ${b2}]`);
    this.lr = opts.lr;
    this.beta1 = b1;
    this.beta2 = b2;
    this.eps = opts.eps ?? 1e-8;
    const wd = opts.weightDecay ?? 0.01;
    const groups: ParamGroup[] = params.length > 0 && !('params' in params[0]) ? [{ params: params as Tensor[] }] : (params as ParamGroup[]);
    this.groups = groups.map((g) => ({ params: g.params, weightDecay: g.weightDecay ?? wd, lrScale: g.lrScale ?? 1 }));
    for (const p of this.parameters()) {
      if (!p.requiresGrad) throw new Error(`AdamW: parameter "${p.name}" does not require grad`);
      // A parameter being trained leaves its int8 form behind (engine/quantized.ts): it would go stale.
      dropInt8(p);
      this.m.set(p, new Float32Array(p.size));
      this.v.set(p, new Float32Array(p.size));
    }
  }

  parameters(): Tensor[] {
    return this.groups.flatMap((g) => g.params);
  }

  get stepCount(): number {
    return this.t;
  }

  /** One update of every parameter that has a gradient (with lr, if given, for this step). */
  step(lr = this.lr): void {
    this.t++;
    const bc1 = 1 - this.beta1 ** this.t;
    const bc2 = 1 - this.beta2 ** this.t;
    for (const g of this.groups) {
      for (const p of g.params) {
        if (p.grad === null) continue;
        K.adamw(p.f32, p.grad, this.m.get(p)!, this.v.get(p)!, lr * g.lrScale, this.beta1, this.beta2, this.eps, g.weightDecay, bc1, bc2);
      }
    }
  }

  /**
   * Drops every gradient (PyTorch's zero_grad(set_to_none=True)). With `recycle`, the gradient
   * buffers go back to the engine's buffer pool for the next backward: the caller promises to keep
   * no reference to a `p.grad` array past this call. Pathwise's trainers do this: without it the
   * word-embedding gradient alone is 16.8 MB of new memory a step (see docs/engine.md on why new
   * memory costs collections).
   */
  zeroGrad(opts: { recycle?: boolean } = {}): void {
    for (const p of this.parameters()) {
      if (opts.recycle && p.grad !== null) release(p.grad);
      p.grad = null;
    }
  }

  state(): AdamWState {
    const ps = this.parameters();
    return { step: this.t, m: ps.map((p) => this.m.get(p)!), v: ps.map((p) => this.v.get(p)!) };
  }

  loadState(s: AdamWState): void {
    const ps = this.parameters();
    if (s.m.length !== ps.length || s.v.length !== ps.length) {
      throw new Error(`AdamW.loadState: state has ${s.m.length} moments for ${ps.length} parameters`);
    }
    ps.forEach((p, i) => {
      if (s.m[i].length !== p.size || s.v[i].length !== p.size) {
        throw new Error(`AdamW.loadState: moment ${i} ("${p.name}") has ${s.m[i].length} values, parameter has ${p.size}`);
      }
      this.m.get(p)!.set(s.m[i]);
      this.v.get(p)!.set(s.v[i]);
    });
    this.t = s.step;
  }
}
