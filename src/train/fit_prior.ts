// Fitting the heads' Naive Bayes priors after training (tasks/naive_bayes_prior.ts): each
// classification task's prior is counted on its whole training set, and its weight is the one of
// PRIOR_WEIGHTS whose product with the trained network scores best on a sample of dev (ties: the
// smaller weight). A best weight of 0 leaves the head without a prior. The network's logits are
// computed once; each weight is then plain arithmetic, in float32 as the head adds them, so the
// dev score reported for the chosen weight is the model's own.

import type { TaskModel } from '../model/index.js';
import { NaiveBayesPrior, takesPrior } from '../tasks/naive_bayes_prior.js';
import { scorePredictions } from '../tasks/score.js';
import { sampleExamples, type TaskData } from '../tasks/task.js';

/** Dev examples a weight is chosen on, per task: 2,000 puts a score's standard error near 1 point. */
export const PRIOR_DEV_EXAMPLES = 2000;

/** The weights tried, in order (0: no prior). */
export const PRIOR_WEIGHTS = [0, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3];

export interface PriorFit {
  /** The chosen weight (0: the head has no prior). */
  weight: number;
  /** The dev sample's score without the prior, and with the chosen weight. */
  devWithout: number;
  devWith: number;
  /** Dev examples scored. */
  devExamples: number;
}

export interface FitPriorOptions {
  /** Cap on dev examples per task (a fixed random sample, as the trainer's evaluations). */
  devExamples: number;
  seed: number;
  log?: (s: string) => void;
}

/** Counts and weighs a prior for every classification task of `tasks` with training and dev examples. */
export async function fitPriors(model: TaskModel, tasks: readonly TaskData[], o: FitPriorOptions): Promise<Record<string, PriorFit>> {
  const out: Record<string, PriorFit> = {};
  for (const t of tasks) {
    if (!takesPrior(t.type) || t.train.length === 0 || t.dev.length === 0) continue;
    const headId = model.task(t.name).path.head;
    // A finished task's head is locked, and so is what it predicts: a prior would change it.
    if (model.store.get(headId).locked) throw new Error(`task "${t.name}" is finished (its head "${headId}" is locked): its prior cannot change`);
    const path = model.taskPath(t.name);
    path.head.setPrior(null);
    const dev = sampleExamples(t.dev, o.devExamples, o.seed, 0x9b);
    const prior = NaiveBayesPrior.count(t.train, t.labels);
    const net = await path.logitsOf(dev);
    const nb = prior.logPosteriors(dev);
    const C = t.labels.length;
    const scoreAt = (weight: number) => {
      const w = Math.fround(weight); // as withWeight stores it
      const labels = dev.map((_, r) => {
        let best = 0;
        let bestV = -Infinity;
        for (let c = 0; c < C; c++) {
          // As the head computes it: float32 products and sums; ties to the earlier label (argmax).
          const v = Math.fround(net[r * C + c] + Math.fround(nb[r * C + c] * w));
          if (v > bestV) [best, bestV] = [c, v];
        }
        return t.labels[best];
      });
      return scorePredictions(t, dev, labels).score;
    };
    const devWithout = scoreAt(0);
    let fit: PriorFit = { weight: 0, devWithout, devWith: devWithout, devExamples: dev.length };
    for (const w of PRIOR_WEIGHTS.slice(1)) {
      const s = scoreAt(w);
      if (s > fit.devWith) fit = { ...fit, weight: w, devWith: s };
    }
    if (fit.weight > 0) path.head.setPrior(prior.withWeight(fit.weight));
    out[t.name] = fit;
    o.log?.(
      `${t.name}: Naive Bayes prior ${fit.weight > 0 ? `weight ${fit.weight}` : 'not used'} (dev ${devWithout.toFixed(3)} -> ${fit.devWith.toFixed(3)}, ${dev.length} examples)`,
    );
  }
  return out;
}
