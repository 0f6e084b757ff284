// Command-line parsing for every `pathwise` command, on node:util's parseArgs. A command declares
// its own flags; train and pretrain also take `--a.b value` config overrides, which are passed on
// as text for the config's schema to check (src/train/config.ts), so the CLI holds no defaults and
// no bounds of its own.

import { parseArgs } from 'node:util';
import type { Overrides } from '../train/config.js';
import { InputError } from '../util/errors.js';
import { closest } from '../util/schema.js';

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
