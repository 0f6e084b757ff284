// Examples -> model inputs: token ids, segment ids, padding mask, targets.
//
// Sequence tasks are encoded as [CLS] text [SEP] (text_pair [SEP]) with segment ids 0 / 1,
// truncated longest-first to maxLen. Tagging examples are encoded word by word: each word with the
// leading space that the byte-level pre-tokenizer gives it in running text, so the concatenation
// equals the encoding of the sentence, and the first subtoken of each word is known exactly. Its
// tag is predicted there; words cut off by maxLen are scored as tagged "O" (or the first label).

import { Tensor } from '../engine/index.js';
import type { Tokenizer } from '../data/tokenizer/index.js';
import type { BagInput } from '../nn/index.js';
import { exampleWords, type Example, type TaskData } from './task.js';

export interface Batch {
  ids: Tensor; // int32 [B, T]
  typeIds: Tensor; // int32 [B, T]
  /** 1 for real tokens, 0 for padding, [B, T]. */
  keep: Tensor;
  /** Classification: label index [B]; regression: float [B]; tagging: tag index per scored word [R]. */
  targets: Tensor | null;
  /** Tagging: flat positions (b*T + t) of each word's first subtoken [R]. */
  rows: Tensor | null;
  /** Tagging: how many words of each example were scored (the rest were truncated). */
  wordsScored: number[] | null;
  /** Each example's hashed n-grams, for a head with a lexical part (ngrams.ts); else absent. */
  bag?: BagInput;
  /** Each example's Naive Bayes logits [B, C], for a head with a prior (naive_bayes_prior.ts); else absent. */
  prior?: Tensor;
  /** Image tasks: the stem's input [B, 1 + P, patch·patch·C] (encode_image.ts); ids and typeIds are then zeros. */
  patches?: Tensor;
}

/** One example's encoding: ids, segment ids and (tagging) each kept word's first-subtoken offset. */
export interface Encoded {
  ids: Int32Array;
  types: Int32Array;
  firsts: Int32Array | null;
}

// Examples are encoded once per (tokenizer, maxLen, kind) and kept while the example object lives:
// training revisits every example once per epoch and each evaluation re-reads the same dev
// sample, so re-tokenizing them is repeated work. Examples are treated as immutable.
const cache = new WeakMap<Tokenizer, Map<string, WeakMap<Example, Encoded>>>();
function cacheFor(tok: Tokenizer, key: string): WeakMap<Example, Encoded> {
  let byKey = cache.get(tok);
  if (!byKey) cache.set(tok, (byKey = new Map()));
  let m = byKey.get(key);
  if (!m) byKey.set(key, (m = new WeakMap()));
  return m;
}

/** Sequence examples: one tokenizer call per group (with / without a pair). */
async function encodeSequences(tok: Tokenizer, examples: readonly Example[], maxLen: number): Promise<Encoded[]> {
  const out: Encoded[] = new Array(examples.length);
  for (const withPair of [false, true]) {
    const idx = examples.map((e, i) => ((e.textPair !== undefined) === withPair ? i : -1)).filter((i) => i >= 0);
    if (idx.length === 0) continue;
    const enc = await tok.encodeBatch(
      idx.map((i) => examples[i].text),
      withPair ? idx.map((i) => examples[i].textPair!) : null,
      { maxLength: maxLen },
    );
    idx.forEach((i, k) => (out[i] = { ids: enc[k].ids, types: enc[k].typeIds, firsts: null }));
  }
  return out;
}

/**
 * Tagging examples, word by word (each word with the leading space running text gives it); words
 * that do not fit in maxLen are dropped. Words are encoded maxLen per example at a time, all
 * examples in one tokenizer call, and an example's next words only while it still has room, so a
 * huge example costs memory for the words that can fit, not for all of them. Each word is encoded
 * with maxLength maxLen: a word of more ids never fits (it would need [CLS] + maxLen + [SEP]), and
 * cut to maxLen ids it still does not.
 */
async function encodeTagged(tok: Tokenizer, examples: readonly Example[], maxLen: number, cls: number, sep: number): Promise<Encoded[]> {
  const words = examples.map(exampleWords);
  const ids = examples.map(() => [cls]);
  const firsts: number[][] = examples.map(() => []);
  const next = examples.map(() => 0);
  const full = examples.map(() => false);
  let open = examples.map((_, b) => b).filter((b) => words[b].length > 0);
  while (open.length > 0) {
    const flat: string[] = [];
    for (const b of open) {
      const end = Math.min(words[b].length, next[b] + maxLen);
      for (let w = next[b]; w < end; w++) flat.push(w === 0 ? words[b][w] : ' ' + words[b][w]);
    }
    const pieces = await tok.encodeBatch(flat, null, { addSpecialTokens: false, maxLength: maxLen });
    let k = 0;
    for (const b of open) {
      const end = Math.min(words[b].length, next[b] + maxLen);
      for (; next[b] < end; next[b]++, k++) {
        const p = pieces[k].ids;
        if (full[b] || ids[b].length + p.length + 1 > maxLen) {
          full[b] = true;
          continue;
        }
        firsts[b].push(ids[b].length);
        for (const id of p) ids[b].push(id);
      }
    }
    open = open.filter((b) => !full[b] && next[b] < words[b].length);
  }
  return ids.map((x, b) => {
    x.push(sep);
    return { ids: Int32Array.from(x), types: new Int32Array(x.length), firsts: Int32Array.from(firsts[b]) };
  });
}

