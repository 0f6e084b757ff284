// Text -> hashed word n-grams: what a head's n-gram bag (nn/ngram_bag.ts) reads. Words are the
// baselines' words (lower-cased runs of letters and digits, baselines.ts), so the bag sees the
// evidence Naive Bayes sees, plus the word pairs it cannot; a pair's second text is hashed apart
// from its first (its n-grams are salted), so "good" in either sentence are two features.

import { z } from 'zod';
import { Tensor } from '../engine/index.js';
import type { BagInput } from '../nn/index.js';
import { hashedGrams } from './word_hashing.js';
import type { Batch } from './encode.js';
import type { Example } from './task.js';

export { MAX_NGRAMS } from './word_hashing.js';

/** A head's lexical part: its n-gram bag's rows and width, and the longest n-gram hashed. */
export const lexicalSchema = z.strictObject({
  buckets: z
    .int()
    .min(1)
    .max(1 << 22)
    .describe('rows of the hashed n-gram table (fastText: 2M; collisions cost little below a few per bucket)'),
  dim: z.int().min(1).max(1024).describe('width of an n-gram embedding'),
  ngrams: z.int().min(1).max(4).describe('the longest word n-gram hashed (1: words alone, 2: words and word pairs)'),
});
export type LexicalConfig = z.infer<typeof lexicalSchema>;

/** The same, each key defaulted (a training config's `lexical: {}`): 64k buckets of 16 floats, words and word pairs. */
export const lexicalDefaultsSchema = z.strictObject({
  buckets: lexicalSchema.shape.buckets.default(1 << 16),
  dim: lexicalSchema.shape.dim.default(16),
  ngrams: lexicalSchema.shape.ngrams.default(2),
});

/** One example's n-gram bucket ids: its text's, then its pair's (salted), at most MAX_NGRAMS. */
export function hashedNgrams(ex: Example, cfg: Pick<LexicalConfig, 'buckets' | 'ngrams'>): Int32Array {
  return hashedGrams(ex.text, ex.textPair, cfg.buckets, cfg.ngrams);
}

// Hashed once per example and config, as encode.ts tokenizes once per example.
const cache = new Map<string, WeakMap<Example, Int32Array>>();

/** The bags of a batch's examples, padded to the longest (padding rows masked out). */
export function ngramBags(examples: readonly Example[], cfg: LexicalConfig): BagInput {
  const key = `${cfg.buckets}/${cfg.ngrams}`;
  let memo = cache.get(key);
  if (!memo) cache.set(key, (memo = new WeakMap()));
  const bags = examples.map((ex) => {
    let b = memo.get(ex);
    if (!b) memo.set(ex, (b = hashedNgrams(ex, cfg)));
    return b;
  });
  const B = examples.length;
  const L = Math.max(1, ...bags.map((b) => b.length));
  const ids = new Int32Array(B * L);
  const mask = new Float32Array(B * L);
  const inv = new Float32Array(B);
  bags.forEach((b, r) => {
    ids.set(b, r * L);
    mask.fill(1, r * L, r * L + b.length);
    inv[r] = 1 / Math.max(1, b.length);
  });
  return { ids: new Tensor(ids, [B, L]), mask: new Tensor(mask, [B, L, 1]), inverseCount: new Tensor(inv, [B, 1]) };
}

/** `batch` of `examples` with their bags when the head has a lexical part (`lexical`), else as it is. */
export function withBags(batch: Batch, examples: readonly Example[], lexical: LexicalConfig | undefined): Batch {
  return lexical ? { ...batch, bag: ngramBags(examples, lexical) } : batch;
}
