// The built-in tasks (see /work/shared/docs/data-sources.md and each loader's header). Every loader
// reads its pinned npm data package, builds fixed-seed splits (so pretraining never saw a dev/test
// unit of genre / pos / sense / wic), caches nothing on disk and returns fresh arrays.

import type { TaskData } from '../task.js';
import { InputError } from '../../util/errors.js';
import { loadDigitsTask } from './digits.js';
import { loadGenreTask } from './genre.js';
import { loadPosTask } from './pos.js';
import { loadSenseTask } from './sense.js';
import { loadSentTask } from './sent.js';
import { loadSlotsIntentTask, loadSlotsTask } from './slots.js';
import { loadSpamTask } from './spam.js';
import { loadWicTask } from './wic.js';

export const BUILTIN_TASKS: Record<string, () => TaskData> = {
  sent: loadSentTask,
  spam: loadSpamTask,
  sense: () => loadSenseTask(),
  genre: loadGenreTask,
  pos: loadPosTask,
  wic: loadWicTask,
  slots: loadSlotsTask,
  slotsIntent: loadSlotsIntentTask,
  digits: loadDigitsTask,
};

export const BUILTIN_TASK_NAMES: readonly string[] = Object.keys(BUILTIN_TASKS);

export function loadBuiltinTask(name: string): TaskData {
  if (!Object.hasOwn(BUILTIN_TASKS, name)) {
    throw new InputError(`unknown built-in task ${JSON.stringify(name)}; known tasks: ${BUILTIN_TASK_NAMES.join(', ')}`);
  }
  return BUILTIN_TASKS[name]();
}

export { loadDigitsTask, loadGenreTask, loadPosTask, loadSenseTask, loadSentTask, loadSlotsIntentTask, loadSlotsTask, loadSpamTask, loadWicTask };
