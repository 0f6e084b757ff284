// Reading a config: a JSON file, then `--a.b value` command-line overrides on top, checked as one
// object by the config's zod schema (every config is declared once as a schema: src/train/
// train_config.ts, pretrain_config.ts, ...). Objects are strict, so a key the schema does not know
// is an error naming its dotted path with a suggestion: a typo must not fall back to a default.

import type { z } from 'zod';
import { InputError } from '../util/errors.js';
import { closest, explain } from '../util/schema.js';
import { readFileOr } from '../util/read_file.js';

export { closest };

/** An invalid config: unknown key, wrong type, impossible value. */
export class ConfigError extends InputError {}

/** Where an override came from, in messages. */
export const FLAGS_SOURCE = 'command-line flags';

/** `--a.b value` overrides: dotted key -> the text given on the command line. */
export type Overrides = Record<string, string>;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An override's value: JSON where it parses (numbers, booleans, null, lists), else the text. */
export function overrideValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Objects merge key by key; anything else (lists included) is replaced. */
function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const p of path.slice(0, -1)) {
    if (!isObject(node[p])) node[p] = {};
    node = node[p] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

/** Reads a JSON config file; a missing file or bad JSON is a ConfigError naming it. */
export function readConfigFile(path: string): unknown {
  const text = readFileOr(path, () => new ConfigError(`config file not found: ${path}`, path)).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${path}: not valid JSON (${(e as Error).message})`, path);
  }
}

/**
 * Applies `overrides` to the config read from `file` (null: none, the defaults) and parses the
 * result with `schema`. A bad key or value throws a ConfigError with one line naming the source
 * and the dotted key: an unknown key is blamed on where it was written (the file or the
 * command-line flags); a bad value names the file (the config as a whole), and the flag when a
 * flag set it.
 */
export function loadConfig<S extends z.ZodType>(schema: S, file: string | null, overrides: Overrides = {}): z.output<S> {
  const json = file === null ? {} : readConfigFile(file);
  const source = file ?? FLAGS_SOURCE;
  if (!isObject(json)) throw new ConfigError(`${source}: the config must be a JSON object`, file ?? '');
  const merged = structuredClone(json);
  for (const [key, text] of Object.entries(overrides)) setPath(merged, key.split('.'), overrideValue(text));
  const r = schema.safeParse(merged);
  if (r.success) return r.data;
  const { path, message, unknownKey } = explain(schema, r.error, merged);
  const dotted = path.join('.');
  // The flag that set this key, or an object around it.
  const flag = Object.keys(overrides).find((k) => dotted === k || dotted.startsWith(`${k}.`));
  if (unknownKey) throw new ConfigError(`${flag ? FLAGS_SOURCE : source}: ${message}`, flag ? '' : (file ?? ''));
  throw new ConfigError(`${source}: ${message}${flag && file !== null ? ` (set by --${flag})` : ''}`, file ?? '');
}
