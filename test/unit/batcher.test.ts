// The serve batcher (src/serve/batcher.ts): a bounded queue of inputs of any requests, run in
// batches of at most maxBatchRows, at most `concurrency` batches at a time. Batches are held by the beforeBatch hook
// to make the queue's state certain: nothing here depends on timing.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher, ClosingError, QueueFullError } from '../../src/serve/batcher.js';

/** A hook that holds every batch until released, recording each batch's items. */
function holder() {
  const batches: number[][] = [];
  const waiting: (() => void)[] = [];
  let arrived: (() => void) | null = null;
  return {
    batches,
    hook: (items: readonly number[]) =>
      new Promise<void>((resolve) => {
        batches.push([...items]);
        waiting.push(resolve);
        arrived?.();
      }),
    /** Resolves once `n` batches have reached the hook. */
    async reached(n: number) {
      while (batches.length < n) await new Promise<void>((r) => (arrived = r));
    },
    release() {
      waiting.shift()?.();
    },
  };
}

const double = async (xs: number[]) => xs.map((x) => 2 * x);

describe('batcher', () => {
  it('runs up to `concurrency` batches at once (one per inference thread); the next waits for one to end', async () => {
    const h = holder();
    const b = new Batcher<number, number>({ maxWaitMs: 0, maxBatchRows: 2, maxQueueRows: 100, concurrency: 2 }, double, { beforeBatch: h.hook });
    const r1 = b.submit([1, 2]);
    const r2 = b.submit([3, 4]);
    const r3 = b.submit([5]);
    await h.reached(2);
    // Two batches are running (held); the third input waits in the queue.
    assert.deepEqual(h.batches, [
      [1, 2],
      [3, 4],
    ]);
    assert.equal(b.depth, 1);
    h.release(); // the first batch ends: the third runs
    await h.reached(3);
    assert.deepEqual(h.batches[2], [5]);
    assert.equal(b.depth, 0);
    h.release();
    h.release();
    assert.deepEqual(await Promise.all([r1, r2, r3]), [[2, 4], [6, 8], [10]]);
  });

  it('runs inputs in batches of at most maxBatchRows, splitting a request over batches; each request answered in order', async () => {
    const h = holder();
    const b = new Batcher<number, number>({ maxWaitMs: 0, maxBatchRows: 3, maxQueueRows: 100 }, double, { beforeBatch: h.hook });
    const first = b.submit([1]);
    await h.reached(1);
    const second = b.submit([2, 3, 4, 5]);
    const third = b.submit([6]);
    assert.equal(b.depth, 5);
    h.release();
    await h.reached(2);
    h.release();
    await h.reached(3);
    h.release();
    assert.deepEqual(await Promise.all([first, second, third]), [[2], [4, 6, 8, 10], [12]]);
    assert.deepEqual(h.batches, [[1], [2, 3, 4], [5, 6]]);
  });

  it('refuses a request that would overflow the queue, at once, and takes requests again when there is room', async () => {
    const h = holder();
    const b = new Batcher<number, number>({ maxWaitMs: 0, maxBatchRows: 8, maxQueueRows: 2 }, double, { beforeBatch: h.hook });
    const running = b.submit([1]);
    await h.reached(1);
    const queued = b.submit([2, 3]);
    await assert.rejects(b.submit([4]), (e: unknown) => e instanceof QueueFullError && e.waiting === 2 && e.capacity === 2 && e.rows === 1);
    assert.equal(b.depth, 2, 'the refused request left nothing behind');
    h.release();
    await h.reached(2);
    assert.equal(b.depth, 0);
    const later = b.submit([4]);
    h.release();
    await h.reached(3);
    h.release();
    assert.deepEqual(await Promise.all([running, queued, later]), [[2], [4, 6], [8]]);
  });

  it('a failing batch fails only the request at fault: the others are run again on their own', async () => {
    const runs: number[][] = [];
    const run = async (xs: number[]) => {
      runs.push([...xs]);
      if (xs.includes(13)) throw new Error('unlucky');
      return xs.map((x) => x + 1);
    };
    const h = holder();
    const b = new Batcher<number, number>({ maxWaitMs: 0, maxBatchRows: 8, maxQueueRows: 8 }, run, { beforeBatch: h.hook });
    const first = b.submit([0]);
    await h.reached(1);
    const good = b.submit([1, 2]);
    const bad = b.submit([13]);
    const alsoGood = b.submit([3]);
    h.release();
    await h.reached(2);
    h.release();
    assert.deepEqual(await first, [1]);
    assert.deepEqual(await good, [2, 3]);
    await assert.rejects(bad, /unlucky/);
    assert.deepEqual(await alsoGood, [4]);
    assert.deepEqual(runs, [[0], [1, 2, 13, 3], [1, 2], [13], [3]]);
  });

  it('close() refuses new requests, runs the queued ones without waiting for maxWaitMs, and resolves when done', async () => {
    const h = holder();
    // A wait far longer than any test: only a full batch, or close(), starts one.
    const b = new Batcher<number, number>({ maxWaitMs: 3_600_000, maxBatchRows: 3, maxQueueRows: 8 }, double, { beforeBatch: h.hook });
    const queued = [b.submit([1]), b.submit([2, 3, 4])];
    await h.reached(1); // [1, 2, 3] filled a batch: it runs (held); 4 waits
    assert.equal(b.depth, 1);
    const closed = b.close();
    await assert.rejects(b.submit([5]), ClosingError);
    h.release();
    await h.reached(2);
    h.release();
    await closed;
    assert.deepEqual(await Promise.all(queued), [[2], [4, 6, 8]]);
    assert.deepEqual(h.batches, [[1, 2, 3], [4]]);
  });
});
