// A task entry of a model folder's config.json ({name, type, labels, pooling, source}; in a
// "components" folder also its path, which folder.ts checks): read by the loaders of both kinds
// that hold tasks, with messages that name the entry.

import { TASK_TYPES, type TaskType } from '../tasks/task.js';
import { lexicalSchema } from '../tasks/ngrams.js';
import { explain, shown } from '../util/schema.js';
import { imageShapeSchema } from '../tasks/task_config.js';
import { isObject } from './folder_config.js';
import type { TaskSpec } from './predictions.js';
import type { TaskSource } from './task_model.js';

/** Throws a ModelFolderError naming the folder's config.json and the message. */
export type Fail = (msg: string) => never;

/** A task entry's name, type, labels, pooling and source; `taken` holds the names already read. */
export function checkTaskEntry(t: unknown, at: string, taken: { has(name: string): boolean }, fail: Fail): { spec: TaskSpec; source: TaskSource | null } {
  if (!isObject(t)) fail(`${at} must be an object`);
  const task = t as Record<string, unknown>;
  if (typeof task.name !== 'string' || task.name === '') fail(`${at}.name must be a non-empty string`);
  const name = task.name as string;
  if (taken.has(name)) fail(`${at}.name "${name}" is used twice`);
  if (!TASK_TYPES.includes(task.type as TaskType)) fail(`${at}.type must be one of ${TASK_TYPES.join(', ')}`);
  if (!Array.isArray(task.labels) || !task.labels.every((l) => typeof l === 'string')) fail(`${at}.labels must be an array of strings`);
  const labels = task.labels as string[];
  // A regression head predicts a number; every other head predicts one of its labels.
  if (task.type === 'regression' ? labels.length !== 0 : labels.length === 0)
    fail(`${at}.labels must be ${task.type === 'regression' ? 'empty for a regression task' : `non-empty for a ${task.type} task`}`);
  if (new Set(labels).size !== labels.length) fail(`${at}.labels has duplicates`);
  if (task.pooling !== undefined && task.pooling !== 'cls' && task.pooling !== 'mean')
    fail(`${at}.pooling must be "cls" or "mean", got ${shown(task.pooling)}`);
  const src = task.source ?? null;
  if (src !== null && (!isObject(src) || !(typeof src.builtin === 'string' || isObject(src.files))))
    fail(`${at}.source must be {"builtin": NAME}, {"files": {...}} or null`);
  const spec: TaskSpec = { name, type: task.type as TaskType, labels };
  if (task.pooling !== undefined) spec.pooling = task.pooling as 'cls' | 'mean';
  if ((task.image !== undefined) !== (spec.type === 'image_classification'))
    fail(
      `${at}.image ${spec.type === 'image_classification' ? 'is required for an image task ({width, height, channels, flips})' : `is only for image tasks, not a ${spec.type} task`}`,
    );
  if (task.image !== undefined) {
    const img = imageShapeSchema.safeParse(task.image);
    if (!img.success) fail(explain(imageShapeSchema, img.error, task.image, { prefix: `${at}.image` }).message);
    spec.image = img.data;
  }
  if (task.lexical !== undefined) {
    const lex = lexicalSchema.safeParse(task.lexical);
    if (!lex.success) fail(explain(lexicalSchema, lex.error, task.lexical, { prefix: `${at}.lexical` }).message);
    if (spec.type === 'tagging') fail(`${at}.lexical: a tagging task's head has no lexical part`);
    spec.lexical = lex.data;
  }
  return { spec, source: src as TaskSource | null };
}
