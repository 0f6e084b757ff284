// A model shared with other threads (src/model/shared_model.ts) and the inference threads that
// run it (src/serve/inference_pool.ts): the weights move into one SharedArrayBuffer unchanged,
// a rebuilt model reads them in place (no copy), and threads answer what the model answers.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { modelFromShared, shareModel } from '../../src/model/index.js';
import { InferencePool } from '../../src/serve/index.js';
import { assertDeepClose, describeEachBackend } from '../helpers.js';
import { LAYOUTS, build, oneByOne, requests } from '../mixed_models.js';

describeEachBackend('a shared model', () => {
  for (const [name, layout] of LAYOUTS) {
    it(`${name}: rebuilt from shared memory, it answers bit for bit what the model answers`, async () => {
      const model = build(layout);
      const reqs = requests(model, 5);
      const before = await model.predictMixed(reqs);
      const values = model.namedParameters().map(([, p]) => p.f32.slice());
      const shared = shareModel(model);
      // The model's own parameters now read the shared buffer, with their values unchanged.
      model.namedParameters().forEach(([n, p], i) => {
        assert.equal(p.f32.buffer, shared.weights, `${n} reads the shared buffer`);
        assert.deepEqual(p.f32, values[i], `${n} unchanged`);
      });
      const copy = modelFromShared(shared);
      assert.deepEqual([...copy.tasks.keys()], [...model.tasks.keys()]);
      for (const [n, p] of copy.namedParameters()) assert.equal(p.f32.buffer, shared.weights, `the rebuilt ${n} reads the shared buffer`);
      assertDeepClose(await copy.predictMixed(reqs), before, 0, name);
      assertDeepClose(await model.predictMixed(reqs), before, 0, `${name}, the original after sharing`);
    });
  }
});

describe('inference threads', () => {
  it('answer what the model answers, each request in order, from several threads at once', async () => {
    const model = build(LAYOUTS[0][1]);
    const reqs = requests(model, 6);
    const expected = await oneByOne(model, reqs);
    const pool = await InferencePool.start(shareModel(model), 2);
    try {
      assert.equal(pool.size, 2);
      // Four batches at once over two threads: two wait for a free thread.
      const parts = [0, 1, 2, 3].map((k) => reqs.filter((_, i) => i % 4 === k));
      const got = await Promise.all(parts.map((p) => pool.run(p, 64)));
      parts.forEach((p, k) => p.forEach((r, j) => assertDeepClose(got[k][j], expected[reqs.indexOf(r)], 1e-5, `batch ${k}, request ${j} (${r.task})`)));
    } finally {
      await pool.close();
    }
  });

  it('read the weights in place: a change to the shared buffer is what the threads compute with', async () => {
    const model = build(LAYOUTS[0][1]);
    const shared = shareModel(model);
    const pool = await InferencePool.start(shared, 1);
    try {
      const req = [{ task: 'cls', input: 'the film was good' }];
      const before = (await pool.run(req, 64))[0] as { scores: Record<string, number> };
      // The head's output bias, in the main thread's model: the thread sees it without a reload.
      const bias = model.namedParameters().find(([n]) => n.endsWith('.out.bias') && n.includes(model.task('cls').path.head))![1];
      assert.equal(bias.f32.buffer, shared.weights);
      bias.f32[0] += 5;
      const after = (await pool.run(req, 64))[0] as { scores: Record<string, number> };
      assert.ok(after.scores.neg > before.scores.neg + 0.1, `the first label's score rose: ${before.scores.neg} -> ${after.scores.neg}`);
      assertDeepClose(after, (await model.predict('cls', ['the film was good']))[0], 1e-5, 'the changed model');
    } finally {
      await pool.close();
    }
  });

  it('a thread that dies fails only the batch it ran; another takes its place and later batches succeed', async () => {
    const model = build(LAYOUTS[0][1]);
    const reqs = requests(model, 40);
    const lost: string[] = [];
    const pool = await InferencePool.start(shareModel(model), 1, (reason) => lost.push(reason));
    try {
      const running = pool.run(reqs, 1);
      // The pool's one thread, stopped from outside while it computes (as an out-of-memory kill would).
      const threads = (pool as unknown as { threads: { worker: { terminate(): Promise<number> } }[] }).threads;
      await threads[0].worker.terminate();
      await assert.rejects(running, /the inference thread running this batch failed: it exited/);
      assert.equal(lost.length, 1);
      const again = await pool.run(reqs.slice(0, 3), 64);
      assertDeepClose(again, await oneByOne(model, reqs.slice(0, 3)), 1e-5, 'after the replacement');
      assert.equal(pool.size, 1);
    } finally {
      await pool.close();
    }
  });
});
