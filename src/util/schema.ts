// Turning a zod error into one line a user can act on. Every config is declared once as a zod
// schema; its JSON Schema (z.toJSONSchema) is what docs/schemas/ publishes, and the message for a
// bad value is phrased from that same JSON Schema node ("must be an integer in [1, 1024]"), so the
// published bounds and the error text cannot disagree. Refinements (checks across keys) add
// `custom` issues whose message is a whole sentence; `@{key}` in it names a key relative to the
// issue's path, written the way the caller's messages write keys.

import { z } from 'zod';

// Field types every config uses, declared once so that the same key means the same bounds everywhere.
/** A count of steps, examples, children...: an integer >= 1. */
export const count = () => z.int().min(1);
/** A probability of a Bernoulli draw (dropout, jitter): a number in [0, 1). */
export const probability = () => z.number().min(0).lt(1);
/**
 * A name that also becomes part of parameter names ("heads.<name>.out.weight"), file names and
 * report rows: a letter, then letters, digits, "_" or "-", so it can never be a path.
 */
export const NAME_PATTERN = '^[A-Za-z][A-Za-z0-9_-]{0,63}$';
export const safeName = () => z.string().regex(new RegExp(NAME_PATTERN));
/** A seed of the 32-bit generators (engine/rng.ts). */
export const seed = () =>
  z
    .int()
    .min(0)
    .max(2 ** 32 - 1);

/** How keys are written in messages. */
export interface IssueStyle {
  /** Prepended to every key, e.g. "model" for an encoder config inside a pretraining config. */
  prefix?: string;
  /** Write keys quoted ("type"), as task-config messages always have. */
  quote?: boolean;
}

/** A user-facing explanation of the first issue of a failed parse. */
export interface Explained {
  /** Path of the key at fault (for unknown keys: of the first unknown key). */
  path: PropertyKey[];
  /** "train.steps must be an integer >= 1, got 0", "unknown key ... (did you mean ...?)". */
  message: string;
  /** For unknown keys: the key that is not in the schema (so callers can say where it came from). */
  unknownKey?: boolean;
  /** For a bad value: what the key takes ("an integer >= 1"), for callers that name it their own way. */
  expected?: string;
}

