// Typed configs with strict validation. A config is a JSON object merged over defaults; any key
// not in the defaults is an error naming its dotted path (a typo must not silently fall back to a
// default), and values keep the type of their default. CLI flags `--a.b value` override keys.

import { InputError } from '../util/errors.js';

/** An invalid config: unknown key, wrong type, impossible value. */
export class ConfigError extends InputError {}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function closest(key: string, options: string[]): string | null {
  const dist = (a: string, b: string) => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0][j] = j;
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    return d[a.length][b.length];
  };
  let best: string | null = null;
  let bestD = 3;
  for (const o of options) {
    const d = dist(key.toLowerCase(), o.toLowerCase());
    if (d < bestD) [best, bestD] = [o, d];
  }
  return best;
}

/**
 * Deep-merges `user` over `defaults`, rejecting unknown keys and type changes. Keys whose default
 * is null accept a string or null (optional paths). `source` names the config in errors.
 */
export function mergeConfig<T>(defaults: T, user: unknown, source: string, path = ''): T {
  if (!isObject(user)) throw new ConfigError(`${source}: ${path || 'the config'} must be a JSON object`);
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [k, v] of Object.entries(user)) {
    const key = path ? `${path}.${k}` : k;
    if (!(k in out)) {
      const hint = closest(k, Object.keys(out));
      throw new ConfigError(`${source}: unknown key "${key}"${hint ? ` (did you mean "${path ? path + '.' : ''}${hint}"?)` : ''}`);
    }
    const d = out[k];
    if (isObject(d)) out[k] = mergeConfig(d, v, source, key);
    else if (d === null) {
      if (v !== null && typeof v !== 'string') throw new ConfigError(`${source}: "${key}" must be a string or null, got ${JSON.stringify(v)}`);
      out[k] = v;
    } else if (typeof d !== typeof v) {
      throw new ConfigError(`${source}: "${key}" must be a ${typeof d}, got ${JSON.stringify(v)}`);
    } else out[k] = v;
  }
  return out as T;
}

/**
 * Turns `--a.b value` flags into a nested object, parsing values as JSON where they parse
 * (numbers, booleans, null) and as strings otherwise. Returns the object and any positional args.
 */
export function parseOverrides(argv: string[], reserved: string[] = []): { overrides: Record<string, Json>; rest: string[]; flags: Record<string, string> } {
  const overrides: Record<string, Json> = {};
  const flags: Record<string, string> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      rest.push(a);
      continue;
    }
    let key = a.slice(2);
    let value: string | undefined;
    const eq = key.indexOf('=');
    if (eq >= 0) [key, value] = [key.slice(0, eq), key.slice(eq + 1)];
    if (reserved.includes(key)) {
      flags[key] = value ?? (argv[i + 1] !== undefined && !argv[i + 1].startsWith('--') ? argv[++i] : 'true');
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new ConfigError(`flag --${key} needs a value`);
      value = argv[++i];
    }
    let parsed: Json;
    try {
      parsed = JSON.parse(value);
    } catch {
      parsed = value;
    }
    const parts = key.split('.');
    let node = overrides as Record<string, Json>;
    for (const p of parts.slice(0, -1)) {
      if (!isObject(node[p])) node[p] = {};
      node = node[p] as Record<string, Json>;
    }
    node[parts[parts.length - 1]] = parsed;
  }
  return { overrides, rest, flags };
}
