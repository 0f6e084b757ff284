// Whether an output folder can be written, checked before any work and without creating anything:
// a run that can only fail at its last step (saving) should fail at its first.

import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InputError } from './errors.js';

/**
 * Throws an InputError "`where`: cannot write to `out` (ENOTDIR|EACCES: the path at fault)" unless
 * `out`, or the nearest folder above it that exists, is a folder this process may write in.
 */
export function checkWritableFolder(out: string, where: string, file = ''): void {
  let at = resolve(out);
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  if (at === resolve(out) && !statSync(at).isDirectory()) throw new InputError(`${where}: ${out} is a file, not a folder`, file);
  const why = !statSync(at).isDirectory() ? 'ENOTDIR' : canWrite(at) ? null : 'EACCES';
  if (why) throw new InputError(`${where}: cannot write to ${out} (${why}: ${at})`, file);
}

function canWrite(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
