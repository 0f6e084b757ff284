// Command-line parsing for every `pathwise` command, on node:util's parseArgs. A command declares
// its own flags; train and pretrain also take `--a.b value` config overrides, which are passed on
// as text for the config's schema to check (src/train/config.ts), so the CLI holds no defaults and
// no bounds of its own.

import { parseArgs } from 'node:util';
import type { z } from 'zod';
import type { Overrides } from '../train/config.js';
import { InputError } from '../util/errors.js';
import { closest, explain } from '../util/schema.js';

/** Wrong command-line usage. */
export class UsageError extends InputError {}

export type FlagSpec = Record<string, 'string' | 'boolean'>;
export type FlagValues<F extends FlagSpec> = { [K in keyof F]?: F[K] extends 'boolean' ? boolean : string };

export interface CommandLine<F extends FlagSpec> {
  flags: FlagValues<F>;
  /** Positional arguments (and everything after `--`). */
  rest: string[];
  /** `--a.b value` config overrides, when the command takes them. */
  overrides: Overrides;
}

/**
 * Parses `argv` for a command with `flags`. With `overrideKeys` (a config's dotted keys), any other
 * long option is a config override: declared keys are parsed as string options, so a value may
 * start with a dash (`--train.lr -1`); for an undeclared key (a typo, or a key under a map such as
 * perTask.<task>) the next argument is its value, and the schema judges the key. Without
 * `overrideKeys`, an unknown option is a UsageError suggesting the nearest flag.
 */
export function parseCommandLine<F extends FlagSpec>(argv: string[], flags: F, usage: string, overrideKeys?: readonly string[]): CommandLine<F> {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const k of overrideKeys ?? []) options[k] = { type: 'string' };
  for (const [k, type] of Object.entries(flags)) options[k] = { type };
  const { values, tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const rest: string[] = [];
  const overrides: Overrides = {};
  const consumed = new Set<number>();
  for (const t of tokens) {
    if (consumed.has(t.index)) continue;
    if (t.kind === 'positional') rest.push(t.value);
    if (t.kind !== 'option') continue;
    const declared = flags[t.name];
    if (declared === 'string' && typeof values[t.name] !== 'string') throw new UsageError(`--${t.name} needs a value\n${usage}`);
    if (declared) continue;
    if (!overrideKeys || !t.rawName.startsWith('--')) {
      const hint = closest(t.name, Object.keys(flags));
      throw new UsageError(`unknown option ${t.rawName}${hint ? ` (did you mean --${hint}?)` : ''}\n${usage}`);
    }
    let value = t.value;
    if (value === undefined) {
      if (t.index + 1 >= argv.length) throw new UsageError(`--${t.name} needs a value\n${usage}`);
      value = argv[t.index + 1];
      consumed.add(t.index + 1);
    }
    overrides[t.name] = value;
  }
  const out: Record<string, string | boolean> = {};
  for (const k of Object.keys(flags)) if (values[k] !== undefined) out[k] = values[k] as string | boolean;
  return { flags: out as FlagValues<F>, rest, overrides };
}

/** A config's keys as flags in kebab case (batchSize: --batch-size), flag -> key. */
export function configFlags(keys: readonly string[]): Map<string, string> {
  return new Map(keys.map((k) => [k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), k]));
}

const DECIMAL = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

/** A flag's text that is a JSON object (`--lexical '{"buckets": 4096}'`), parsed; else null. */
function jsonObject(v: string): object | null {
  if (!/^\s*\{/.test(v)) return null;
  try {
    const o: unknown = JSON.parse(v);
    return o !== null && typeof o === 'object' && !Array.isArray(o) ? o : null;
  } catch {
    return null;
  }
}

/**
 * The config that `flags` (named by configFlags) spell over `base` (a config file's object, or {}),
 * checked by `schema`. Numbers are read as numbers, comma-separated numbers as a list of them
 * (`--lrs 5e-4,2e-3`), a JSON object as that object; any other text
 * goes to the schema as text, which judges it. A bad flag is a UsageError naming the flag and its text; a bad key of `base` names the
 * key, after `source` (the file).
 */
export function configOfFlags<S extends z.ZodType>(
  schema: S,
  flagKeys: ReadonlyMap<string, string>,
  flags: Record<string, string | boolean | undefined>,
  base: Record<string, unknown> = {},
  source?: string,
): z.output<S> {
  const raw: Record<string, unknown> = { ...base };
  const text: Record<string, string> = {};
  for (const [flag, key] of flagKeys) {
    const v = flags[flag];
    if (typeof v !== 'string') continue;
    text[key] = v;
    raw[key] = DECIMAL.test(v)
      ? Number(v)
      : v === 'true' || v === 'false'
        ? v === 'true'
        : (jsonObject(v) ?? (v.includes(',') && v.split(',').every((x) => DECIMAL.test(x)) ? v.split(',').map(Number) : v));
  }
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const { path, expected, message } = explain(schema, r.error, raw);
  const key = String(path[0]);
  const flag = key in text ? [...flagKeys].find(([, k]) => k === key)?.[0] : undefined;
  if (flag && expected) throw new UsageError(`--${flag} must be ${expected}, got ${JSON.stringify(text[key])}`);
  throw new UsageError(source && !(key in text) ? `${source}: ${message}` : message);
}
