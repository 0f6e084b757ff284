// A user task's config, declared once: { name, type, labels?, train, dev?, test?, devFraction?,
// seed?, format? } (from_files.ts explains each). The same schema checks a task config file
// (`pathwise add-task --task t.json`), a task inside `pathwise train`'s config, and a task source
// saved in a model folder; its type, defaults and JSON Schema come from here.

import { z } from 'zod';
import { SPLIT_SEED } from '../data/splits.js';
import { parseOrThrow, safeName, seed } from '../util/schema.js';
import { TASK_TYPES, type TaskType } from './task.js';

const path = () => z.string().min(1);

export const taskConfigSchema = z
  .strictObject({
    name: safeName().describe("the task's name (a head, a row in reports, the name `--task` takes)"),
    type: z.enum(TASK_TYPES as [TaskType, ...TaskType[]]).describe('what the head predicts'),
    labels: z.array(z.string().min(1)).min(1).optional().describe('the label (tag) set, in order; omitted: inferred from train, sorted. Not for regression'),
    train: path().describe('training data, a JSONL or CSV file'),
    dev: path().optional().describe('dev data; omitted: devFraction of train is carved off'),
    test: path().optional().describe('test data; omitted: no test set'),
    devFraction: z.number().min(0).lt(1).default(0.1).describe('share of train carved off as dev when dev is omitted (0: no dev set)'),
    seed: seed().default(SPLIT_SEED).describe('seed of the dev carve'),
    format: z.enum(['auto', 'jsonl', 'csv']).default('auto').describe('file format; auto: by extension, else by the first character'),
  })
  .superRefine((v, ctx) => {
    if (v.type === 'regression' && v.labels !== undefined) ctx.addIssue({ code: 'custom', path: [], message: 'a regression task takes no @{labels}' });
    if (Array.isArray(v.labels) && new Set(v.labels).size !== v.labels.length) ctx.addIssue({ code: 'custom', path: [], message: '@{labels} has duplicates' });
  });

/** A task config as written (optional keys may be left out). */
export type TaskFileConfig = z.input<typeof taskConfigSchema>;
/** A checked task config, defaults filled in. */
export type TaskConfig = z.output<typeof taskConfigSchema>;
export type TaskFileFormat = TaskConfig['format'];

export const DEFAULT_DEV_FRACTION = taskConfigSchema.shape.devFraction.parse(undefined);

/**
 * Checks a task config; a bad one throws `Err` ("<source>: "devFraction" must be ...", keys quoted
 * as task-config messages have always been), with `file` for InputError's file field.
 */
export function parseTaskConfig(raw: unknown, source: string, Err: new (message: string, file?: string) => Error, file?: string): TaskConfig {
  return parseOrThrow(taskConfigSchema, raw, { source, quote: true, Err, file });
}
