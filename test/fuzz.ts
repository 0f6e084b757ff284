// Seeded mutations for the fuzz tests (test/unit/fuzz_*.test.ts): a small generator, byte-level
// damage (bit flips, overwrites, truncation, inserted, deleted and duplicated runs) and structured
// damage of JSON (values replaced by extremes, keys dropped, added or renamed, elements repeated),
// and a harness that runs cases and records what each did. Every case is a pure function of the
// seed and the case number, so a failure names what to replay.

import assert from 'node:assert/strict';
import { InputError } from '../src/util/errors.js';

/**
 * The suite runs a fixed number of cases from fixed seeds. To search further by hand, FUZZ_SCALE
 * multiplies the counts and FUZZ_SEED shifts the seeds (and FUZZ_DUMP=dir keeps each failing
 * case's input); the defaults are what CI runs.
 */
export const FUZZ_SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const SEED_SHIFT = Number(process.env.FUZZ_SEED ?? 0);

/** A count of cases, scaled by FUZZ_SCALE. */
export const cases = (n: number) => Math.max(1, Math.round(n * FUZZ_SCALE));

/** mulberry32: a 32-bit seeded generator, enough to pick mutations. */
export class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed + SEED_SHIFT) >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** Bytes that parsers treat specially: JSON punctuation, digits, signs, UTF-8 lead and continuation bytes. */
const INTERESTING_BYTES = [
  0x00, 0x01, 0x7f, 0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xed, 0xf0, 0xf4, 0xf8, 0xff, 0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x30, 0x39, 0x2d, 0x2e, 0x65,
  0x20, 0x0a, 0x0d,
];

const byte = (r: Prng) => (r.chance(0.5) ? r.pick(INTERESTING_BYTES) : r.int(256));

/** One byte-level mutation of `b` (a copy); `what` says which, for the failure message. */
export function mutateBytes(b: Uint8Array, r: Prng, region: [number, number] = [0, b.length]): { bytes: Buffer; what: string } {
  const out = Buffer.from(b);
  const [lo, hi] = region;
  const at = () => lo + r.int(Math.max(1, hi - lo));
  const op = r.int(7);
  switch (op) {
    case 0: {
      const n = 1 + r.int(8);
      for (let i = 0; i < n; i++) {
        const p = at();
        if (p < out.length) out[p] ^= 1 << r.int(8);
      }
      return { bytes: out, what: `${n} bit flips` };
    }
    case 1: {
      const n = 1 + r.int(4);
      for (let i = 0; i < n; i++) {
        const p = at();
        if (p < out.length) out[p] = byte(r);
      }
      return { bytes: out, what: `${n} bytes overwritten` };
    }
    case 2: {
      const p = at();
      return { bytes: out.subarray(0, p), what: `truncated at ${p}` };
    }
    case 3: {
      const p = at();
      const run = Buffer.from(Array.from({ length: 1 + r.int(16) }, () => byte(r)));
      return { bytes: Buffer.concat([out.subarray(0, p), run, out.subarray(p)]), what: `${run.length} bytes inserted at ${p}` };
    }
    case 4: {
      const p = at();
      const n = 1 + r.int(64);
      return { bytes: Buffer.concat([out.subarray(0, p), out.subarray(p + n)]), what: `${n} bytes deleted at ${p}` };
    }
    case 5: {
      const from = at();
      const n = 1 + r.int(64);
      const p = at();
      const chunk = Buffer.from(out.subarray(from, from + n));
      return { bytes: Buffer.concat([out.subarray(0, p), chunk, out.subarray(p)]), what: `${chunk.length} bytes from ${from} repeated at ${p}` };
    }
    default: {
      const from = at();
      const n = 1 + r.int(32);
      const p = at();
      Buffer.from(out.subarray(from, from + n)).copy(out, p);
      return { bytes: out, what: `${n} bytes from ${from} copied over ${p}` };
    }
  }
}