/** Nearest option by edit distance (at most 2 edits, case-insensitive), for "did you mean". */
export function closest(key: string, options: readonly string[]): string | null {
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

type Json = Record<string, unknown>;
type Issue = z.core.$ZodIssue;

const jsonCache = new WeakMap<z.ZodType, Json>();

/** The input-side JSON Schema of `schema` (what a user writes), cached per schema object. */
export function jsonSchemaOf(schema: z.ZodType): Json {
  let j = jsonCache.get(schema);
  if (!j) jsonCache.set(schema, (j = z.toJSONSchema(schema, { io: 'input' }) as Json));
  return j;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function jsonTypeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** A discriminated union's branch whose constant key (e.g. "kind": "block") the value has. */
function discriminated(options: Json[], value: unknown): Json | undefined {
  if (!isObject(value)) return undefined;
  return options.find((o) => {
    const props = o.properties as Record<string, Json> | undefined;
    const consts = Object.entries(props ?? {}).filter(([, p]) => 'const' in p);
    return consts.length > 0 && consts.every(([k, p]) => value[k] === p.const);
  });
}

/**
 * The branch of an anyOf (or a discriminated union's oneOf) that a value of this type is checked
 * against. When none fits, `descend` picks one that can hold keys (to walk further in); otherwise
 * the union itself is kept, so the message lists every alternative.
 */
function branchFor(node: Json, value: unknown, descend = false): Json {
  const options = (node.anyOf ?? node.oneOf) as Json[] | undefined;
  if (!options) return node;
  const t = jsonTypeOf(value);
  const fits = (o: Json) => {
    const types = ([] as unknown[]).concat(o.type ?? []);
    return types.includes(t) || (t === 'integer' && types.includes('number'));
  };
  return (
    discriminated(options, value) ??
    (node.oneOf && t === 'object' ? undefined : options.find(fits)) ??
    (descend ? options.find((o) => o.properties || o.items || o.additionalProperties) : undefined) ??
    node
  );
}

/** The JSON Schema node that describes the value at `path` (walking the input alongside). */
function nodeAt(root: Json, path: PropertyKey[], input: unknown): Json | null {
  let node: Json | null = root;
  let value = input;
  for (const key of path) {
    if (!node) return null;
    node = branchFor(node, value, true);
    const props = node.properties as Record<string, Json> | undefined;
    if (typeof key === 'number' && node.items) node = node.items as Json;
    else if (props && typeof key === 'string' && key in props) node = props[key];
    else if (isObject(node.additionalProperties)) node = node.additionalProperties as Json;
    else return null;
    value = isObject(value) || Array.isArray(value) ? (value as Record<PropertyKey, unknown>)[key as string] : undefined;
  }
  return node ? branchFor(node, value) : null;
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let v = input;
  for (const k of path) v = isObject(v) || Array.isArray(v) ? (v as Record<PropertyKey, unknown>)[k as string] : undefined;
  return v;
}

const SAFE = Number.MAX_SAFE_INTEGER;

function plural(node: Json): string {
  const t = node.type;
  if (t === 'string') return 'strings';
  if (t === 'integer') return 'integers';
  if (t === 'number') return 'numbers';
  if (t === 'object') return 'objects';
  return 'values';
}

/** "an integer in [1, 1024]", "a number > 0", "one of "mlm", "clm"", "a string or null". */
export function phrase(node: Json): string {
  const union = (node.anyOf ?? node.oneOf) as Json[] | undefined;
  if (union) return [...new Set(union.map(phrase))].join(' or ');
  if (Array.isArray(node.type)) return node.type.map((t) => phrase({ ...node, type: t })).join(' or ');
  if (node.enum) {
    const vals = node.enum as unknown[];
    return vals.length === 1 ? JSON.stringify(vals[0]) : `one of ${vals.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  if ('const' in node) return JSON.stringify(node.const);
  switch (node.type) {
    case 'integer':
    case 'number': {
      const what = node.type === 'integer' ? 'an integer' : 'a number';
      const lo = node.exclusiveMinimum ?? node.minimum;
      const hi = node.exclusiveMaximum ?? node.maximum;
      const hasLo = typeof lo === 'number' && lo > -SAFE;
      const hasHi = typeof hi === 'number' && hi < SAFE;
      const loEx = node.exclusiveMinimum !== undefined;
      const hiEx = node.exclusiveMaximum !== undefined;
      if (hasLo && hasHi) return `${what} in ${loEx ? '(' : '['}${lo}, ${hi}${hiEx ? ')' : ']'}`;
      if (hasLo) return `${what} ${loEx ? '>' : '>='} ${lo}`;
      if (hasHi) return `${what} ${hiEx ? '<' : '<='} ${hi}`;
      return what;
    }
    case 'string':
      if (node.pattern === '\\S') return 'a non-blank string';
      if (node.pattern === NAME_PATTERN) return 'a name (a letter, then up to 63 letters, digits, "_" or "-")';
      return typeof node.minLength === 'number' && node.minLength > 0 ? 'a non-empty string' : 'a string';
    case 'boolean':
      return 'true or false';
    case 'null':
      return 'null';
    case 'object':
      return 'an object';
    case 'array': {
      const items = node.items as Json | undefined;
      const of = items && typeof items.type === 'string' && !items.enum ? ` of ${plural(items)}` : '';
      return typeof node.minItems === 'number' && node.minItems > 0 ? `a non-empty list${of}` : `a list${of}`;
    }
    default:
      return 'valid';
  }
}

/**
 * A value in a message: its JSON when short, else what it is ("a list", "an object"); "nothing"
 * for a missing value. Never throws: a value nested too deep for JSON.stringify is "a list" too.
 */
export function shown(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  let s: string;
  try {
    s = JSON.stringify(v);
  } catch {
    s = '';
  }
  if (s && s.length <= 60) return s;
  return Array.isArray(v) ? 'a list' : typeof v === 'string' ? `a string of ${v.length} characters` : 'an object';
}

/** "train.steps", "tasks[1].type"; with quote, "\"tasks[1].type\"". */
export function keyName(path: readonly PropertyKey[], style: IssueStyle = {}): string {
  let s = style.prefix ?? '';
  for (const k of path) s += typeof k === 'number' ? `[${k}]` : `${s ? '.' : ''}${String(k)}`;
  return style.quote ? JSON.stringify(s) : s;
}

/** Replaces a union's issue by the issues of the branch the value was meant for, when one is. */
function unwrapUnion(issue: Issue, base: PropertyKey[]): { issue: Issue; path: PropertyKey[] } {
  const path = [...base, ...issue.path];
  if (issue.code !== 'invalid_union') return { issue, path };
  // A branch whose only complaint is the value's type at its root was not the one meant.
  const meant = issue.errors.filter((branch) => !branch.some((i) => i.code === 'invalid_type' && i.path.length === 0));
  if (meant.length !== 1) return { issue, path };
  return unwrapUnion(pickFirst(meant[0]), path);
}

/** Unknown keys first (a typo explains what follows), then plain checks, then refinements. */
function pickFirst(issues: readonly Issue[]): Issue {
  return issues.find((i) => i.code === 'unrecognized_keys') ?? issues.find((i) => i.code !== 'custom') ?? issues[0];
}

/** The first issue of `error` (from parsing `input` with `schema`), as one line. */
export function explain(schema: z.ZodType, error: z.ZodError, input: unknown, style: IssueStyle = {}): Explained {
  const { issue, path } = unwrapUnion(pickFirst(error.issues), []);
  const root = jsonSchemaOf(schema);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0];
    const props = Object.keys((branchFor(nodeAt(root, path, input) ?? {}, valueAt(input, path), true).properties as Json | undefined) ?? {});
    const hint = closest(key, props);
    return {
      path: [...path, key],
      unknownKey: true,
      message: `unknown key ${JSON.stringify(keyName([...path, key], { prefix: style.prefix }))}${hint ? ` (did you mean ${JSON.stringify(keyName([...path, hint], { prefix: style.prefix }))}?)` : ''}`,
    };
  }
  if (issue.code === 'custom') {
    const message = issue.message.replace(/@\{([^}]*)\}/g, (_, rel: string) => keyName([...path, ...(rel ? rel.split('.') : [])], style));
    return { path, message };
  }
  const value = valueAt(input, path);
  // A discriminated union's key with no branch of its own ("kind": "blok"): the values it takes.
  const options = issue.code === 'invalid_union' && 'options' in issue && Array.isArray(issue.options) ? (issue.options as unknown[]) : null;
  const node = options ? { enum: options } : nodeAt(root, path, input);
  const what = node ? phrase(node) : issue.message;
  if (value === undefined && (issue.code === 'invalid_type' || options))
    return { path, expected: what, message: `${keyName(path, style)} is required (${what})` };
  return { path, expected: what, message: `${keyName(path, style)} must be ${what}, got ${shown(value)}` };
}

/**
 * Parses `input` with `schema`; a failure throws `Err` with `source: ` (when given) and the first
 * issue explained. `file` is passed on to InputError-like classes.
 */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  input: unknown,
  opts: IssueStyle & { source?: string; file?: string; Err?: new (message: string, file?: string) => Error } = {},
): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const { message } = explain(schema, r.error, input, opts);
  const text = opts.source ? `${opts.source}: ${message}` : message;
  throw opts.Err ? new opts.Err(text, opts.file) : new RangeError(text);
}

/** Every dotted key path of an object schema (objects and leaves; not under maps or lists). */
export function keyPaths(schema: z.ZodType): string[] {
  const out: string[] = [];
  const walk = (node: Json, prefix: string) => {
    const obj = ((node.anyOf as Json[] | undefined) ?? [node]).find((o) => o.properties);
    for (const [k, child] of Object.entries((obj?.properties as Record<string, Json> | undefined) ?? {})) {
      out.push(prefix + k);
      walk(child, `${prefix}${k}.`);
    }
  };
  walk(jsonSchemaOf(schema), '');
  return out;
}
