// Whether an output folder can be written, checked before any work and without creating anything:
// a run that can only fail at its last step (saving) should fail at its first.

import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { realpathSync } from 'node:fs';
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

/**
 * Throws an InputError when `out` is the folder `src` or inside it: a command that rewrites a
 * folder into a new one (export, quantize) must not write over or into what it reads.
 */
export function checkOutsideOf(src: string, out: string, what: string, flag = '--out'): void {
  const from = relative(realpathSync(src), resolve(out));
  if (from === '' || (!from.startsWith('..') && !isAbsolute(from)))
    throw new InputError(`${flag} ${out} is ${from === '' ? `the folder being ${what}` : `inside the folder being ${what}`}; give another folder`);
}
