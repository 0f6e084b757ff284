// Training batches (tasks/batches.ts): each example once per epoch, grouping by length cuts the
// padding of real text batches, and the stream is a function of its seed.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/index.js';
import { Tokenizer } from '../../src/data/tokenizer/index.js';
import { BatchStream, lengthSortedBatches } from '../../src/tasks/batches.js';
import { encodedLengths } from '../../src/tasks/encode.js';
import { loadSentTask } from '../../src/tasks/builtin/sent.js';
import type { Example } from '../../src/tasks/task.js';

const sent = loadSentTask();
const tok = Tokenizer.train(
  sent.train.map((e) => e.text),
  { vocabSize: 800 },
);
const lengths = (xs: readonly Example[]) => encodedLengths(tok, sent, xs, 128);

async function batches(group: number, n: number, seed = 0, examples: readonly Example[] = sent.train): Promise<Example[][]> {
  const s = new BatchStream(examples, new Rng(seed), { batchSize: 16, group }, lengths);
  const out: Example[][] = [];
  for (let i = 0; i < n; i++) out.push(await s.next());
  return out;
}

it('grouped or not, one epoch of batches holds every example exactly once', async () => {
  const xs = sent.train.slice(0, 16 * 8 * 3); // three groups of 8 batches
  for (const group of [1, 8]) {
    const seen = (await batches(group, 24, 0, xs)).flat();
    assert.equal(seen.length, xs.length);
    assert.equal(new Set(seen).size, xs.length, `group ${group}: no example twice`);
  }
});

it('grouping by length cuts the padding of real sentence batches', async () => {
  const padding = async (group: number) => {
    let pad = 0;
    let all = 0;
    for (const b of await batches(group, 64)) {
      const len = await lengths(b);
      const T = Math.max(...len);
      pad += len.reduce((s, l) => s + T - l, 0);
      all += T * len.length;
    }
    return pad / all;
  };
  const plain = await padding(1);
  const grouped = await padding(16);
  // Measured on sent (64 batches of 16): 60% of positions are padding in random batches, 13%
  // grouped (most of it in the batches of the long tail).
  assert.ok(plain > 0.3, `random batches pad ${plain}`);
  assert.ok(grouped < 0.2 && grouped < plain / 2, `grouped batches pad ${grouped} (random: ${plain})`);
});

it('the stream is a function of its seed, and grouped batches come in random order', async () => {
  const a = await batches(16, 20, 7);
  assert.deepEqual(await batches(16, 20, 7), a);
  assert.notDeepEqual(await batches(16, 20, 8), a);
  const longest = await Promise.all(a.slice(0, 16).map(async (b) => Math.max(...(await lengths(b)))));
  const sorted = [...longest].sort((x, y) => x - y);
  assert.notDeepEqual(longest, sorted, 'batches are not served shortest first');
});

it('inference batches: every example once, in non-decreasing length', async () => {
  const xs = sent.test;
  const len = await lengths(xs);
  const bs = await lengthSortedBatches(xs, 16, lengths);
  assert.deepEqual(
    bs.flat().sort((a, b) => a - b),
    xs.map((_, i) => i),
  );
  const flat = bs.flat().map((i) => len[i]);
  assert.ok(flat.every((l, i) => i === 0 || flat[i - 1] <= l));
  assert.ok(bs.slice(0, -1).every((b) => b.length === 16));
});

it('rejects a bad batch size or group', () => {
  assert.throws(() => new BatchStream(sent.train, new Rng(0), { batchSize: 0, group: 1 }, lengths), /batchSize/);
  assert.throws(() => new BatchStream(sent.train, new Rng(0), { batchSize: 8, group: 1.5 }, lengths), /group/);
  assert.throws(() => new BatchStream([], new Rng(0), { batchSize: 8, group: 1 }, lengths), /no examples/);
});
