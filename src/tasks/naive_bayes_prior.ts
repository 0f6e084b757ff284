// A Naive Bayes prior beside the network: multinomial Naive Bayes over the example's hashed words,
// counted on the task's training set, whose log posterior is added to the head's logits with a
// weight fitted on dev (train/fit_prior.ts): a product of experts, logits + w · log P_NB(c | x).
//
// Why: on a small task the network's few hundred batches see a fraction of the training set, and a
// discriminative model of words (the n-gram bag) overfits it, while Naive Bayes's counts see all
// of it at once and are hard to overfit (Ng & Jordan 2001: the generative model wins at small n).
// The two disagree usefully: on the quickstart's genre the network alone scores 28.8, Naive Bayes
// 30.1, the product 31.5-31.9 (docs/multitask.md). Nothing is trained, so the network's training
// is unchanged; a weight of 0 (what dev picks where the prior does not help: spam, wic) means no
// prior at all.
//
// Stored with the head as five tensors (prefix "prior."), sparse because a vocabulary × classes
// table is mostly zero counts (sense: 88k words × 45 classes dense, far fewer non-zero):
//   keys     I32 [N]     bucket · C + class of every non-zero count, strictly increasing
//   values   F32 [N]     log(1 + count / alpha)
//   classes  F32 [2, C]  log P(c), then log(alpha / (words in c + alpha · V)): a seen word's
//                        log-likelihood in a class where it was never counted
//   weight   F32 [1]     w
//   buckets  I32 [1]     the hashing buckets (FNV-1a words, tasks/ngrams.ts)
// A word whose bucket has no count in any class (unseen in training) is ignored, as in baselines.ts.

import { Tensor } from '../engine/index.js';
import type { Batch } from './encode.js';
import { hashedNgrams } from './ngrams.js';
import { lowerBound } from './word_hashing.js';
import type { Example, TaskType } from './task.js';

/**
 * Buckets the prior hashes words into. Storage is sparse, so buckets cost nothing; collisions do
 * (sent's test accuracy alone: 0.820 at 2^16 buckets, 0.830 at 2^20, 0.837 at 2^22, the
 * vocabulary baseline's). 2^22 · 45 classes (sense) still fits a key in an int32.
 */
export const PRIOR_BUCKETS = 1 << 22;

/** Whether a task of this type can have a prior: it scores one label per example (classification, pair_classification). */
export function takesPrior(type: TaskType): boolean {
  return type === 'classification' || type === 'pair_classification';
}

export class NaiveBayesPrior {
  constructor(
    readonly classes: number,
    readonly buckets: number,
    /** bucket · classes + class, strictly increasing. */
    readonly keys: Int32Array,
    /** log(1 + count / alpha), per key. */
    readonly values: Float32Array,
    readonly logPrior: Float32Array,
    /** A seen word's log-likelihood in a class that never had it. */
    readonly unseen: Float32Array,
    readonly weight: number,
  ) {}

  /** Counts `examples` (labels from `labels`, Laplace smoothing `alpha`); weight 1 until fitted. */
  static count(examples: readonly Example[], labels: readonly string[], o: { buckets?: number; alpha?: number } = {}): NaiveBayesPrior {
    const buckets = o.buckets ?? PRIOR_BUCKETS;
    const alpha = o.alpha ?? 1;
    const C = labels.length;
    const index = new Map(labels.map((l, i) => [l, i]));
    const counts = new Map<number, number>();
    const words = new Float64Array(C);
    const docs = new Float64Array(C);
    const seen = new Set<number>();
    for (const ex of examples) {
      const c = index.get(String(ex.label));
      if (c === undefined) throw new Error(`NaiveBayesPrior: label ${JSON.stringify(ex.label)} is not in the label set`);
      docs[c]++;
      for (const b of hashedWords(ex, buckets)) {
        const k = b * C + c;
        counts.set(k, (counts.get(k) ?? 0) + 1);
        words[c]++;
        seen.add(b);
      }
    }
    const keys = Int32Array.from([...counts.keys()].sort((a, b) => a - b));
    const values = Float32Array.from(keys, (k) => Math.log1p(counts.get(k)! / alpha));
    const V = seen.size;
    const logPrior = Float32Array.from(docs, (n) => Math.log(Math.max(n, 1e-9) / Math.max(1, examples.length)));
    const unseen = Float32Array.from(words, (n) => Math.log(alpha) - Math.log(n + alpha * V));
    return new NaiveBayesPrior(C, buckets, keys, values, logPrior, unseen, 1);
  }

  /** The prior at `weight`, rounded to float32 as it is stored (so a loaded prior scores as the saved one). */
  withWeight(weight: number): NaiveBayesPrior {
    return new NaiveBayesPrior(this.classes, this.buckets, this.keys, this.values, this.logPrior, this.unseen, Math.fround(weight));
  }

