// A bag of hashed n-grams (fastText, Joulin et al. 2017): each example is the mean of the
// embeddings of its word n-grams, each n-gram hashed into one of `buckets` rows. Beside an
// encoder it gives a head the lexical evidence a small task's few hundred steps do not teach a
// pretrained encoder (which words occur, not what they mean in context): see docs/multitask.md.
// Hashing text into bucket ids is the data side's work (tasks/ngrams.ts); this module sees ids.

import * as E from '../engine/index.js';
import { Tensor, type Rng } from '../engine/index.js';
import { Module } from './module.js';
import { uniformInit } from './init.js';

/** A batch's bags: bucket ids [B, L] padded to the longest bag, which ids count [B, L, 1], 1 / count [B, 1]. */
export interface BagInput {
  ids: Tensor;
  mask: Tensor;
  inverseCount: Tensor;
}

export class NgramBag extends Module {
  readonly table: Tensor;

  constructor(
    readonly buckets: number,
    readonly dim: number,
    rng: Rng,
  ) {
    super();
    if (!Number.isInteger(buckets) || buckets < 1) throw new RangeError(`n-gram bag: buckets must be a positive integer, got ${buckets}`);
    if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`n-gram bag: dim must be a positive integer, got ${dim}`);
    this.table = this.param('table', uniformInit([buckets, dim], rng, 1 / dim));
  }

  /** The mean embedding of each example's n-grams, [B, dim] (zeros for an empty bag). */
  forward(bag: BagInput): Tensor {
    return E.mul(E.sum(E.mul(E.gatherRows(this.table, bag.ids), bag.mask), { axis: 1 }), bag.inverseCount);
  }
}
