// An image task's split as a folder per class (format "folder"; torchvision's ImageFolder):
//
//   train/
//     cat/  001.png  002.jpg ...
//     dog/  a.jpeg ...
//
// The classes are the sub-folders, in code-unit order of their names (the label set when the task
// config gives none); the images of a class are its .png, .jpg and .jpeg files (any case), in
// code-unit order of their names, so a folder always loads in the same order. Names starting with
// "." (.DS_Store, .ipynb_checkpoints) and other files are skipped; symbolic links are followed.
// A folder with no class sub-folder, a class folder with no image, and (when labels are given or
// were inferred from train) a class outside the label set are errors naming the folder; an image
// that cannot be decoded is an error naming the image file.

import { readdirSync, statSync, type Stats } from 'node:fs';
import { extname, join } from 'node:path';
import { TaskDataError, type LabelCheck } from '../from_files.js';
import type { Example, ImageShape } from '../task.js';
import { mapInOrder } from './map_in_order.js';
import { DECODE_CONCURRENCY, readImageFile } from './read_image_file.js';

/** The file extensions read as images (lower case). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg'];

/** One image of a class folder. */
export interface ImageFile {
  label: string;
  file: string;
}

const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The names in `dir` (sorted, without dot-names) whose entry satisfies `keep` (links followed). */
function entries(dir: string, keep: (s: Stats) => boolean): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new TaskDataError(`task data folder not found: ${dir}`, dir);
    if (code === 'ENOTDIR')
      throw new TaskDataError(`${dir} is a file, not a folder (format "folder" reads a folder with one sub-folder of images per class)`, dir);
    throw new TaskDataError(`cannot read task data folder ${dir}: ${(e as Error).message}`, dir);
  }
  return names
    .filter((n) => !n.startsWith('.'))
    .sort(byCodeUnits)
    .filter((n) => {
      try {
        return keep(statSync(join(dir, n)));
      } catch {
        return false; // a dangling link
      }
    });
}

/**
 * The images of a folder per class, class by class (sorted), each class's files sorted. `ck`: the
 * label set the class names must be in (labels null: any name; they are being inferred).
 */
export function listImageFolder(dir: string, ck: LabelCheck): ImageFile[] {
  const classes = entries(dir, (s) => s.isDirectory());
  if (classes.length === 0) {
    throw new TaskDataError(
      `${dir}: no class folders (format "folder" expects one sub-folder per class, holding that class's .png, .jpg or .jpeg images)`,
      dir,
    );
  }
  const out: ImageFile[] = [];
  for (const label of classes) {
    const classDir = join(dir, label);
    if (ck.labels && !ck.labels.has(label)) {
      throw new TaskDataError(
        `${classDir}: class folder "${label}" is not in the label set [${ck.labelList!.map((l) => JSON.stringify(l)).join(', ')}]`,
        classDir,
      );
    }
    const files = entries(classDir, (s) => s.isFile()).filter((n) => IMAGE_EXTENSIONS.includes(extname(n).toLowerCase()));
    if (files.length === 0) throw new TaskDataError(`${classDir}: empty class folder (no .png, .jpg or .jpeg files)`, classDir);
    for (const f of files) out.push({ label, file: join(classDir, f) });
  }
  return out;
}

/** Reads a folder per class into examples of `shape` (text "", the label, the image). Rejects with TaskDataError. */
export async function readImageFolder(dir: string, shape: ImageShape, ck: LabelCheck): Promise<Example[]> {
  const files = listImageFolder(dir, ck);
  return mapInOrder(files, DECODE_CONCURRENCY, async ({ label, file }): Promise<Example> => {
    const image = await readImageFile(file, shape, (reason) => {
      throw new TaskDataError(`${file}: ${reason}`, file);
    });
    return { text: '', label, image };
  });
}
