// A task's natural metrics from predictions (one per example: the label, the value or the tags a
// model's typed prediction holds, see model/predictions.ts): accuracy and macro-F1 for (pair) classification, span F1 for BIO
// tagging, token accuracy for other tagging, Pearson for regression. `score` is the first, the
// one model selection uses.

import { accuracy, macroF1, pearson, spanF1, tokenAccuracy } from './metrics.js';
import type { Example, TaskData } from './task.js';

export interface TaskScore {
  /** The task's main metric, used for model selection. */
  score: number;
  metric: string;
  [k: string]: number | string;
}

export type Prediction = string | number | string[];

export function scorePredictions(task: Pick<TaskData, 'type' | 'labels'>, examples: readonly Example[], pred: readonly Prediction[]): TaskScore {
  if (pred.length !== examples.length) throw new RangeError(`scorePredictions: ${pred.length} predictions for ${examples.length} examples`);
  if (task.type === 'regression') {
    const r = pearson(
      examples.map((e) => Number(e.label)),
      pred as number[],
    );
    return { score: r, metric: 'pearson', pearson: r };
  }
  if (task.type === 'tagging') {
    const gold = examples.map((e) => e.tags ?? []);
    const p = pred as string[][];
    const tok = tokenAccuracy(gold, p);
    if (task.labels.some((l) => l.startsWith('B-'))) {
      const f = spanF1(gold, p).f1;
      return { score: f, metric: 'span_f1', span_f1: f, token_accuracy: tok };
    }
    return { score: tok, metric: 'token_accuracy', token_accuracy: tok };
  }
  const gold = examples.map((e) => String(e.label));
  const acc = accuracy(gold, pred as string[]);
  return { score: acc, metric: 'accuracy', accuracy: acc, macro_f1: macroF1(gold, pred as string[], task.labels) };
}
