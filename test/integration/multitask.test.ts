// Multi-task training on real tasks (reduced for CI): a tiny encoder learns `sent` and `pos`
// jointly, well above chance; temperature sampling, freezing and per-task step caps behave.

import { it, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { Rng, noGrad } from '../../src/engine/index.js';
import { DEFAULT_ENCODER, TransformerEncoder, type EncoderConfig } from '../../src/nn/index.js';
import { Tokenizer } from '../../src/data/tokenizer/index.js';
import { loadBuiltinTask } from '../../src/tasks/builtin/index.js';
import { TaskModel, specOf, type ClassPrediction, type TagPrediction, type ValuePrediction } from '../../src/model/index.js';

const DENSE = { switch: null, skills: null };
import { evaluateTask, taskProbabilities, trainMultiTask } from '../../src/train/multitask.js';
import { sparseFfnFactory } from '../../src/sparse/index.js';
import { BUILTIN_SKILLS } from '../../src/tasks/builtin/skills.js';
import { subsample, type TaskData } from '../../src/tasks/task.js';

/** Small slices of sent and slotsIntent, and a tokenizer trained on their training text. */
function sentAndIntent() {
  const sent = subset(loadBuiltinTask('sent'), 64, 16);
  const intent = subset(loadBuiltinTask('slotsIntent'), 64, 10);
  const tok = Tokenizer.train(
    [...sent.train, ...intent.train].map((e) => e.text),
    { vocabSize: 400 },
  );
  return { sent, intent, tok };
}

/** The tests' encoders: one block of width 16 over `vocabSize` tokens, but for what `o` changes. */
function tinyEncoder(vocabSize: number, o: Partial<EncoderConfig> = {}): EncoderConfig {
  return { ...DEFAULT_ENCODER, vocabSize, maxPositions: 64, dModel: 16, layers: 1, heads: 2, ffn: 32, dropout: 0, attentionDropout: 0, initStd: 0.05, ...o };
}

function subset(t: TaskData, train: number, dev: number): TaskData {
  return { ...t, train: t.train.slice(0, train), dev: t.dev.slice(0, dev), test: t.test.slice(0, dev) };
}

describe('multi-task training', () => {
  it('samples tasks in proportion to n^(1/T)', () => {
    const p = taskProbabilities([100, 400], 1);
    assert.deepEqual(
      p.map((x) => +x.toFixed(6)),
      [0.2, 0.8],
    );
    const q = taskProbabilities([100, 400], 2);
    assert.ok(Math.abs(q[0] - 10 / 30) < 1e-12);
    const u = taskProbabilities([100, 400], 1e9);
    assert.ok(Math.abs(u[0] - 0.5) < 1e-6, 'T -> infinity is uniform');
    assert.throws(() => taskProbabilities([1], 0), /temperature/);
  });

  it('learns sent and pos jointly from scratch, far above chance', async () => {
    const sent = subset(loadBuiltinTask('sent'), 1200, 200);
    const pos = subset(loadBuiltinTask('pos'), 600, 100);
    const texts = [...sent.train.map((e) => e.text), ...pos.train.map((e) => e.text)];
    const tok = Tokenizer.train(texts, { vocabSize: 1200 });
    const rng = new Rng(5);
    const enc = new TransformerEncoder(tinyEncoder(tok.vocabSize, { dModel: 64, layers: 2, heads: 4, ffn: 128, dropout: 0.1, attentionDropout: 0.1 }), rng);
    const model = TaskModel.fromEncoder(enc, tok, { sparse: DENSE, rng, maxLen: 64 });
    model.addTask(specOf(sent));
    model.addTask(specOf(pos));
    const res = await trainMultiTask(model, [sent, pos], {
      steps: 400,
      batchSize: 16,
      lr: 2e-3,
      warmupSteps: 40,
      evalEvery: 100,
      patience: 0,
      temperature: 2,
      seed: 1,
    });
    assert.ok(res.stepsPerTask.sent > 0 && res.stepsPerTask.pos > 0);
    // Chance: 50% for sent, ~1/12 for 12 tags. Measured: 0.700 and 0.706 (a tiny model from scratch
    // after 400 steps; the most-frequent-tag baseline, which sees every word's tag counts, is 0.94).
    assert.ok(res.dev.sent.score >= 0.6, `sent dev accuracy ${res.dev.sent.score}`);
    assert.ok(res.dev.pos.score >= 0.6, `pos dev token accuracy ${res.dev.pos.score}`);
    const pred = (await model.predict('sent', ['An absolutely wonderful, delightful film.', 'Terrible. Broken on arrival, avoid.'])) as ClassPrediction[];
    assert.equal(pred.length, 2);
    for (const p of pred) {
      // The label is the most probable one; the scores are a distribution over every label.
      assert.deepEqual(Object.keys(p.scores), sent.labels);
      assert.ok(Math.abs(Object.values(p.scores).reduce((a, b) => a + b, 0) - 1) < 1e-5);
      assert.equal(p.score, Math.max(...Object.values(p.scores)));
      assert.equal(p.scores[p.label], p.score);
    }
    const tags = (await model.predict('pos', ['The dog ran home .']))[0] as TagPrediction;
    assert.deepEqual(
      tags.words.map((w) => w.word),
      ['The', 'dog', 'ran', 'home', '.'],
    );
    assert.ok(tags.words.every((w) => pos.labels.includes(w.tag) && w.score! > 0 && w.score! <= 1));
    assert.deepEqual(tags.spans, [], 'a tag set that is not BIO has no spans');
    await assert.rejects(() => model.predict('nope', ['x']), /unknown task "nope"/);
  });

  it('trains a regression head (MSE) on real data: sentiment as a score in [0, 1], scored by Pearson', async () => {
    const sent = subsample(loadBuiltinTask('sent'), { train: 2400, dev: 150, test: 300 }, 2);
    const asScore = (xs: typeof sent.train) => xs.map((e) => ({ text: e.text, label: e.label === 'positive' ? 1 : 0 }));
    const reg: TaskData = { name: 'polarity', type: 'regression', labels: [], train: asScore(sent.train), dev: asScore(sent.dev), test: asScore(sent.test) };
    const tok = Tokenizer.train(
      reg.train.map((e) => e.text),
      { vocabSize: 1000 },
    );
    const rng = new Rng(4);
    const enc = new TransformerEncoder(tinyEncoder(tok.vocabSize, { dModel: 48, heads: 4, ffn: 96, dropout: 0.1, attentionDropout: 0.1 }), rng);
    const model = TaskModel.fromEncoder(enc, tok, { sparse: DENSE, rng, maxLen: 64 });
    model.addTask(specOf(reg));
    const res = await trainMultiTask(model, [reg], { steps: 300, batchSize: 16, lr: 2e-3, warmupSteps: 30, evalEvery: 100, patience: 0, seed: 1 });
    assert.equal(res.dev.polarity.metric, 'pearson');
    const s = await evaluateTask(model, reg, reg.test);
    const pred = (await model.predict('polarity', ['A wonderful, moving film.'])) as ValuePrediction[];
    assert.equal(typeof pred[0].value, 'number');
    // Measured: test Pearson 0.613 (a one-layer model from scratch); 0 for a constant predictor.
    assert.ok(s.score >= 0.3, `test Pearson ${s.score}`);
  });

  it('mean pooling averages only real tokens: a prediction does not depend on the padding its batch needs', async () => {
    const sent = subsample(loadBuiltinTask('sent'), { train: 200, dev: 10, test: 10 }, 3);
    const tok = Tokenizer.train(
      sent.train.map((e) => e.text),
      { vocabSize: 500 },
    );
    const rng = new Rng(9);
    const enc = new TransformerEncoder(tinyEncoder(tok.vocabSize, { initStd: 0.5 }), rng);
    const model = TaskModel.fromEncoder(enc, tok, { sparse: DENSE, rng, maxLen: 64 });
    const { head } = model.addTask(specOf(sent));
    assert.equal(head.cfg.pooling, 'mean', 'new sequence heads pool by mean');
    model.eval();
    const short = { text: 'Great.' };
    const long = { text: 'A long, winding and ultimately rather tiresome review of a film that nobody needed to see twice.' };
    const b1 = await model.encode('sent', [short], false);
    const b2 = await model.encode('sent', [short, long], false);
    assert.ok(b2.ids.shape[1] > b1.ids.shape[1] + 5, 'the second batch pads the short text');
    const a = Array.from(noGrad(() => model.logits('sent', b1)).f32.slice(0, 2));
    const b = Array.from(noGrad(() => model.logits('sent', b2)).f32.slice(0, 2));
    a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) < 1e-5, `logit ${i}: ${x} alone vs ${b[i]} padded`));
  });

  it('a per-task step cap stops sampling that task; frozen embeddings and layers stay unchanged', async () => {
    const { sent, intent, tok } = sentAndIntent();
    const rng = new Rng(2);
    const enc = new TransformerEncoder(tinyEncoder(tok.vocabSize), rng);
    const model = TaskModel.fromEncoder(enc, tok, { sparse: DENSE, rng, maxLen: 64 });
    model.addTask(specOf(sent));
    model.addTask(specOf(intent));
    const frozen = [...enc.embeddings.parameters(), ...enc.layers[0].parameters()].map((p) => Float32Array.from(p.f32));
    const res = await trainMultiTask(model, [sent, intent], {
      steps: 30,
      batchSize: 4,
      evalEvery: 30,
      patience: 0,
      perTask: { sent: { steps: 5 } },
      freezeEmbeddings: true,
      freezeLayers: 1,
    });
    [...enc.embeddings.parameters(), ...enc.layers[0].parameters()].forEach((p, i) =>
      assert.deepEqual(Array.from(p.f32), Array.from(frozen[i]), `frozen ${p.name}`),
    );
    assert.ok(
      enc.finalNorm!.bias.f32.some((v) => v !== 0),
      'unfrozen parameters trained',
    );
    assert.equal(res.stepsPerTask.sent, 5);
    assert.equal(res.stepsPerTask.slotsIntent, 25);
  });

  it('taskPatience takes a task out of the sampling when its own dev score stops rising, and leaves its head as it was', async () => {
    const { sent, intent, tok } = sentAndIntent();
    const rng = new Rng(5);
    const model = TaskModel.fromEncoder(new TransformerEncoder(tinyEncoder(tok.vocabSize), rng), tok, { sparse: DENSE, rng, maxLen: 64 });
    model.addTask(specOf(sent));
    model.addTask(specOf(intent));
    const tasks = [sent, intent];
    const heads = new Map(tasks.map((t) => [t.name, model.store.get(model.tasks.get(t.name)!.path.head, 'head').module]));
    // Each task's head at every evaluation, and the task of every step.
    const headAt: Record<string, Map<number, number[]>> = { sent: new Map(), slotsIntent: new Map() };
    const stepTask: string[] = [];
    const res = await trainMultiTask(model, tasks, {
      steps: 120,
      batchSize: 4,
      evalEvery: 10,
      patience: 0,
      taskPatience: 2,
      lr: 1e-2,
      warmupSteps: 0,
      seed: 1,
      onStep: (m) => stepTask.push(m.task),
      onEvaluate: ({ step }) => {
        for (const [name, h] of heads)
          headAt[name].set(
            step,
            h.parameters().flatMap((p) => Array.from(p.f32)),
          );
      },
    });
    // The rule, replayed on the recorded dev scores: a task leaves at the evaluation that makes
    // taskPatience evaluations in a row without beating its best.
    const expected: Record<string, number> = {};
    for (const t of tasks) {
      let best = -Infinity;
      let since = 0;
      for (const h of res.history) {
        if (h.dev[t.name] > best) [best, since] = [h.dev[t.name], 0];
        else if (++since >= 2) {
          expected[t.name] = h.step;
          break;
        }
      }
    }
    assert.deepEqual(res.stoppedAt, expected, 'each task stops where the rule says');
    const lastStep = res.history[res.history.length - 1].step;
    assert.ok(
      Object.values(expected).some((at) => at < lastStep),
      'the run exercises the rule: a task stops while another trains on',
    );
    for (const [name, at] of Object.entries(res.stoppedAt)) {
      assert.equal(stepTask.slice(at).filter((t) => t === name).length, 0, `no "${name}" step after step ${at}`);
      assert.equal(res.stepsPerTask[name], stepTask.slice(0, at).filter((t) => t === name).length);
      // Its head gets no gradient after it leaves, so AdamW does not move it (no decay either).
      const last = Math.max(...headAt[name].keys());
      assert.deepEqual(headAt[name].get(last), headAt[name].get(at), `"${name}"'s head unchanged from step ${at} to step ${last}`);
    }
    // The run ends when every task has left (or at `steps`).
    if (Object.keys(res.stoppedAt).length === tasks.length) assert.equal(lastStep, Math.max(...Object.values(res.stoppedAt)));
    else assert.equal(lastStep, 120);
  });

  it('onEvaluate sees each evaluation, with the dev scores the run keeps; a hook that scores the test sets leaves the run bit for bit the same', async () => {
    const { sent, intent, tok } = sentAndIntent();
    const cfg = tinyEncoder(tok.vocabSize, { dropout: 0.1, attentionDropout: 0.1 });
    const run = async (hook: boolean) => {
      const rng = new Rng(4);
      const model = TaskModel.fromEncoder(new TransformerEncoder(cfg, rng), tok, { sparse: DENSE, rng, maxLen: 64 });
      model.addTask(specOf(sent));
      model.addTask(specOf(intent));
      const seen: { step: number; dev: Record<string, number> }[] = [];
      const res = await trainMultiTask(model, [sent, intent], {
        steps: 24,
        batchSize: 4,
        evalEvery: 8,
        patience: 0,
        seed: 3,
        onEvaluate: hook
          ? async ({ step, dev }) => {
              for (const t of [sent, intent]) await model.evaluate(t.name, t.test);
              seen.push({ step, dev: Object.fromEntries(Object.entries(dev).map(([k, v]) => [k, v.score])) });
            }
          : undefined,
      });
      return { res, seen, weights: model.parameters().map((p) => Array.from(p.f32)) };
    };
    const plain = await run(false);
    const hooked = await run(true);
    assert.deepEqual(
      hooked.seen.map((e) => [e.step, e.dev]),
      plain.res.history.map((h) => [h.step, h.dev]),
      'one call per evaluation, with the scores the run records',
    );
    assert.deepEqual(hooked.weights, plain.weights, 'scoring test sets in the hook changes nothing the run does');
  });

  it("embeddingLrScale scales the embeddings' step, and only theirs", async () => {
    const sent = subset(loadBuiltinTask('sent'), 32, 8);
    const tok = Tokenizer.train(
      sent.train.map((e) => e.text),
      { vocabSize: 300 },
    );
    const build = () => {
      const rng = new Rng(3);
      const enc = new TransformerEncoder(tinyEncoder(tok.vocabSize), rng);
      const model = TaskModel.fromEncoder(enc, tok, { sparse: DENSE, rng, maxLen: 64 });
      model.addTask(specOf(sent));
      return model;
    };
    const init = build()
      .parameters()
      .map((p) => Float32Array.from(p.f32));
    // One step (no warmup, so at the full lr) from the same weights on the same batch.
    const oneStep = async (embeddingLrScale: number) => {
      const model = build();
      await trainMultiTask(model, [sent], { steps: 1, batchSize: 8, lr: 1e-3, warmupSteps: 0, evalEvery: 1, patience: 0, seed: 4, embeddingLrScale });
      return model;
    };
    const m1 = await oneStep(1);
    const m3 = await oneStep(3);
    const emb = new Set(m1.store.get(m1.root.embeddings).module.parameters());
    const after3 = m3.parameters();
    let compared = 0;
    m1.parameters().forEach((p, i) => {
      const q = after3[i];
      for (let j = 0; j < p.size; j++) {
        const d1 = p.f32[j] - init[i][j];
        const d3 = q.f32[j] - init[i][j];
        if (!emb.has(p)) assert.equal(d3, d1, `${p.name}[${j}]: not an embedding, same step`);
        else if (Math.abs(d1) > 1e-5) {
          // Adam's step and the decoupled decay are both proportional to the lr.
          assert.ok(Math.abs(d3 / d1 - 3) < 1e-2, `${p.name}[${j}]: step ${d3} at scale 3 against ${d1} at scale 1`);
          compared++;
        }
      }
    });
    assert.ok(compared > 100, `${compared} embedding weights moved`);
    // A bad scale is refused before anything is changed: freezing is not left behind.
    const m0 = build();
    await assert.rejects(() => trainMultiTask(m0, [sent], { steps: 1, freezeEmbeddings: true, embeddingLrScale: 0 }), /embeddingLrScale must be > 0/);
    assert.ok(
      m0.parameters().every((p) => p.requiresGrad),
      'no parameter left frozen',
    );
  });

  it('pathwise train / eval / predict round trip, with a user task from a JSONL file', () => {
    const work = mkdtempSync(join(tmpdir(), 'pw-train-'));
    try {
      const sent = loadBuiltinTask('sent');
      const toJsonl = (xs: typeof sent.train) => xs.map((e) => JSON.stringify({ text: e.text, label: e.label })).join('\n');
      writeFileSync(join(work, 'train.jsonl'), toJsonl(sent.train.slice(0, 300)));
      writeFileSync(join(work, 'test.jsonl'), toJsonl(sent.test.slice(0, 60)));
      writeFileSync(
        join(work, 'cfg.json'),
        JSON.stringify({
          tasks: ['slotsIntent', { name: 'mysent', type: 'classification', train: join(work, 'train.jsonl'), test: join(work, 'test.jsonl') }],
          scratch: { dModel: 32, layers: 1, heads: 2, ffn: 64, vocabSize: 600 },
          maxLen: 48,
          train: { steps: 60, batchSize: 16, lr: 2e-3, warmupSteps: 5, evalEvery: 30, patience: 0 },
          out: join(work, 'out'),
        }),
      );
      const cli = (...a: string[]) => spawnSync(process.execPath, [join(ROOT, 'dist', 'src', 'cli', 'main.js'), ...a], { encoding: 'utf8' });
      const t = cli('train', '--config', join(work, 'cfg.json'));
      assert.equal(t.status, 0, t.stderr);
      assert.match(t.stdout, /slotsIntent\s+score 0\.\d+/);
      const e = cli('eval', join(work, 'out', 'model'), '--task', 'slotsIntent');
      assert.equal(e.status, 0, e.stderr);
      const slotsTest = /slotsIntent\s+score (\d\.\d+)/.exec(e.stdout)!;
      assert.ok(Number(slotsTest[1]) > 0.7, `slotsIntent test accuracy ${slotsTest[1]} (two intents)`);
      const p = cli('predict', join(work, 'out', 'model'), '--task', 'mysent', 'What a lovely film.', 'Awful.');
      assert.equal(p.status, 0, p.stderr);
      assert.equal(p.stdout.trim().split('\n').length, 2);
      assert.ok(
        p.stdout
          .trim()
          .split('\n')
          .every((l) => ['negative', 'positive'].includes(l)),
      );
      const bad = cli('predict', join(work, 'out', 'model'), '--task', 'nope', 'x');
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /no task "nope".*it has: slotsIntent, mysent/);
      writeFileSync(join(work, 'broken.jsonl'), '{"text": "ok", "label": "1"}\n{"text": 5}\n');
      writeFileSync(
        join(work, 'cfg2.json'),
        JSON.stringify({ tasks: [{ name: 'b', type: 'classification', train: join(work, 'broken.jsonl') }], out: join(work, 'out2') }),
      );
      const br = cli('train', '--config', join(work, 'cfg2.json'));
      assert.equal(br.status, 2);
      assert.match(br.stderr, /broken\.jsonl.*line 2/);
      const g = cli('train', '--config', join(work, 'cfg.json'), '--train.groupByLength', '0');
      assert.equal(g.status, 2);
      assert.match(g.stderr, /cfg\.json: train\.groupByLength must be an integer >= 1/);
      const es = cli('train', '--config', join(work, 'cfg.json'), '--train.embeddingLrScale', '-1');
      assert.equal(es.status, 2);
      assert.match(es.stderr, /cfg\.json: train\.embeddingLrScale must be a number > 0/);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});

