// Training of one child path: `steps` steps, or, with `patience`, until its dev score stops rising
// (μ2Net trains each child until validation stops improving): scored on dev every `evalEvery`
// steps, stopped after `patience` evaluations without a better score, and handed back with the
// weights of its best evaluation. With `cooldown`, a stalled dev does not stop the child at its
// peak rate: the rate, held since the warm-up, decays to 0 first (warm-up, stable, decay), since a
// linear decay over `steps` leaves a child that patience stops early mid-schedule. Only the
// components created for the child are trained: their parameters are the only ones given to the
// optimizer, and every other parameter of the path has requiresGrad turned off for the duration,
// so it gets no gradient and no update of any kind (no weight decay either: it is not in the
// optimizer at all). A locked component is refused outright.

import { Rng, lrSchedule, warmupStableDecay, type Tensor } from '../engine/index.js';
import type { TaskScore } from '../tasks/score.js';
import type { Example } from '../tasks/task.js';
import { BatchStream } from '../tasks/batches.js';
import type { Component, TaskPath } from '../model/index.js';
import { Trainer, freeze, type StepMetrics } from '../train/step.js';
import { parameterCopies } from './component_snapshot.js';

export interface TrainPathOptions {
  steps: number;
  batchSize: number;
  lr: number;
  /** Fraction of `steps` of linear warm-up; then linear decay to 0 (trainMultiTask's schedule). */
  warmupRatio: number;
  weightDecay: number;
  clipNorm: number;
  /** Multiplies the learning rate of a head's n-gram bag (tasks/heads.ts). Default 1. */
  lexicalLrScale?: number;
  seed: number;
  /** With `patience` > 0 (and dev examples given): steps between dev evaluations. Default 50. */
  evalEvery?: number;
  /** Dev evaluations without a better score before training stops (best weights kept); 0 or absent: train `steps` steps. */
  patience?: number;
  /**
   * With `patience`: the fraction of `steps` over which the rate decays to 0 once dev has stopped
   * rising, the rate holding at its peak until then (warm-up, stable, decay), and starting the
   * decay early enough to end by `steps`; the child stops at the decay's end. 0 or absent: the
   * rate decays linearly over `steps` from the start, and patience stops the child where it is.
   */
  cooldown?: number;
  /** Batches' worth of examples grouped by length (tasks/batches.ts); 1 = plain shuffled batches. Default 16. */
  groupByLength?: number;
  /** Called after every optimizer step (in the thread that trains: not carried into child jobs' workers). */
  onStep?: (m: StepMetrics) => void;
  /** Called after every dev evaluation (in the thread that trains; a worker posts it to the main thread). */
  onEval?: (e: EvalProgress) => void;
}

/** Where a child stands at one of its dev evaluations: what a search reports while a child trains. */
export interface EvalProgress {
  step: number;
  /** The child's step bound. */
  steps: number;
  dev: TaskScore;
  /** The best evaluation so far (this one included) and its step: the weights the child will keep. */
  best: TaskScore;
  bestStep: number;
  /** The rate's decay has begun (dev stalled, or the planned decay reached): the child stops at its end. */
  decaying: boolean;
}

export interface TrainPathResult {
  /** Mean training loss over the last quarter of the steps. */
  finalLoss: number;
  trainableParameters: number;
  /** Steps taken (fewer than `steps` when patience stopped the child). */
  steps: number;
  /** Given dev examples: the dev score of the weights the child now holds (with patience, its best evaluation's); else null. */
  dev: TaskScore | null;
}

