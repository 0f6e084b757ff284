// Scores a path on examples with its task's natural metric (src/tasks/score.ts, as evaluateTask
// does for a MultiTaskModel).

import { scorePredictions, type TaskScore } from '../tasks/score.js';
import type { Example, TaskData } from '../tasks/task.js';
import type { PathModel } from './path_model.js';

export async function evaluatePath(model: PathModel, task: Pick<TaskData, 'type' | 'labels'>, examples: readonly Example[]): Promise<TaskScore> {
  return scorePredictions(task, examples, await model.predict(examples));
}
