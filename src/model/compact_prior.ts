// A head's Naive Bayes prior stored compactly in a quantized folder (`pathwise quantize`), without
// loss. The prior (tasks/naive_bayes_prior.ts) is sparse counts: `prior.keys` I32, strictly
// increasing, and `prior.values` F32, log(1 + count / alpha), so a few hundred distinct values.
// In a folder holding int8 weights they are written instead as
//   prior.keys_high  I32 [H]  how many keys have (key >> 16) = h, for h = 0 .. H-1
//   prior.keys_low   U16 [N]  key & 0xffff, in key order
//   prior.levels     F32 [L]  the distinct values, increasing
//   prior.codes      U8 [N] (L <= 256) or U16 [N] (L <= 65536): each value's index in levels
// which halves what the prior costs (8 bytes a count to 4, or 3 with U8 codes) and decodes to
// the very same keys and float32 values. A prior with more than 65,536 distinct values keeps
// F32 `prior.values`. Readers see `prior.keys` and `prior.values` either way: expandPriors runs
// before anything else reads the folder's tensors.

import { Tensor, type PackedTensor } from '../engine/index.js';

const KEYS = 'prior.keys';
const VALUES = 'prior.values';
const HIGH = 'prior.keys_high';
const LOW = 'prior.keys_low';
const LEVELS = 'prior.levels';
const CODES = 'prior.codes';

/** The named tensors with every prior's keys and values in their compact form. */
export function compactPriors(named: Iterable<[string, Tensor | PackedTensor]>): [string, Tensor | PackedTensor][] {
  const out: [string, Tensor | PackedTensor][] = [];
  for (const [name, t] of named) {
    if (name.endsWith(KEYS) && t instanceof Tensor) {
      out.push(...splitKeys(name.slice(0, -KEYS.length), t.i32));
    } else if (name.endsWith(VALUES) && t instanceof Tensor) {
      const coded = codeValues(name.slice(0, -VALUES.length), t.f32);
      out.push(...(coded ?? [[name, t] as [string, Tensor]]));
    } else out.push([name, t]);
  }
  return out;
}

function splitKeys(prefix: string, keys: Int32Array): [string, Tensor | PackedTensor][] {
  const H = keys.length ? (keys[keys.length - 1] >>> 16) + 1 : 0;
  const high = new Int32Array(H);
  const low = new Uint16Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    high[keys[i] >>> 16]++;
    low[i] = keys[i] & 0xffff;
  }
  return [
    [prefix + HIGH, new Tensor(high, [H])],
    [prefix + LOW, { dtype: 'uint16', data: low, shape: [keys.length] }],
  ];
}

function codeValues(prefix: string, values: Float32Array): [string, Tensor | PackedTensor][] | null {
  const levels = Float32Array.from(new Set(values)).sort();
  if (levels.length > 65536) return null;
  const index = new Map<number, number>();
  levels.forEach((v, i) => index.set(v, i));
  const codes = levels.length <= 256 ? new Uint8Array(values.length) : new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) codes[i] = index.get(values[i])!;
  return [
    [prefix + LEVELS, new Tensor(levels, [levels.length])],
    [prefix + CODES, { dtype: codes instanceof Uint8Array ? 'uint8' : 'uint16', data: codes, shape: [values.length] }],
  ];
}

/**
 * Replaces, in place, every compact prior's tensors by the `prior.keys` and `prior.values` they
 * encode. A damaged or partial encoding is an error naming the tensor (`fail` throws).
 */
export function expandPriors(tensors: Map<string, Tensor>, dtypes: ReadonlyMap<string, string>, fail: (msg: string) => never): void {
  for (const name of [...tensors.keys()]) {
    if (name.endsWith(HIGH)) expandKeys(tensors, dtypes, name.slice(0, -HIGH.length), fail);
    else if (name.endsWith(LEVELS)) expandValues(tensors, dtypes, name.slice(0, -LEVELS.length), fail);
  }
  for (const name of tensors.keys()) {
    if (name.endsWith(LOW)) fail(`tensor "${name}" has no "${name.slice(0, -LOW.length)}${HIGH}" beside it`);
    if (name.endsWith(CODES)) fail(`tensor "${name}" has no "${name.slice(0, -CODES.length)}${LEVELS}" beside it`);
  }
}

function pair(
  tensors: Map<string, Tensor>,
  dtypes: ReadonlyMap<string, string>,
  prefix: string,
  [a, b]: [string, string],
  [da, db]: [string[], string[]],
  replaces: string,
  fail: (msg: string) => never,
): [Tensor, Tensor] {
  const [na, nb] = [prefix + a, prefix + b];
  const [ta, tb] = [tensors.get(na)!, tensors.get(nb)];
  if (!tb) fail(`tensor "${na}" has no "${nb}" beside it`);
  if (tensors.has(prefix + replaces)) fail(`tensors "${na}" and "${prefix + replaces}" both store the prior's ${replaces.slice(6)}`);
  for (const [n, t, want] of [
    [na, ta, da],
    [nb, tb!, db],
  ] as const) {
    if (!want.includes(dtypes.get(n) ?? '')) fail(`tensor "${n}" must be ${want.join(' or ')}, not ${dtypes.get(n)}`);
    if (t.ndim !== 1) fail(`tensor "${n}" has shape [${t.shape.join(', ')}], expected one axis`);
  }
  tensors.delete(na);
  tensors.delete(nb);
  return [ta, tb!];
}

function expandKeys(tensors: Map<string, Tensor>, dtypes: ReadonlyMap<string, string>, prefix: string, fail: (msg: string) => never): void {
  const [high, low] = pair(tensors, dtypes, prefix, [HIGH, LOW], [['I32'], ['U16']], KEYS, fail);
  const h = high.i32;
  const l = low.i32;
  const keys = new Int32Array(l.length);
  let i = 0;
  for (let b = 0; b < h.length; b++) {
    if (h[b] < 0 || i + h[b] > l.length)
      fail(`"${prefix}${HIGH}"[${b}] is ${h[b]}: the counts must be >= 0 and sum to the ${l.length} entries of "${prefix}${LOW}"`);
    for (const end = i + h[b]; i < end; i++) keys[i] = b * 65536 + l[i];
  }
  if (i !== l.length) fail(`"${prefix}${HIGH}" counts ${i} keys, but "${prefix}${LOW}" holds ${l.length}`);
  tensors.set(prefix + KEYS, new Tensor(keys, [keys.length]));
}

function expandValues(tensors: Map<string, Tensor>, dtypes: ReadonlyMap<string, string>, prefix: string, fail: (msg: string) => never): void {
  const [levels, codes] = pair(tensors, dtypes, prefix, [LEVELS, CODES], [['F32'], ['U8', 'U16']], VALUES, fail);
  const L = levels.f32;
  const c = codes.i32;
  const values = new Float32Array(c.length);
  for (let i = 0; i < c.length; i++) {
    if (c[i] >= L.length) fail(`"${prefix}${CODES}"[${i}] is ${c[i]}, but "${prefix}${LEVELS}" has ${L.length} values`);
    values[i] = L[c[i]];
  }
  tensors.set(prefix + VALUES, new Tensor(values, [values.length]));
}