  /** Each example's Naive Bayes log posterior (normalised), [B · C] row-major. */
  logPosteriors(examples: readonly Example[]): Float32Array {
    const C = this.classes;
    const out = new Float32Array(examples.length * C);
    const s = new Float64Array(C);
    examples.forEach((ex, r) => {
      s.set(this.logPrior);
      for (const b of hashedWords(ex, this.buckets)) {
        let i = lowerBound(this.keys, b * C);
        if (i === this.keys.length || this.keys[i] >= (b + 1) * C) continue; // unseen in training
        for (let c = 0; c < C; c++) s[c] += this.unseen[c];
        for (; i < this.keys.length && this.keys[i] < (b + 1) * C; i++) s[this.keys[i] - b * C] += this.values[i];
      }
      let max = -Infinity;
      for (let c = 0; c < C; c++) max = Math.max(max, s[c]);
      let z = 0;
      for (let c = 0; c < C; c++) z += Math.exp(s[c] - max);
      const lz = max + Math.log(z);
      for (let c = 0; c < C; c++) out[r * C + c] = s[c] - lz;
    });
    return out;
  }

  /** What the head adds to its logits: weight · log P_NB(c | x), [B, C]. */
  logits(examples: readonly Example[]): Tensor {
    const lp = this.logPosteriors(examples);
    for (let i = 0; i < lp.length; i++) lp[i] *= this.weight;
    return new Tensor(lp, [examples.length, this.classes]);
  }

  /** The stored tensors, named as in a model folder under the head's prefix. */
  tensors(): [string, Tensor][] {
    const C = this.classes;
    const classes = new Float32Array(2 * C);
    classes.set(this.logPrior, 0);
    classes.set(this.unseen, C);
    return [
      ['prior.keys', new Tensor(this.keys, [this.keys.length])],
      ['prior.values', new Tensor(this.values, [this.values.length])],
      ['prior.classes', new Tensor(classes, [2, C])],
      ['prior.weight', new Tensor(Float32Array.of(this.weight), [1])],
      ['prior.buckets', new Tensor(Int32Array.of(this.buckets), [1])],
    ];
  }

  /**
   * The prior stored under `prefix` in `tensors`, or null when there is none; a partial or
   * malformed one is an error naming the tensor (`fail` throws).
   */
  static fromTensors(tensors: ReadonlyMap<string, Tensor>, prefix: string, classes: number, fail: (msg: string) => never): NaiveBayesPrior | null {
    const names = ['keys', 'values', 'classes', 'weight', 'buckets'].map((n) => `${prefix}prior.${n}`);
    const got = names.map((n) => tensors.get(n));
    if (got.every((t) => t === undefined)) return null;
    const missing = names.find((_, i) => got[i] === undefined);
    if (missing !== undefined) fail(`the head's Naive Bayes prior lacks tensor "${missing}"`);
    const [keys, values, cls, weight, buckets] = got as Tensor[];
    const want = (t: Tensor, name: string, dtype: 'int32' | 'float32', shape: number[]) => {
      if (t.dtype !== dtype) fail(`"${name}" must be ${dtype === 'int32' ? 'I32' : 'F32 (or F16)'}`);
      if (t.shape.join() !== shape.join()) fail(`"${name}" has shape [${t.shape}], expected [${shape}]`);
    };
    want(keys, names[0], 'int32', [keys.size]);
    want(values, names[1], 'float32', [keys.size]);
    want(cls, names[2], 'float32', [2, classes]);
    want(weight, names[3], 'float32', [1]);
    want(buckets, names[4], 'int32', [1]);
    const B = buckets.i32[0];
    if (!(B >= 1 && B <= 1 << 22)) fail(`"${names[4]}" is ${B}, expected 1 to ${1 << 22}`);
    const k = keys.i32;
    for (let i = 0; i < k.length; i++) {
      if (k[i] < 0 || k[i] >= B * classes || (i > 0 && k[i] <= k[i - 1]))
        fail(`"${names[0]}"[${i}] is ${k[i]}: keys must increase strictly within [0, buckets · classes = ${B * classes})`);
    }
    for (const [t, name] of [
      [values, names[1]],
      [cls, names[2]],
      [weight, names[3]],
    ] as const) {
      const i = t.f32.findIndex((v) => !Number.isFinite(v));
      if (i >= 0) fail(`"${name}"[${i}] is ${t.f32[i]}, not a finite number`);
    }
    return new NaiveBayesPrior(classes, B, k, values.f32, cls.f32.slice(0, classes), cls.f32.slice(classes), weight.f32[0]);
  }

  /** Stored numbers (what a model folder counts for it). */
  get size(): number {
    return 2 * this.keys.length + 2 * this.classes + 2;
  }
}

/** The example's words (text, then its pair's, salted), hashed into `buckets`. */
function hashedWords(ex: Example, buckets: number): Int32Array {
  return hashedNgrams(ex, { buckets, ngrams: 1 });
}

/** `batch` with the prior's logits when the head has a prior, else as it is. */
export function withPrior(batch: Batch, examples: readonly Example[], prior: NaiveBayesPrior | null): Batch {
  return prior ? { ...batch, prior: prior.logits(examples) } : batch;
}
