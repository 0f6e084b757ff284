// A user task's config, declared once: { name, type, labels?, train, dev?, test?, devFraction?,
// seed?, format?, and for image tasks width, height, channels, flips? } (from_files.ts explains
// each; images/load_image_task.ts the image keys). The same schema checks a task config file
// (`pathwise add-task --task t.json`), a task inside `pathwise train`'s config, and a task source
// saved in a model folder; its type, defaults and JSON Schema come from here.

import { z } from 'zod';
import { SPLIT_SEED } from '../data/splits.js';
import { parseOrThrow, safeName, seed } from '../util/schema.js';
import { TASK_TYPES, type TaskType } from './task.js';

const path = () => z.string().min(1);

/** The keys only an image task takes. */
const IMAGE_KEYS = ['width', 'height', 'channels', 'flips'] as const;
/** The most pixels along a side of a task's images. */
export const MAX_IMAGE_SIDE = 4096;
const side = () => z.int().min(1).max(MAX_IMAGE_SIDE);
/** A side of an image, and its channel count, as every schema that holds an image shape checks them. */
export const imageFields = { width: side(), height: side(), channels: z.literal([1, 3, 4]) };
/** An image task's shape as a model folder saves it (TaskSpec.image). */
export const imageShapeSchema = z.strictObject({ ...imageFields, flips: z.boolean() });

export const taskConfigSchema = z
  .strictObject({
    name: safeName().describe("the task's name (a head, a row in reports, the name `--task` takes)"),
    type: z.enum(TASK_TYPES as [TaskType, ...TaskType[]]).describe('what the head predicts'),
    labels: z.array(z.string().min(1)).min(1).optional().describe('the label (tag) set, in order; omitted: inferred from train, sorted. Not for regression'),
    train: path().describe('training data, a JSONL or CSV file (image tasks: a JSONL file, or a folder per class)'),
    dev: path().optional().describe('dev data; omitted: devFraction of train is carved off'),
    test: path().optional().describe('test data; omitted: no test set'),
    devFraction: z.number().min(0).lt(1).default(0.1).describe('share of train carved off as dev when dev is omitted (0: no dev set)'),
    seed: seed().default(SPLIT_SEED).describe('seed of the dev carve'),
    format: z
      .enum(['auto', 'jsonl', 'csv', 'folder'])
      .default('auto')
      .describe(
        'file format; auto: by extension, else by the first character (image tasks: a folder is read as one, a file as JSONL); folder: image tasks only, a sub-folder of images per class',
      ),
    width: side().optional().describe('image tasks only (then required): the width every image is read at (resized when it differs)'),
    height: side().optional().describe('image tasks only (then required): the height every image is read at (resized when it differs)'),
    channels: z.literal([1, 3, 4]).optional().describe('image tasks only (then required): 1 (grey), 3 (RGB) or 4 (RGBA); images are converted to it'),
    flips: z
      .boolean()
      .optional()
      .meta({ default: false })
      .describe('image tasks only: training may flip images left-right; only for tasks whose classes are mirror-invariant'),
  })
  .superRefine((v, ctx) => {
    if (v.type === 'regression' && v.labels !== undefined) ctx.addIssue({ code: 'custom', path: [], message: 'a regression task takes no @{labels}' });
    if (Array.isArray(v.labels) && new Set(v.labels).size !== v.labels.length) ctx.addIssue({ code: 'custom', path: [], message: '@{labels} has duplicates' });
    if (v.type === 'image_classification') {
      const missing = (['width', 'height', 'channels'] as const).filter((k) => v[k] === undefined);
      if (missing.length > 0) {
        const keys = missing.map((k) => `@{${k}}`);
        const list = keys.length === 1 ? keys[0] : `${keys.slice(0, -1).join(', ')} and ${keys[keys.length - 1]}`;
        ctx.addIssue({ code: 'custom', path: [], message: `an image_classification task needs ${list} (the shape every image is read in)` });
      }
      if (v.format === 'csv')
        ctx.addIssue({ code: 'custom', path: [], message: '@{format}: "csv" is not for image_classification tasks (they read JSONL, or a folder per class)' });
    } else {
      const given = IMAGE_KEYS.find((k) => v[k] !== undefined);
      if (given) ctx.addIssue({ code: 'custom', path: [], message: `@{${given}} is only for image_classification tasks, not ${v.type}` });
      if (v.format === 'folder')
        ctx.addIssue({ code: 'custom', path: [], message: `@{format}: "folder" is only for image_classification tasks, not ${v.type}` });
    }
  });

/** A task config as written (optional keys may be left out). */
export type TaskFileConfig = z.input<typeof taskConfigSchema>;
/** A checked task config, defaults filled in. */
export type TaskConfig = z.output<typeof taskConfigSchema>;
export type TaskFileFormat = TaskConfig['format'];

export const DEFAULT_DEV_FRACTION = taskConfigSchema.shape.devFraction.parse(undefined);

/** The image shape a checked image task config gives (`flips` defaults to false); null for other tasks. */
export function imageShapeOf(cfg: TaskConfig): { width: number; height: number; channels: number; flips: boolean } | null {
  if (cfg.type !== 'image_classification' || cfg.width === undefined || cfg.height === undefined || cfg.channels === undefined) return null;
  return { width: cfg.width, height: cfg.height, channels: cfg.channels, flips: cfg.flips ?? false };
}

/**
 * Checks a task config; a bad one throws `Err` ("<source>: "devFraction" must be ...", keys quoted
 * as task-config messages have always been), with `file` for InputError's file field.
 */
export function parseTaskConfig(raw: unknown, source: string, Err: new (message: string, file?: string) => Error, file?: string): TaskConfig {
  return parseOrThrow(taskConfigSchema, raw, { source, quote: true, Err, file });
}
