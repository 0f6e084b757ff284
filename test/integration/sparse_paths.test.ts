// μ2Net on sparse models (issue 14): a path may reuse or clone a Switch block or a skill block, and
// add-task takes every folder `pathwise train` or `pathwise pretrain` writes. The guarantee holds
// as on dense models: earlier tasks' logits stay bit for bit what they were, in memory and after
// a save and load.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { Rng, noGrad, randn } from '../../src/engine/index.js';
import { DEFAULT_ENCODER, TransformerEncoder, type EncoderBlock } from '../../src/nn/index.js';
import { DEFAULT_SWITCH, SkillFFN, SwitchFFN, sparseFfnFactory, type SparseConfig } from '../../src/sparse/index.js';
import { Tokenizer } from '../../src/data/tokenizer/index.js';
import { loadBuiltinTask } from '../../src/tasks/builtin/index.js';
import { subsample, type TaskData } from '../../src/tasks/task.js';
import { trainMultiTask } from '../../src/train/multitask.js';
import { cloneMutation, searchTask } from '../../src/evolve/index.js';
import { TaskModel, loadModel, pathComponents, saveModel, specOf } from '../../src/model/index.js';

const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
const bytes = (f: Float32Array) => new Uint8Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength));

const SWITCH: SparseConfig = { switch: { ...DEFAULT_SWITCH, experts: 4, every: 1, jitter: 0 }, skills: null };
const SKILLS: SparseConfig = {
  switch: null,
  skills: { skills: ['general', 'sentence', 'intent', 'token'], generic: 'general', table: { sent: ['sentence'], slotsIntent: ['intent'] }, layers: [1] },
};

