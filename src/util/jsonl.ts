// JSON Lines: one JSON object per non-blank line, with errors naming the file and line.

import type { InputError } from './errors.js';

/** How a JSON value is described in error messages ("an array", "a number", ...). */
export function describeJson(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/**
 * Parses each non-blank line as a JSON object; the first bad line throws an error of the given
 * InputError class, naming the file and the 1-based line.
 */
export function parseJsonlObjects(
  text: string, file: string, Err: new (message: string, file: string, line?: number) => InputError, expect = 'a JSON object',
): { line: number; value: Record<string, unknown> }[] {
  const out: { line: number; value: Record<string, unknown> }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    if (raw.trim() === '') continue;
    const line = i + 1;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (e) {
      throw new Err(`${file} line ${line}: not valid JSON (${(e as Error).message})`, file, line);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Err(`${file} line ${line}: expected ${expect}, got ${describeJson(v)}`, file, line);
    out.push({ line, value: v as Record<string, unknown> });
  }
  return out;
}
