// The training step shared by pretraining (train/pretrain.ts), multi-task training
// (train/multitask.ts) and μ2Net path training (evolve/train_path.ts), so that the three loops
// cannot drift apart in which parameters decay, how gradients are clipped or when the learning
// rate is read. Each loop keeps its own forward pass and data; it hands the loss to step().
//
// evolve imports this from train, as it already imports evaluateTask and the model folders' types:
// evolve sits above train, and nothing here reaches back into evolve.
//
// The order of the float operations decides the bits of every run, and checkpoints and reference
// runs depend on them: the loss is read before backward (which frees the graph), gradients are
// clipped over the parameters in the caller's order (the global norm sums squares in that order),
// and the learning rate is peak × schedule × scale, multiplied left to right.

import * as E from '../engine/index.js';
import { AdamW, clipGradNorm, type ParamGroup, type Schedule, type Tensor } from '../engine/index.js';
import type { Module } from '../nn/index.js';
import { auxLoss } from '../sparse/index.js';
import { InputError } from '../util/errors.js';

/**
 * The weight-decay rule: matrices (ndim ≥ 2: weights, embedding tables, a Switch layer's stacked
 * experts, their stacked biases included) decay; vectors (biases, LayerNorm gains and shifts) do
 * not. Norms need no rule of their own: every LayerNorm parameter is a vector. The rule reads shapes, not names, because names carry
 * user-chosen task and skill names ("heads.normals.out.weight" is a matrix all the same).
 */
export function decays(p: Tensor): boolean {
  return p.ndim >= 2;
}

/** Parameters trained at `lrScale` × the learning rate (multi-task training's embeddings, lexical bags). */
export interface ScaledParams {
  params: ReadonlySet<Tensor>;
  lrScale: number;
}

export interface GroupOptions {
  scaled?: readonly ScaledParams[];
}

/**
 * AdamW's parameter groups: decaying, then non-decaying (weight decay 0); with `scaled`, that pair
 * for the other parameters and then for each scaled set in turn (a parameter in two sets belongs
 * to the first). Empty groups are left out. Each group keeps the caller's order, which is the
 * optimizer state's order (pretraining checkpoints store the moments in it).
 */
export function paramGroups(params: readonly Tensor[], o: GroupOptions = {}): ParamGroup[] {
  const pair = (ps: readonly Tensor[], lrScale?: number): ParamGroup[] => [
    { params: ps.filter(decays), ...(lrScale === undefined ? {} : { lrScale }) },
    { params: ps.filter((p) => !decays(p)), weightDecay: 0, ...(lrScale === undefined ? {} : { lrScale }) },
  ];
  if (!o.scaled?.length) return pair(params).filter((g) => g.params.length > 0);
  const setOf = params.map((p) => o.scaled!.findIndex((s) => s.params.has(p)));
  const groups = [
    ...pair(
      params.filter((_, i) => setOf[i] < 0),
      1,
    ),
    ...o.scaled.flatMap((s, k) =>
      pair(
        params.filter((_, i) => setOf[i] === k),
        s.lrScale,
      ),
    ),
  ];
  return groups.filter((g) => g.params.length > 0);
}

export interface TrainerOptions extends GroupOptions {
  /** Peak learning rate. */
  lr: number;
  weightDecay: number;
  /** Global gradient norm bound. */
  clipNorm: number;
  /** Multiplier of `lr` by the number of steps taken before this one (0 for the first). */
  schedule: Schedule;
  /**
   * Throw TrainingDiverged, before any update, when the loss or the gradient norm is not finite.
   * μ2Net's children leave it off: a diverged child scores -Infinity and loses the search.
   */
  stopOnNonFinite?: boolean;
}

/** A run whose loss or gradient stopped being finite; its model keeps the last finite parameters. */
export class TrainingDiverged extends InputError {}

/** What one step reports (an `onStep` callback's argument). */
export interface StepMetrics {
  /** Steps taken, this one included (1 for the first). */
  step: number;
  /** The loss handed to step(), without the Switch layers' auxiliary losses. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Learning rate of this step (schedule and scale applied). */
  lr: number;
}

/**
 * AdamW over `params`, grouped by paramGroups, with the schedule and clipping of one training
 * run. The step count, and so the schedule's position, is the optimizer's: a run that restores
 * the optimizer's state (a resumed pretraining run) continues the schedule where it stopped.
 */
export class Trainer {
  readonly opt: AdamW;
  /** The trained parameters, in the caller's order (the order gradients are clipped in). */
  readonly params: readonly Tensor[];

  /** `model` is where the Switch layers' auxiliary losses are collected from. */
  constructor(
    private readonly model: Module,
    params: readonly Tensor[],
    private readonly o: TrainerOptions,
  ) {
    this.params = [...params];
    this.opt = new AdamW(paramGroups(this.params, o), { lr: o.lr, weightDecay: o.weightDecay });
  }

  /** Steps taken so far. */
  get steps(): number {
    return this.opt.stepCount;
  }

  /**
   * One update from a loss computed in training mode: adds the Switch layers' auxiliary losses
   * (auxLoss(model)), backpropagates (freeing the activations), clips, and steps at
   * lr × schedule × lrScale (lrScale: e.g. a task's own scale in multi-task training).
   */
  step(loss: Tensor, lrScale = 1, what = ''): StepMetrics {
    const aux = auxLoss(this.model);
    const value = loss.item(); // before backward, which frees the graph's intermediates
    const at = () => `step ${this.opt.stepCount + 1}${what ? ` (${what})` : ''}`;
    if (this.o.stopOnNonFinite && !Number.isFinite(value)) throw new TrainingDiverged(`training diverged at ${at()}: the loss is ${value}`);
    const lr = this.o.lr * this.o.schedule(this.opt.stepCount) * lrScale;
    // Recycling hands last step's gradient buffers to this backward; nothing keeps a p.grad.
    this.opt.zeroGrad({ recycle: true });
    (aux ? E.add(loss, aux) : loss).backward(undefined, { freeActivations: true });
    const gradNorm = clipGradNorm(this.params, this.o.clipNorm);
    // Checked before the update, so the parameters are still the last finite ones.
    if (this.o.stopOnNonFinite && !Number.isFinite(gradNorm)) throw new TrainingDiverged(`training diverged at ${at()}: the gradient norm is ${gradNorm}`);
    this.opt.step(lr);
    return { step: this.opt.stepCount, loss: value, gradNorm, lr };
  }
}

/**
 * Freezes `params` (requiresGrad off: no gradient, so they may stay out of the optimizer) and
 * returns the function that gives each its previous requiresGrad back. Call that in a `finally`,
 * or use withFrozen: a model left frozen after a failed run can no longer train those parameters.
 */
export function freeze(params: Iterable<Tensor>): () => void {
  const ps = [...new Set(params)];
  const was = ps.map((p) => p.requiresGrad);
  for (const p of ps) p.requiresGrad = false;
  return () => ps.forEach((p, i) => (p.requiresGrad = was[i]));
}

/** Runs `fn` with `params` frozen, and restores them however `fn` ends, an exception included. */
export async function withFrozen<T>(params: Iterable<Tensor>, fn: () => Promise<T>): Promise<T> {
  const thaw = freeze(params);
  try {
    return await fn();
  } finally {
    thaw();
  }
}
