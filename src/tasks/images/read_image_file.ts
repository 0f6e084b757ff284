// One image file of a task's data, read and decoded into the task's shape; what goes wrong is
// said as a reason the caller puts after the file (and line) that named the image.

import { readFile } from 'node:fs/promises';
import type { ImageInput, ImageShape } from '../task.js';
import { decodeImageOr } from './decode_image.js';

/** How many image files a split reads and decodes at a time. */
export const DECODE_CONCURRENCY = 8;

/**
 * The image at `path` in `shape` (./decode_image.ts). A missing or unreadable file, one that is
 * not PNG or JPEG, and one that cannot be decoded call `fail` with the reason
 * ("file not found", "not a PNG or JPEG file", "cannot decode this PNG (...)"), which must throw.
 */
export async function readImageFile(path: string, shape: ImageShape, fail: (reason: string) => never): Promise<ImageInput> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return fail(code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a folder, not an image file' : `cannot read the file (${(e as Error).message})`);
  }
  return decodeImageOr(bytes, shape, fail);
}
