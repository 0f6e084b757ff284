// JSON Lines: one JSON object per non-blank line, with errors naming the file and line.

import type { InputError } from './errors.js';

/** How a JSON value is described in error messages ("an array", "a number", ...). */
export function describeJson(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/**
 * Parses each non-blank line as JSON; the first bad line throws an error of the given InputError
 * class, naming the file and the 1-based line.
 */
export function parseJsonl(
  text: string,
  file: string,
  Err: new (message: string, file: string, line?: number) => InputError,
  check?: (value: unknown, line: number) => void,
): { line: number; value: unknown }[] {
  const out: { line: number; value: unknown }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    const line = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(lines[i]);
    } catch (e) {
      throw new Err(`${file} line ${line}: not valid JSON (${(e as Error).message})`, file, line);
    }
    check?.(value, line);
    out.push({ line, value });
  }
  return out;
}

/** parseJsonl, with every value a JSON object. */
export function parseJsonlObjects(
  text: string,
  file: string,
  Err: new (message: string, file: string, line?: number) => InputError,
  expect = 'a JSON object',
): { line: number; value: Record<string, unknown> }[] {
  return parseJsonl(text, file, Err, (v, line) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Err(`${file} line ${line}: expected ${expect}, got ${describeJson(v)}`, file, line);
  }) as { line: number; value: Record<string, unknown> }[];
}
