// The Naive Bayes prior beside a head (tasks/naive_bayes_prior.ts): counted as the baseline's
// Naive Bayes, added to the head's logits with its weight, saved and loaded with the head, and
// weighted on dev after training (train/fit_prior.ts).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as E from '../../src/engine/index.js';
import { Rng, Tensor } from '../../src/engine/index.js';
import { readSafetensors, serializeSafetensors } from '../../src/engine/safetensors.js';
import { loadModel, saveModel, specOf } from '../../src/model/index.js';
import { NaiveBayes, NaiveBayesPrior, TaskHead, sampleExamples, type HeadConfig } from '../../src/tasks/index.js';
import { loadBuiltinTask } from '../../src/tasks/builtin/index.js';
import { PRIOR_WEIGHTS, fitPriors } from '../../src/train/index.js';
import { ModelFolderError } from '../../src/model/folder_config.js';
import { build } from '../mixed_models.js';
import { writeFileSync } from 'node:fs';

const logSoftmax = (s: ArrayLike<number>) => {
  const m = Math.max(...Array.from(s));
  const z = m + Math.log(Array.from(s).reduce((a, v) => a + Math.exp(v - m), 0));
  return Array.from(s, (v) => v - z);
};

describe('the Naive Bayes prior', () => {
  it("is the baseline's multinomial Naive Bayes when no two words share a bucket (log posteriors, to float32)", () => {
    const train = [
      { text: 'good fun film', label: 'pos' },
      { text: 'good good story', label: 'pos' },
      { text: 'dull bad film', label: 'neg' },
      { text: 'bad plot', label: 'neg' },
      { text: 'long film', label: 'mid' },
    ];
    const labels = ['neg', 'pos', 'mid'];
    const prior = NaiveBayesPrior.count(train, labels, { buckets: 1 << 22 });
    const nb = NaiveBayes.train(train, labels);
    const tests = [{ text: 'good film' }, { text: 'bad bad fun' }, { text: 'unseen words only' }, { text: 'plot STORY long' }];
    const got = prior.logPosteriors(tests);
    tests.forEach((ex, r) => {
      const want = logSoftmax(nb.scores(ex));
      for (let c = 0; c < 3; c++) assert.ok(Math.abs(got[r * 3 + c] - want[c]) < 1e-5, `example ${r} class ${c}: ${got[r * 3 + c]} vs ${want[c]}`);
    });
    // 8 distinct words, 10 non-zero (word, class) counts (film in all three): only those are stored.
    assert.equal(prior.keys.length, 10);
    assert.ok(prior.keys.every((k, i) => i === 0 || k > prior.keys[i - 1]));
  });

  it("on sent it predicts as the baseline's Naive Bayes on every test example, at its accuracy (2^22 buckets: no collision changes an answer)", () => {
    const sent = loadBuiltinTask('sent');
    const prior = NaiveBayesPrior.count(sent.train, sent.labels);
    const nb = NaiveBayes.train(sent.train, sent.labels);
    const lp = prior.logPosteriors(sent.test);
    let right = 0;
    sent.test.forEach((ex, r) => {
      const pred = lp[2 * r + 1] > lp[2 * r] ? sent.labels[1] : sent.labels[0];
      assert.equal(pred, nb.predict(ex), `test example ${r}`);
      if (pred === ex.label) right++;
    });
    assert.equal(right, 251, `accuracy ${(right / 300).toFixed(3)} (the floor, Naive Bayes: 0.837)`);
  });

  it('a head adds weight × the log posterior to its logits, refuses a batch without it, and only a classification head takes one', () => {
    const cfg: HeadConfig = { type: 'classification', dModel: 4, classes: 2, dropout: 0, initStd: 0.5, pooling: 'mean' };
    const head = new TaskHead(cfg, new Rng(5)).eval();
    const hidden = new Tensor(
      Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => Math.cos(i)),
      [2, 3, 4],
    );
    const keep = new Tensor(Int32Array.from([1, 1, 1, 1, 0, 0]), [2, 3]);
    const plain = E.noGrad(() => head.forward(hidden, null, keep)).f32;
    const prior = NaiveBayesPrior.count(
      [
        { text: 'a b', label: 'x' },
        { text: 'b c', label: 'y' },
      ],
      ['x', 'y'],
    ).withWeight(0.5);
    head.setPrior(prior);
    const examples = [{ text: 'a' }, { text: 'c c' }];
    const lp = prior.logPosteriors(examples);
    const got = E.noGrad(() => head.forward(hidden, null, keep, null, prior.logits(examples))).f32;
    for (let i = 0; i < 4; i++) assert.equal(got[i], Math.fround(plain[i] + Math.fround(0.5 * lp[i])));
    assert.ok(lp[0] > lp[1] && lp[3] > lp[2], '"a" is x\'s word, "c" is y\'s');
    assert.throws(() => head.forward(hidden, null, keep), /no prior logits/);
    assert.throws(() => new TaskHead({ ...cfg, type: 'tagging' }, new Rng(0)).setPrior(prior), /tagging head has no Naive Bayes prior/);
    assert.throws(() => new TaskHead({ ...cfg, classes: 3 }, new Rng(0)).setPrior(prior), /2 classes for a head of 3/);
  });
});

