// Reading an input file: one place that turns the system's error into the caller's message.

import { readFileSync } from 'node:fs';

/**
 * The bytes of `file`. When it cannot be read, throws what `fail` makes of the reason: the error
 * code ("ENOENT", "EISDIR", "EACCES", ...; the message when there is none) and the error itself.
 */
export function readFileOr(file: string | number, fail: (code: string, e: Error) => Error): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw fail((e as NodeJS.ErrnoException).code ?? (e as Error).message, e as Error);
  }
}
