// Scores a path on examples with its task's natural metric: the same metrics, in the same order
// of preference, as evaluateTask in src/train/multitask.ts (which is typed to MultiTaskModel):
// accuracy for (pair) classification, span F1 for BIO tagging, token accuracy for other tagging,
// Pearson for regression.

import { accuracy, macroF1, pearson, spanF1, tokenAccuracy } from '../tasks/metrics.js';
import type { Example, TaskData } from '../tasks/task.js';
import type { TaskScore } from '../train/multitask.js';
import type { PathModel, Prediction } from './path_model.js';

export async function evaluatePath(model: PathModel, task: Pick<TaskData, 'type' | 'labels'>, examples: readonly Example[]): Promise<TaskScore> {
  return scorePredictions(task, examples, await model.predict(examples));
}

/**
 * The metrics of predictions already made (one per example, as PathModel.predict and
 * MultiTaskModel.predict return them), for callers that run the forward pass themselves, e.g.
 * to digest the logits on the way (bench/continual.ts).
 */
export function scorePredictions(task: Pick<TaskData, 'type' | 'labels'>, examples: readonly Example[], pred: readonly Prediction[]): TaskScore {
  if (pred.length !== examples.length) throw new RangeError(`scorePredictions: ${pred.length} predictions for ${examples.length} examples`);
  if (task.type === 'regression') {
    const r = pearson(examples.map((e) => Number(e.label)), pred as number[]);
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
