// Training batches of one task: an endless stream over a seeded shuffle, epoch after epoch, with
// optional grouping by length.
//
// A batch is padded to its longest example, so a random batch of texts whose lengths vary widely
// (pos's sentences, say) spends much of its compute on padding. Grouping (as
// Hugging Face's group_by_length does) takes the next `group` batches' worth of examples from the
// shuffle, sorts them by encoded length, cuts them into batches and shuffles those batches: each
// batch holds examples of similar length, every example is still seen once per epoch, and the
// order of batches stays random. group = 1 is plain shuffled batching.

import type { Rng } from '../engine/index.js';
import type { Example } from './task.js';

export interface BatchStreamOptions {
  batchSize: number;
  /** Batches' worth of examples sorted by length together (1 = no grouping). */
  group: number;
}

export class BatchStream {
  private readonly order: number[];
  private cursor = 0;
  private readonly queue: Example[][] = [];

  constructor(
    private readonly examples: readonly Example[],
    private readonly rng: Rng,
    private readonly opts: BatchStreamOptions,
    /** Each example's encoded length (only called when group > 1). */
    private readonly lengths: (xs: readonly Example[]) => Promise<number[]>,
  ) {
    if (examples.length === 0) throw new RangeError('BatchStream: no examples');
    if (!(Number.isInteger(opts.batchSize) && opts.batchSize > 0)) throw new RangeError(`batchSize must be a positive integer, got ${opts.batchSize}`);
    if (!(Number.isInteger(opts.group) && opts.group > 0)) throw new RangeError(`group must be a positive integer, got ${opts.group}`);
    this.order = rng.shuffle(Array.from(examples.keys())) as number[];
  }

  private take(n: number): Example[] {
    const out: Example[] = [];
    for (let i = 0; i < n; i++) {
      if (this.cursor >= this.order.length) {
        this.rng.shuffle(this.order);
        this.cursor = 0;
      }
      out.push(this.examples[this.order[this.cursor++]]);
    }
    return out;
  }

  async next(): Promise<Example[]> {
    const { batchSize, group } = this.opts;
    if (group === 1) return this.take(batchSize);
    if (this.queue.length === 0) {
      const pool = this.take(batchSize * group);
      const batches = byLength(await this.lengths(pool), batchSize).map((b) => b.map((k) => pool[k]));
      this.queue.push(...(this.rng.shuffle(batches) as Example[][]));
    }
    return this.queue.pop()!;
  }
}

/**
 * Inference batches: the examples' indices sorted by encoded length (stable), cut into batches.
 * Each example's prediction does not depend on its batch (padding is masked), so predicting in
 * this order and writing each result back to its index changes no prediction and pads little.
 */
export async function lengthSortedBatches(
  examples: readonly Example[],
  batchSize: number,
  lengths: (xs: readonly Example[]) => Promise<number[]>,
): Promise<number[][]> {
  return byLength(await lengths(examples), batchSize);
}

/** Indices sorted by length (ties in index order), cut into batches of batchSize. */
function byLength(len: readonly number[], batchSize: number): number[][] {
  const idx = len.map((_, i) => i).sort((a, b) => len[a] - len[b] || a - b);
  const out: number[][] = [];
  for (let i = 0; i < idx.length; i += batchSize) out.push(idx.slice(i, i + batchSize));
  return out;
}