describe('μ2Net paths through Switch and skill blocks', () => {
  let sent: TaskData;
  let intent: TaskData;
  let pos: TaskData;
  let tok: Tokenizer;
  let work: string;

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'pw-sparse-paths-'));
    sent = subsample(loadBuiltinTask('sent'), { train: 300, dev: 40, test: 40 }, 2);
    intent = loadBuiltinTask('slotsIntent');
    pos = subsample(loadBuiltinTask('pos'), { train: 300, dev: 40, test: 40 }, 2);
    tok = Tokenizer.train(
      [...sent.train, ...intent.train, ...pos.train].map((e) => e.text),
      { vocabSize: 500 },
    );
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  /** A tiny model of the layout, trained on sent and slotsIntent, then finished (locked). */
  async function trained(sparse: SparseConfig): Promise<TaskModel> {
    const rng = new Rng(5);
    const cfg = { ...DEFAULT_ENCODER, vocabSize: tok.vocabSize, maxPositions: 48, dModel: 16, layers: 2, heads: 2, ffn: 32, initStd: 0.05 };
    const model = TaskModel.fromEncoder(new TransformerEncoder(cfg, rng, sparseFfnFactory(cfg, sparse, rng)), tok, { sparse, rng, maxLen: 48 });
    model.addTask(specOf(sent), { source: { builtin: 'sent' } });
    model.addTask(specOf(intent), { source: { builtin: 'slotsIntent' } });
    await trainMultiTask(model, [sent, intent], { steps: 40, batchSize: 16, lr: 3e-3, warmupSteps: 4, evalEvery: 40, patience: 0, seed: 1 });
    model.lockTasks();
    return model.eval();
  }

  const logitsOn = async (m: TaskModel, t: TaskData) => {
    const batch = await m.encode(t.name, t.test, false);
    return bytes(Float32Array.from(noGrad(() => m.logits(t.name, batch)).f32));
  };

  for (const [name, sparse, kind] of [
    ['Switch', SWITCH, SwitchFFN],
    ['SkillNet', SKILLS, SkillFFN],
  ] as const) {
    it(`adds a task to a ${name} model by search; earlier tasks' logits stay bit for bit, in memory and after save and load`, async () => {
      const model = await trained(sparse);
      const before = new Map([
        [sent.name, await logitsOn(model, sent)],
        [intent.name, await logitsOn(model, intent)],
      ]);
      const res = await searchTask(model, pos, { builtin: 'pos' }, { children: 3, steps: 20, batchSize: 16, seed: 3 });
      assert.deepEqual([...model.tasks.keys()], ['sent', 'slotsIntent', 'pos']);
      for (const t of [sent, intent]) assert.deepEqual(await logitsOn(model, t), before.get(t.name), `${t.name}: logits after add-task`);
      // The new path runs sparse blocks of the model's kind (reused or cloned).
      const path = model.task('pos').path;
      const blocks = path.blocks.map((b) => model.store.get(b, 'block').module as EncoderBlock);
      assert.ok(
        blocks.some((b) => b.ffn instanceof kind || (b.ffn instanceof SkillFFN && [...b.ffn.skills.values()].some((s) => s instanceof kind))),
        `pos runs a ${name} block`,
      );
      if (name === 'SkillNet') assert.ok(path.skills && path.skills.length > 0, 'a path through skill blocks names its skills');
      assert.ok(res.best.dev.score > 0);
      const dir = join(work, `${name}-model`);
      saveModel(dir, model);
      const loaded = loadModel(dir);
      assert.equal(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).layout, 'components');
      for (const t of [sent, intent, pos]) assert.deepEqual(await logitsOn(loaded, t), await logitsOn(model, t), `${t.name}: logits after reload`);
    });

    it(`a clone of a ${name} block computes what the block computes, and training it leaves the block as it was`, async () => {
      const model = await trained(sparse);
      const src = model.task('sent').path;
      const cl = cloneMutation(model.store, src, 1, 'probe', new Rng(9));
      const blk = src.blocks[1];
      const copy = cl.blocks[1];
      assert.notEqual(copy, blk);
      const a = model.store.get(blk, 'block').module;
      const b = model.store.get(copy, 'block').module;
      assert.deepEqual(model.store.get(copy, 'block').config.sparse, model.store.get(blk, 'block').config.sparse);
      const x = randn([2, 5, 16], new Rng(4));
      const route = src.skills ? { skills: src.skills } : undefined;
      assert.deepEqual(bytes(noGrad(() => b.forward(x, null, false, route)).f32), bytes(noGrad(() => a.forward(x, null, false, route)).f32));
      const before = a.parameters().map((p) => bytes(p.f32));
      for (const p of b.parameters()) p.f32.fill(0);
      assert.deepEqual(
        a.parameters().map((p) => bytes(p.f32)),
        before,
        'the clone owns its weights',
      );
      for (const id of pathComponents(src)) assert.ok(model.store.get(id).locked);
    });
  }

  it('pathwise add-task takes a Switch folder and a SkillNet folder written by pathwise train, and the pretrained base', () => {
    for (const [name, sparse] of [
      ['switch', SWITCH],
      ['skills', SKILLS],
    ] as const) {
      const cfg = join(work, `${name}.json`);
      writeFileSync(
        cfg,
        JSON.stringify({
          tasks: ['sent', 'slotsIntent'],
          sparse,
          scratch: { dModel: 16, layers: 2, heads: 2, ffn: 32, vocabSize: 400 },
          maxLen: 48,
          train: { steps: 20, batchSize: 16, evalEvery: 20, evalExamples: 40, patience: 0 },
          out: join(work, `train-${name}`),
        }),
      );
      const t = cli('train', '--config', cfg);
      assert.equal(t.status, 0, t.stderr);
      const dir = join(work, `train-${name}`, 'model');
      const predictBefore = cli('predict', dir, '--task', 'sent', '--json', 'A fine film.', 'Awful.');
      assert.equal(predictBefore.status, 0, predictBefore.stderr);
      const add = cli('add-task', dir, '--task', 'pos', '--children', '2', '--steps', '10', '--batch-size', '16');
      assert.equal(add.status, 0, add.stderr);
      assert.match(add.stdout, /added task "pos"/);
      const predictAfter = cli('predict', dir, '--task', 'sent', '--json', 'A fine film.', 'Awful.');
      assert.equal(predictAfter.stdout, predictBefore.stdout, `${name}: sent's predictions (with their probabilities) after add-task`);
      const tasks = cli('tasks', dir, '--json');
      assert.deepEqual(
        JSON.parse(tasks.stdout).tasks.map((r: { task: string }) => r.task),
        ['sent', 'slotsIntent', 'pos'],
      );
    }
    // A pretrained base (no task yet): the first task's path grows from the root stack.
    const base = join(work, 'base');
    const copy = spawnSync('cp', ['-r', join(ROOT, 'models', 'base'), base]);
    assert.equal(copy.status, 0);
    const add = cli('add-task', base, '--task', 'slotsIntent', '--children', '1', '--steps', '3', '--batch-size', '8', '--eval-examples', '20');
    assert.equal(add.status, 0, add.stderr);
    assert.match(add.stdout, /added task "slotsIntent"/);
  });
});
