// An image task's JSONL file: one example per line, {"pixels": [...], "label": ...} or
// {"image": "cats/001.png", "label": ...}; other fields are ignored.
//  - pixels: the image inline (./pixel_rows.ts), exactly the task's shape.
//  - image:  a PNG or JPEG file, its path relative to the JSONL file's folder (or absolute),
//            resized and converted to the task's shape (./decode_image.ts).
//  - label:  as for text classification (../from_files.ts): a string, or an integer index into
//            the task config's `labels` when it gives them.
// Every row is checked first, in order (fields, label, pixel values, that each image file
// exists); then the images are decoded, several at a time. Either way the first bad line is the
// one reported, as `file line N: ...`, with the image's path when the image is at fault.

import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { describeJson, parseJsonlObjects } from '../../util/jsonl.js';
import { TaskDataError, classLabel, readTaskText, type LabelCheck } from '../from_files.js';
import type { Example, ImageInput, ImageShape } from '../task.js';
import { mapInOrder } from './map_in_order.js';
import { pixelsOf, shapeText } from './pixel_rows.js';
import { DECODE_CONCURRENCY, readImageFile } from './read_image_file.js';

/** The path an `image` field names: relative to the folder of the JSONL file that names it. */
export function imagePathOf(jsonlFile: string, image: string): string {
  return isAbsolute(image) ? image : join(dirname(jsonlFile), image);
}

/**
 * Reads and validates one image task JSONL file into examples of `shape` (text "", the label, the
 * image). `ck`: the label set to check against (labels null: any label; they are being inferred).
 * Rejects with TaskDataError naming the file and line.
 */
export async function readImageJsonl(file: string, shape: ImageShape, ck: LabelCheck): Promise<Example[]> {
  const rows = parseJsonlObjects(readTaskText(file), file, TaskDataError);
  if (rows.length === 0) throw new TaskDataError(`${file}: empty file (no examples)`, file, 1);
  const pending: { line: number; label: string; pixels?: Uint8Array; path?: string }[] = [];
  for (const { line, value: f } of rows) {
    const fail = (what: string): never => {
      throw new TaskDataError(`${file} line ${line}: ${what}`, file, line);
    };
    const has = (k: string) => Object.hasOwn(f, k) && f[k] !== undefined;
    if (has('pixels') && has('image')) fail('both "pixels" and "image" are given (give the image one way: its pixels, or the path of its file)');
    if (!has('pixels') && !has('image')) {
      fail(
        `missing field "pixels" or "image" (the pixels as one flat array of ${shapeText(shape)} integers in 0-255, or the path of a PNG or JPEG file relative to ${dirname(file)})`,
      );
    }
    if (!has('label')) fail(`missing field "label" (a string, or an integer index into the task config's "labels")`);
    const label = classLabel(f.label, ck, false, fail);
    if (has('pixels')) {
      pending.push({ line, label, pixels: pixelsOf(f.pixels, shape, fail) });
      continue;
    }
    const image = f.image;
    if (typeof image !== 'string' || image.trim() === '') {
      fail(`field "image" is ${typeof image === 'string' ? 'blank' : describeJson(image)}, not the path of a PNG or JPEG file`);
    }
    const path = imagePathOf(file, image as string);
    if (!existsSync(path)) fail(`image ${path}: file not found (paths are relative to ${dirname(file)})`);
    pending.push({ line, label, path });
  }
  return mapInOrder(pending, DECODE_CONCURRENCY, async (p): Promise<Example> => {
    const image: ImageInput = p.pixels
      ? { ...shape, pixels: p.pixels }
      : await readImageFile(p.path!, shape, (reason) => {
          throw new TaskDataError(`${file} line ${p.line}: image ${p.path}: ${reason}`, file, p.line);
        });
    return { text: '', label: p.label, image };
  });
}