describe('the six built-in tasks (reduced bench:multitask)', () => {
  it('a tiny SkillNet model learns sent, spam, sense, genre, pos and wic jointly, well above chance', async () => {
    const names = ['sent', 'spam', 'sense', 'genre', 'pos', 'wic'];
    const tasks = names.map((n) => subsample(loadBuiltinTask(n), { train: 4000, dev: 300, test: 400 }, 1));
    const texts = tasks.flatMap((t) => t.train.map((e) => e.text + (e.textPair ? `\n${e.textPair}` : '')));
    const tok = Tokenizer.train(texts, { vocabSize: 3000 });
    const rng = new Rng(7);
    const cfg = tinyEncoder(tok.vocabSize, { dModel: 64, layers: 2, heads: 4, ffn: 128, dropout: 0.1, attentionDropout: 0.1 });
    const skills = { ...BUILTIN_SKILLS, layers: [1] };
    const enc = new TransformerEncoder(cfg, rng, sparseFfnFactory(cfg, { switch: null, skills }, rng));
    const model = TaskModel.fromEncoder(enc, tok, { sparse: { switch: null, skills }, rng, maxLen: 64 });
    for (const t of tasks) model.addTask(specOf(t));
    const res = await trainMultiTask(model, tasks, {
      steps: 1500,
      batchSize: 16,
      lr: 2e-3,
      warmupSteps: 100,
      evalEvery: 500,
      patience: 0,
      temperature: 1e9,
      seed: 3,
    });
    const majority = (t: TaskData): number => {
      const counts = new Map<string, number>();
      const labels = t.type === 'tagging' ? t.test.flatMap((e) => e.tags!) : t.test.map((e) => String(e.label));
      for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
      return Math.max(...counts.values()) / labels.length;
    };
    // Measured (test subsample): sent 0.767, spam 0.948, sense 0.198, genre 0.155, pos 0.786,
    // wic 0.678; majority class 0.513, 0.660, 0.123, 0.140, 0.241 (tag), 0.555. Chance for genre
    // (15 genres) is 0.067: on a document split a tiny model mostly learns its prior.
    const floors: Record<string, number> = { sent: 0.68, spam: 0.88, sense: 0.17, genre: 0.11, pos: 0.7, wic: 0.57 };
    for (const t of tasks) {
      const s = await evaluateTask(model, t, t.test);
      assert.ok(res.stepsPerTask[t.name] > 150, `${t.name} was sampled`);
      assert.ok(s.score >= floors[t.name], `${t.name}: test ${s.metric} ${s.score.toFixed(3)} < ${floors[t.name]} (majority ${majority(t).toFixed(3)})`);
      if (t.name !== 'genre')
        assert.ok(s.score > majority(t) + 0.04, `${t.name}: ${s.score.toFixed(3)} is not clear of the majority class ${majority(t).toFixed(3)}`);
    }
  });
});
