// An image classification task from the user's files (type "image_classification"): its config
// gives the shape every image is read in, `width`, `height` and `channels` (1 grey, 3 RGB, 4 RGBA),
// and `flips` (default false: whether training may mirror images left-right, only for classes
// that a mirror image does not change). Each of train / dev / test is one of:
//  - a JSONL file of {"pixels": [...], "label"} or {"image": "path.png", "label"} rows (./image_jsonl.ts);
//  - a folder with a sub-folder of images per class (./image_folder.ts).
// format "auto" (the default) tells them apart per path: a folder is read as a folder per class,
// anything else as JSONL; "jsonl" and "folder" insist. The rest is as for text tasks
// (../from_files.ts): labels given (order kept; every label must be one of them) or inferred from
// train (sorted; dev and test must keep to them), dev carved off train by devFraction and seed
// when not given, no test set when not given. Every example has text "" and its image in the
// task's shape, and the task's `image` field says that shape.

import { statSync } from 'node:fs';
import { TaskDataError, carveDev, inferLabels, labelCheck, type LabelCheck } from '../from_files.js';
import type { Example, ImageShape, TaskData } from '../task.js';
import { imageShapeOf, type TaskConfig } from '../task_config.js';
import { readImageFolder } from './image_folder.js';
import { readImageJsonl } from './image_jsonl.js';

/** How a split's path is read: a folder per class, or JSONL ("auto": a folder is a folder). */
export function imageSourceKind(path: string, format: TaskConfig['format']): 'folder' | 'jsonl' {
  if (format === 'folder') return 'folder';
  if (format === 'jsonl') return 'jsonl';
  try {
    return statSync(path).isDirectory() ? 'folder' : 'jsonl';
  } catch {
    return 'jsonl'; // missing: the JSONL reader says "not found"
  }
}

/** One split's examples from a JSONL file or a folder per class. */
export function readImageSplit(path: string, shape: ImageShape, format: TaskConfig['format'], ck: LabelCheck): Promise<Example[]> {
  return imageSourceKind(path, format) === 'folder' ? readImageFolder(path, shape, ck) : readImageJsonl(path, shape, ck);
}

/** Loads an image classification task from its checked config (see the top of this file). Rejects with TaskDataError. */
export async function loadImageTask(cfg: TaskConfig): Promise<TaskData> {
  const image = imageShapeOf(cfg);
  if (image === null)
    throw new TaskDataError(`task config: task "${cfg.name}" is not an image_classification task with width, height and channels`, '<config>');
  const shape: ImageShape = { width: image.width, height: image.height, channels: image.channels };
  const given = cfg.labels !== undefined;
  const trainAll = await readImageSplit(cfg.train, shape, cfg.format, labelCheck(cfg.labels ?? null, given));
  const labels = cfg.labels ? [...cfg.labels] : inferLabels(trainAll);
  const check = labelCheck(labels, given);
  let train: Example[];
  let dev: Example[];
  if (cfg.dev !== undefined) {
    train = trainAll;
    dev = await readImageSplit(cfg.dev, shape, cfg.format, check);
  } else {
    ({ train, dev } = carveDev(trainAll, cfg.devFraction, cfg.seed));
  }
  const test = cfg.test !== undefined ? await readImageSplit(cfg.test, shape, cfg.format, check) : [];
  return { name: cfg.name, type: 'image_classification', labels, train, dev, test, image };
}