export async function trainPath(
  model: TaskPath,
  trainable: readonly Component[],
  train: readonly Example[],
  o: TrainPathOptions,
  dev: readonly Example[] = [],
): Promise<TrainPathResult> {
  if (train.length === 0) throw new RangeError('trainPath: no training examples');
  for (const c of trainable) if (c.locked) throw new Error(`trainPath: component "${c.id}" is locked and must never be trained`);
  const own = new Set<Tensor>(trainable.flatMap((c) => c.module.parameters()));
  const pathParams = new Set(model.parameters());
  for (const p of own) if (!pathParams.has(p)) throw new Error(`trainPath: parameter "${p.name}" is not on this path`);
  const frozen = [...pathParams].filter((p) => !own.has(p));
  const params = [...own];
  const rng = new Rng(o.seed);
  const losses: number[] = [];
  const validate = (o.patience ?? 0) > 0 && dev.length > 0;
  const every = o.evalEvery ?? 50;
  if (validate && !(Number.isInteger(every) && every >= 1)) throw new RangeError(`trainPath: evalEvery must be an integer >= 1, got ${every}`);
  let best: { dev: TaskScore; step: number; weights: Record<string, Float32Array>[] } | null = null;
  let sinceBest = 0;
  let taken = 0;
  const cooldown = o.cooldown ?? 0;
  if (!(cooldown >= 0 && cooldown < 1)) throw new RangeError(`trainPath: cooldown must be in [0, 1), got ${cooldown}`);
  const warm = Math.round(o.warmupRatio * o.steps);
  // Cool-down (only with evaluations to stall): the decay's length, and the optimizer step it
  // starts at, brought forward when dev stops rising; never before the warm-up's end.
  const decaySteps = validate && cooldown > 0 ? Math.max(1, Math.round(cooldown * o.steps)) : 0;
  let decayFrom = Math.max(warm, o.steps - decaySteps);
  // Frozen components stay in inference mode (no dropout): they are fixed feature extractors,
  // and the features the child learns on are then exactly those it will see at prediction.
  model.eval();
  for (const c of trainable) c.module.train();
  const thaw = freeze(frozen);
  try {
    const sched =
      decaySteps > 0
        ? warmupStableDecay({ warmupSteps: warm, decaySteps, decayFrom: () => decayFrom })
        : lrSchedule({ kind: 'linear', warmupSteps: warm, totalSteps: o.steps });
    const bag = model.head.bag && own.has(model.head.bag.table) ? new Set([...model.head.bag.parameters(), ...model.head.bagOut!.parameters()]) : null;
    const trainer = new Trainer(model, params, {
      lr: o.lr,
      weightDecay: o.weightDecay,
      clipNorm: o.clipNorm,
      schedule: sched,
      ...(bag ? { scaled: [{ params: bag, lrScale: o.lexicalLrScale ?? 1 }] } : {}),
    });
    const stream = new BatchStream(train, rng, { batchSize: o.batchSize, group: o.groupByLength ?? 16 }, (xs) => model.lengths(xs));
    for (let step = 1; step <= o.steps; step++) {
      const rows = await stream.next();
      const loss = model.loss(await model.encode(rows));
      const m = trainer.step(loss);
      losses.push(m.loss);
      taken = step;
      o.onStep?.(m);
      const decayEnd = decaySteps > 0 && step >= decayFrom + decaySteps;
      if (validate && (step % every === 0 || step === o.steps || decayEnd)) {
        const score = await model.evaluate(dev);
        let stalled = false;
        if (!best || score.score > best.dev.score) {
          best = { dev: score, step, weights: trainable.map((c) => parameterCopies(c.module)) };
          sinceBest = 0;
        } else if (++sinceBest >= o.patience!) {
          // Dev has stopped rising at this rate: without a cool-down the child stops here; with one
          // it decays from here and stops at the decay's end (a decay already under way, planned
          // or brought forward, goes on as it was).
          if (decaySteps === 0) stalled = true;
          else decayFrom = Math.max(warm, Math.min(decayFrom, step));
        }
        o.onEval?.({ step, steps: o.steps, dev: score, best: best.dev, bestStep: best.step, decaying: decaySteps > 0 && step >= decayFrom });
        if (stalled) break;
      }
      if (decayEnd) break;
    }
    if (best) trainable.forEach((c, i) => c.module.loadParameters(best!.weights[i]));
  } finally {
    thaw();
    for (const c of trainable) c.module.eval();
  }
  const tail = losses.slice(Math.floor(losses.length * 0.75));
  const devScore = best?.dev ?? (dev.length > 0 ? await model.evaluate(dev) : null);
  return {
    finalLoss: tail.reduce((a, b) => a + b, 0) / Math.max(1, tail.length),
    trainableParameters: params.reduce((s, p) => s + p.size, 0),
    steps: taken,
    dev: devScore,
  };
}