/** Each example's encoding, from the cache or made now (one tokenizer call for all missing ones). */
async function encodeCached(tok: Tokenizer, task: Pick<TaskData, 'type'>, examples: readonly Example[], maxLen: number): Promise<Encoded[]> {
  const { cls, sep, pad } = tok.specialIds;
  if (cls === null || sep === null || pad === null) throw new Error('the tokenizer needs [CLS], [SEP] and [PAD]');
  const tagging = task.type === 'tagging';
  const memo = cacheFor(tok, `${tagging ? 'tag' : 'seq'}:${maxLen}`);
  const missing = examples.filter((e) => !memo.has(e));
  if (missing.length) {
    const enc = tagging ? await encodeTagged(tok, missing, maxLen, cls, sep) : await encodeSequences(tok, missing, maxLen);
    missing.forEach((e, i) => memo.set(e, enc[i]));
  }
  return examples.map((e) => memo.get(e)!);
}

/** Each example's length in tokens as encodeBatch encodes it (specials included, after truncation). */
export async function encodedLengths(tok: Tokenizer, task: Pick<TaskData, 'type'>, examples: readonly Example[], maxLen: number): Promise<number[]> {
  return (await encodeCached(tok, task, examples, maxLen)).map((e) => e.ids.length);
}

/**
 * Each example's encoding (cached per example object; one tokenizer call for those not cached):
 * what encodeBatch pads into a batch, for callers that batch examples of several tasks together
 * (model/mixed_batch.ts).
 */
export function encodeExamples(tok: Tokenizer, task: Pick<TaskData, 'type'>, examples: readonly Example[], maxLen: number): Promise<Encoded[]> {
  return encodeCached(tok, task, examples, maxLen);
}

/** A batch's time axis: its longest encoding (at least 2, [CLS] and [SEP]). */
export function batchLength(lengths: readonly number[]): number {
  return Math.max(2, ...lengths);
}

/**
 * Encodings padded into one batch, without targets: ids (padded with `pad`), segment ids, the
 * padding mask and, for tagging, each scored word's flat position. The one way inputs become a batch.
 */
export function collate(encoded: readonly Encoded[], pad: number, tagging: boolean): Batch {
  const B = encoded.length;
  const T = batchLength(encoded.map((e) => e.ids.length));
  const ids = new Int32Array(B * T).fill(pad);
  const typeIds = new Int32Array(B * T);
  const keep = new Int32Array(B * T);
  encoded.forEach((e, b) => {
    ids.set(e.ids, b * T);
    typeIds.set(e.types, b * T);
    keep.fill(1, b * T, b * T + e.ids.length);
  });
  let rows: Tensor | null = null;
  if (tagging) {
    const flat: number[] = [];
    encoded.forEach((e, b) => e.firsts?.forEach((t) => flat.push(b * T + t)));
    rows = new Tensor(Int32Array.from(flat), [flat.length]);
  }
  return {
    ids: new Tensor(ids, [B, T]),
    typeIds: new Tensor(typeIds, [B, T]),
    keep: new Tensor(keep, [B, T]),
    targets: null,
    rows,
    wordsScored: tagging ? encoded.map((e) => e.firsts?.length ?? 0) : null,
  };
}

export async function encodeBatch(
  tok: Tokenizer,
  task: Pick<TaskData, 'type' | 'labels'>,
  examples: readonly Example[],
  maxLen: number,
  withTargets = true,
): Promise<Batch> {
  const encoded = await encodeCached(tok, task, examples, maxLen);
  const batch = collate(encoded, tok.specialIds.pad!, task.type === 'tagging');
  if (!withTargets) return batch;
  const labelIndex = new Map(task.labels.map((l, i) => [l, i]));
  if (task.type === 'tagging') {
    const tagTargets: number[] = [];
    examples.forEach((ex, b) => {
      const tags = ex.tags ?? [];
      for (let w = 0; w < batch.wordsScored![b]; w++) {
        const t = labelIndex.get(tags[w]);
        if (t === undefined) throw new RangeError(`tag "${tags[w]}" is not in the task's labels`);
        tagTargets.push(t);
      }
    });
    return { ...batch, targets: new Tensor(Int32Array.from(tagTargets), [tagTargets.length]) };
  }
  return { ...batch, targets: labelTargets(task, examples) };
}

/** A sequence task's targets: label indices [B] (classification), or the numbers [B] (regression). */
export function labelTargets(task: Pick<TaskData, 'type' | 'labels'>, examples: readonly Example[], what = ''): Tensor {
  if (task.type === 'regression') return new Tensor(Float32Array.from(examples.map((e) => Number(e.label))), [examples.length]);
  const labelIndex = new Map(task.labels.map((l, i) => [l, i]));
  const targets = examples.map((e) => {
    const i = labelIndex.get(String(e.label));
    if (i === undefined) throw new RangeError(`${what ? `${what}: ` : ''}label "${e.label}" is not in the task's labels`);
    return i;
  });
  return new Tensor(Int32Array.from(targets), [examples.length]);
}
