// Sparse models end to end: finite-difference gradients through the Switch layer (router,
// gates, experts, both auxiliary losses), upcycling a dense model, and `pathwise pretrain` with
// Switch experts inside skills followed by `pathwise inspect`.

import { it, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from '../../src/engine/index.js';
import { Rng, Tensor, noGrad } from '../../src/engine/index.js';
import { FeedForward, LanguageModel } from '../../src/nn/index.js';
import { SkillFFN, SwitchFFN, auxLoss, upcycle } from '../../src/sparse/index.js';
import { loadMobyDick } from '../../src/data/corpus/index.js';
import { ROOT, assertClose } from '../helpers.js';

describe('Switch layer gradients (finite differences)', () => {
  it('match for x, router and experts, with drops and both auxiliary losses', () => {
    const rng = new Rng(11);
    const sw = new SwitchFFN(
      { experts: 3, topK: 2, capacityFactor: 1.0, evalCapacityFactor: 1.0, jitter: 0, expertDropout: 0, lbWeight: 0.3, zWeight: 0.2, normalizeTopK: true },
      4,
      6,
      'gelu',
      rng,
      0.5,
    );
    const x = E.randn([7, 4], rng, 1, true);
    const up = E.randn([7, 4], rng);
    const loss = () => E.add(E.sum(E.mul(sw.forward(x), up)), auxLoss(sw)!);
    loss().backward();
    const plan0 = JSON.stringify(sw.stats);
    assert.ok(sw.stats.droppedFraction > 0, 'the case drops some assignments');
    const params: [string, Tensor][] = [['x', x], ...sw.namedParameters()];
    const h = 1e-3;
    for (const [name, p] of params) {
      const g = Float32Array.from(p.grad!);
      for (let j = 0; j < p.size; j += Math.max(1, Math.floor(p.size / 12))) {
        const keep = p.f32[j];
        p.f32[j] = keep + h;
        const lp = loss().item();
        const routedP = JSON.stringify(sw.stats);
        p.f32[j] = keep - h;
        const lm = loss().item();
        const routedM = JSON.stringify(sw.stats);
        p.f32[j] = keep;
        if (routedP !== plan0 || routedM !== plan0) continue; // a nudge that changes routing is a step, not a slope
        const num = (lp - lm) / (2 * h);
        assert.ok(Math.abs(num - g[j]) <= 5e-3 + 3e-2 * Math.abs(num), `${name}[${j}]: analytic ${g[j]}, numeric ${num}`);
      }
    }
  });
});

describe('upcycling a dense model', () => {
  const cfg = {
    vocabSize: 60,
    maxPositions: 8,
    typeVocabSize: 2,
    dModel: 8,
    layers: 2,
    heads: 2,
    ffn: 16,
    activation: 'gelu' as const,
    dropout: 0,
    attentionDropout: 0,
    layerNormEps: 1e-5,
    initStd: 0.2,
    normPlacement: 'pre' as const,
  };
  const ids = new Tensor(Int32Array.from([5, 9, 13, 2, 7, 30, 41, 3]), [2, 4]);

  it('a skill model made from a dense model computes the same function (identical skills average to the dense FFN)', () => {
    const dense = new LanguageModel(cfg, new Rng(1)).eval();
    const skills = upcycle(dense, { switch: null, skills: { skills: ['g', 'a', 'b'], generic: 'g', table: { t: ['a'] }, layers: 'all' } }, new Rng(2)).eval();
    const hd = noGrad(() => dense.encoder.forward(ids));
    const hs = noGrad(() => skills.encoder.forward(ids, null, null, false, { skills: ['g', 'a'] }));
    assertClose(hs.data, hd.data, 'hidden states', { rtol: 1e-5, atol: 1e-6 });
    assert.ok(skills.encoder.layers[0].ffn instanceof SkillFFN);
  });

  it('a Switch model made from a dense model starts with every expert equal to the dense FFN', () => {
    const dense = new LanguageModel(cfg, new Rng(1));
    const sw = upcycle(
      dense,
      {
        switch: {
          experts: 4,
          topK: 1,
          capacityFactor: null,
          evalCapacityFactor: null,
          jitter: 0,
          expertDropout: 0,
          lbWeight: 0.01,
          zWeight: 0.001,
          normalizeTopK: true,
          every: 2,
        },
        skills: null,
      },
      new Rng(2),
    );
    const layer = sw.encoder.layers[1].ffn as SwitchFFN;
    const src = dense.encoder.layers[1].ffn as FeedForward;
    for (let e = 0; e < 4; e++) assert.deepEqual(Array.from(layer.experts.w1.f32.subarray(e * 128, (e + 1) * 128)), Array.from(src.fc1.weight.f32));
    assert.deepEqual(Array.from(sw.encoder.embeddings.word.f32), Array.from(dense.encoder.embeddings.word.f32));
  });
});

describe('pathwise pretrain with a sparse config, and pathwise inspect', () => {
  let work = '';
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'pw-sparse-'));
    writeFileSync(join(work, 'moby.txt'), loadMobyDick().slice(0, 10).join('\n\n'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('trains Switch experts inside skills (loss falls, router statistics logged) and inspects the result', () => {
    const cfg = {
      model: {
        dModel: 32,
        layers: 2,
        heads: 2,
        ffn: 64,
        sparse: {
          switch: { experts: 4, every: 2 },
          skills: { skills: ['s0', 's_mlm', 's_task'], generic: 's0', table: { mlm: ['s_mlm'], task: ['s_task'] }, layers: [1] },
        },
      },
      tokenizer: { vocabSize: 350 },
      data: { corpus: join(work, 'moby.txt'), seqLen: 32, heldOutFraction: 0.05 },
      train: { steps: 40, batchSize: 8, lr: 2e-3, warmupSteps: 4, logEvery: 5, evalEvery: 20, evalBatches: 4, checkpointEvery: 40 },
    };
    writeFileSync(join(work, 'cfg.json'), JSON.stringify(cfg));
    const env = { ...process.env, PATHWISE_CACHE: join(work, 'cache') };
    const cli = join(ROOT, 'dist', 'src', 'cli', 'main.js');
    const r = spawnSync(process.execPath, [cli, 'pretrain', '--config', join(work, 'cfg.json'), '--out', join(work, 'out')], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const m = readFileSync(join(work, 'out', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const train = m.filter((x) => 'loss' in x);
    assert.ok(train[train.length - 1].loss < train[0].loss - 0.3, 'training loss falls');
    assert.ok(
      train.every((x) => Number.isFinite(x.lb) && x.lb >= 0.9 && Array.isArray(x.tokens_per_expert)),
      'router statistics are logged',
    );
    const bad = spawnSync(
      process.execPath,
      [cli, 'pretrain', '--config', join(work, 'cfg.json'), '--model.sparse.switch.expertz', '3', '--out', join(work, 'x')],
      { env, encoding: 'utf8' },
    );
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown key "model\.sparse\.switch\.expertz" \(did you mean "model\.sparse\.switch\.experts"\?\)/);

    const ins = spawnSync(process.execPath, [cli, 'inspect', join(work, 'out', 'model'), '--json'], { env, encoding: 'utf8' });
    assert.equal(ins.status, 0, ins.stderr);
    const acc = JSON.parse(ins.stdout) as { task: string; totalParams: number; activeParams: number; layers: { kind: string }[] }[];
    assert.deepEqual(
      acc.map((a) => a.task),
      ['mlm', 'task'],
    );
    assert.equal(acc[0].layers[1].kind, 'skills(2/3 switch(4e, top-1))');
    assert.ok(acc[0].activeParams < acc[0].totalParams / 2, 'a task activates a small part of the model');
  });

  it('pathwise add-task grows the sparse pretrained folder: the first task runs its Switch-in-skill blocks with the generic skill', () => {
    const cli = join(ROOT, 'dist', 'src', 'cli', 'main.js');
    const model = join(work, 'out', 'model');
    const add = spawnSync(
      process.execPath,
      [cli, 'add-task', model, '--task', 'slotsIntent', '--children', '1', '--steps', '3', '--batch-size', '8', '--eval-examples', '20'],
      { encoding: 'utf8' },
    );
    assert.equal(add.status, 0, add.stderr);
    const tasks = JSON.parse(spawnSync(process.execPath, [cli, 'tasks', model, '--json'], { encoding: 'utf8' }).stdout);
    assert.deepEqual(
      tasks.tasks.map((t: { task: string; skills?: string[] }) => [t.task, t.skills]),
      [['slotsIntent', ['s0']]],
      'a task with no row of the skill table runs the generic skill',
    );
  });
});