describe('a prior in a model folder', () => {
  it('saves and loads with its head in both folder kinds, to the same predictions; a broken one is refused naming its tensor', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-prior-'));
    try {
      for (const grow of [false, true]) {
        const model = build({ grow });
        const folder = join(dir, grow ? 'components' : 'encoder');
        saveModel(folder, model);
        const again = loadModel(folder);
        const texts = ['the film was good', 'awful plot and a long dull ending'];
        for (const task of ['lex', 'lexPair']) {
          const inputs = task === 'lex' ? texts : texts.map((t) => ({ text: t, textPair: 'lovely music' }));
          const want = await model.predict(task, inputs);
          assert.deepEqual(await again.predict(task, inputs), want, `${task} (${grow ? 'components' : 'encoder'} folder)`);
          // The prior is there: without it the answers differ.
          const head = again.taskPath(task).head;
          const { prior } = head;
          assert.equal(prior?.weight, Math.fround(0.7));
          head.setPrior(null);
          assert.notDeepEqual(await again.predict(task, inputs), want, `${task}: the prior changes the answer`);
          head.setPrior(prior);
        }
      }
      const weights = join(dir, 'encoder', 'model.safetensors');
      const { tensors } = readSafetensors(weights);
      const broken = (edit: (m: Map<string, Tensor>) => void, want: RegExp) => {
        const m = new Map(tensors);
        edit(m);
        writeFileSync(weights, serializeSafetensors(m, {}));
        assert.throws(
          () => loadModel(join(dir, 'encoder')),
          (e: Error) => e instanceof ModelFolderError && e.message.includes('model.safetensors') && want.test(e.message),
          want.source,
        );
      };
      broken((m) => m.delete('heads.lex.prior.weight'), /task "lex".*lacks tensor "heads\.lex\.prior\.weight"/);
      broken((m) => {
        const k = Int32Array.from(m.get('heads.lex.prior.keys')!.i32);
        [k[0], k[1]] = [k[1], k[0]];
        m.set('heads.lex.prior.keys', new Tensor(k, [k.length]));
      }, /"heads\.lex\.prior\.keys"\[1\] is .*keys must increase strictly/);
      broken(
        (m) => m.set('heads.lex.prior.classes', new Tensor(new Float32Array(4), [2, 2])),
        /"heads\.lex\.prior\.classes" has shape \[2,2\], expected \[2,3\]/,
      );
      broken((m) => m.set('heads.tag.prior.keys', m.get('heads.lex.prior.keys')!), /task "tag".*lacks tensor/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('fitting the prior on dev', () => {
  it("picks the best weight on a dev sample, and the model then scores exactly that; sent's prior lifts an untrained network to Naive Bayes's level", async () => {
    const sent = loadBuiltinTask('sent');
    const model = build({});
    model.addTask(specOf(sent));
    const fits = await fitPriors(model, [sent], { devExamples: 200, seed: 4 });
    const fit = fits.sent;
    assert.ok(PRIOR_WEIGHTS.includes(fit.weight) && fit.weight > 0, `weight ${fit.weight}`);
    assert.ok(fit.devWith > fit.devWithout + 0.2, `dev ${fit.devWithout} -> ${fit.devWith}: a random network is at chance`);
    const dev = sampleExamples(sent.dev, 200, 4, 0x9b);
    assert.equal((await model.evaluate('sent', dev)).score, fit.devWith);
    assert.equal(model.taskPath('sent').head.prior?.weight, fit.weight);
    const test = (await model.evaluate('sent', sent.test)).score;
    assert.ok(test > 0.8, `test accuracy ${test.toFixed(3)} (Naive Bayes alone: 0.837)`);
    // A finished (locked) task's head keeps what it has: refused, and left as it was.
    const finished = { ...sent, name: 'lex', labels: ['u', 'v', 'w'], train: sent.train.map((e, i) => ({ ...e, label: 'uvw'[i % 3] })) };
    const before = model.taskPath('lex').head.prior;
    await assert.rejects(fitPriors(model, [finished], { devExamples: 10, seed: 0 }), /task "lex" is finished \(its head "\w+" is locked\)/);
    assert.equal(model.taskPath('lex').head.prior, before);
  });
});