/** Nested arrays `depth` deep. */
function nested(depth: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/**
 * Stands for arrays nested 100,000 deep, which JSON.parse reads but JSON.stringify (and any code
 * that recurses over a value) cannot: toJsonText writes them in its place.
 */
export const DEEP = '\u0000deep\u0000';
const DEEP_TEXT = `${'['.repeat(100_000)}0${']'.repeat(100_000)}`;

/** JSON text of a mutated value, with DEEP written out. */
export function toJsonText(v: unknown, indent?: number): string {
  return JSON.stringify(v, null, indent).replaceAll(JSON.stringify(DEEP), DEEP_TEXT);
}

/** Values a config or file field should never take: out of every bound, of every wrong type. */
export const EXTREMES: readonly unknown[] = [
  0,
  -1,
  1,
  2,
  0.5,
  -0.5,
  1e-300,
  1e308,
  -1e308,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 21,
  32769,
  65536,
  1e9,
  '',
  'x',
  'NaN',
  'Infinity',
  '-1',
  '1e9',
  'a b',
  null,
  true,
  false,
  [],
  {},
  [0],
  ['x', 'y'],
  { a: 1 },
  nested(3),
  nested(1000),
  DEEP,
  'é'.repeat(100),
];

type Json = unknown;
type Slot = { parent: Record<string, Json> | Json[]; key: string | number };

/** Every (parent, key) slot of a JSON value, depth first (at most `limit`). */
function slots(v: Json, limit = 20000): Slot[] {
  const out: Slot[] = [];
  const walk = (x: Json) => {
    if (out.length >= limit) return;
    if (x === null || typeof x !== 'object') return;
    for (const [k, c] of Object.entries(x)) {
      out.push({ parent: x as Record<string, Json>, key: Array.isArray(x) ? Number(k) : k });
      walk(c);
    }
  };
  walk(v);
  return out;
}

const get = (s: Slot) => (s.parent as Record<string | number, Json>)[s.key];
const set = (s: Slot, v: Json) => ((s.parent as Record<string | number, Json>)[s.key] = v);

/**
 * One structured mutation of a JSON value (mutated in place; returns what it did). `prefer`
 * biases the pick towards slots whose key matches (e.g. the keys a memory estimate reads).
 */
export function mutateJson(root: Json, r: Prng, prefer?: RegExp): string {
  let all = slots(root);
  if (all.length === 0) return 'nothing to mutate';
  if (prefer && r.chance(0.5)) {
    const hits = all.filter((s) => typeof s.key === 'string' && prefer.test(s.key));
    if (hits.length) all = hits;
  }
  const s = r.pick(all);
  const name = String(s.key);
  const old = get(s);
  switch (r.int(8)) {
    case 0:
    case 1:
    case 2: {
      const v = structuredClone(r.pick(EXTREMES));
      set(s, v);
      return `${name} = ${v === DEEP ? 'deep nesting' : JSON.stringify(v)?.slice(0, 40)}`;
    }
    case 3:
      if (typeof old === 'number') {
        const v = r.pick([old + 1, old - 1, old * 2, old * 1000, -old, old / 2, old + 0.5]);
        set(s, v);
        return `${name}: ${old} -> ${v}`;
      }
      set(s, null);
      return `${name} = null`;
    case 4:
      if (Array.isArray(s.parent)) s.parent.splice(s.key as number, 1);
      else delete s.parent[s.key as string];
      return `${name} removed`;
    case 5:
      if (Array.isArray(s.parent)) s.parent.splice(s.key as number, 0, structuredClone(old));
      else s.parent[`${name}_extra`] = structuredClone(old);
      return `${name} repeated`;
    case 6:
      if (!Array.isArray(s.parent)) {
        delete s.parent[s.key as string];
        s.parent[r.chance(0.5) ? `${name}x` : name.toUpperCase()] = old;
        return `${name} renamed`;
      }
      set(s, structuredClone(r.pick(s.parent)));
      return `${name} = a sibling`;
    default: {
      if (old !== null && typeof old === 'object' && !Array.isArray(old)) {
        (old as Record<string, Json>)[r.pick(['extra', '__proto__', 'constructor', 'toString'])] = r.pick(EXTREMES);
        return `${name} gets an extra key`;
      }
      set(s, typeof old === 'string' ? old + r.pick(['x', ' ', '\u0000', '\ud800', '"']) : JSON.stringify(old));
      return `${name} as a string`;
    }
  }
}

/** What the fuzz cases of one target did. */
export class Tally {
  cases = 0;
  loaded = 0;
  refused = 0;
  readonly failures: string[] = [];
  peakRss = 0;

  constructor(readonly target: string) {}

  /** When set (FUZZ_DUMP=dir), each failing case's input is written there to replay it. */
  dump: ((name: string) => void) | null = null;

  /** Runs one case: it either succeeds (`run` checks what it loaded) or throws an InputError that `expect` accepts. */
  async run(what: string, run: () => unknown, expect: (e: InputError) => string | null): Promise<void> {
    this.cases++;
    try {
      await run();
      this.loaded++;
    } catch (e) {
      let problem: string | null;
      if (!(e instanceof InputError)) problem = `${(e as Error)?.constructor?.name ?? typeof e}: ${(e as Error)?.stack ?? String(e)}`;
      else if (/undefined|\[object Object\]/.test(e.message)) problem = `an unclear message: ${e.message}`;
      else problem = expect(e);
      if (problem === null) this.refused++;
      else if (this.failures.length < 20) {
        this.failures.push(`${this.target} case ${this.cases - 1} (${what}): ${problem}`);
        this.dump?.(`${this.target.replace(/\W+/g, '-')}-${this.cases - 1}`);
      }
    }
    this.peakRss = Math.max(this.peakRss, process.memoryUsage.rss());
  }

  summary(): string {
    return `${this.target}: ${this.cases} cases, ${this.loaded} loaded, ${this.refused} refused as input errors, peak RSS ${(this.peakRss / 2 ** 20).toFixed(0)} MiB`;
  }

  /** Every case loaded or was refused well; both happened (a harness that only refuses tests nothing); memory stayed bounded. */
  check(maxRss = 1.5 * 2 ** 30): void {
    assert.deepEqual(this.failures, [], this.failures.join('\n\n'));
    assert.ok(this.loaded > 0 && this.refused > 0, this.summary());
    assert.ok(this.peakRss < maxRss, `${this.summary()}: more than ${maxRss / 2 ** 20} MiB`);
  }
}

/** An InputError's message must name `file` (returns the complaint, or null when it does). */
export const naming =
  (...files: string[]) =>
  (e: InputError): string | null =>
    files.some((f) => e.message.includes(f)) ? null : `the message names none of ${files.join(', ')}: ${e.message}`;

/**
 * A valid SentencePiece normalisation map (what a "Precompiled" normalizer holds) that maps "A"
 * to "a": a darts-clone trie of 512 units (root offset 256; the child labelled 0x41 has a leaf
 * whose value, string 0, is "a"), then the strings. `damage` moves the child's edge out of the trie.
 */
export function tinyCharsmap(damage = false): string {
  const units = new Uint32Array(512);
  units[0] = 256 << 10;
  units[256 ^ 0x41] = ((damage ? 0x3ff : 0x41) << 10) | (1 << 8) | 0x41;
  units[256] = 1 << 31;
  const trie = Buffer.from(units.buffer);
  const size = Buffer.alloc(4);
  size.writeUInt32LE(trie.length);
  return Buffer.concat([size, trie, Buffer.from('a\0')]).toString('base64');
}
