// Exported ONNX graphs against Pathwise's own forward pass, in onnxruntime-web (wasm, in Node):
// every task of every model layout (dense with grown paths and adapters, post-LN, SkillNet skills,
// Switch layers with and without capacity drops), an image task, and the pretrained base with
// heads on real test sentences (sent with its n-gram bag and Naive Bayes prior, pos, wic). Logits
// must agree within 1e-4.

import test from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Rng } from '../../src/engine/index.js';
import { DEFAULT_SWITCH, SwitchFFN } from '../../src/sparse/index.js';
import { TaskModel, headConfigFor, inLayout, loadPretrained, specOf, type TaskPath, type TaskSpec } from '../../src/model/index.js';
import { NaiveBayesPrior } from '../../src/tasks/naive_bayes_prior.js';
import { loadBuiltinTask } from '../../src/tasks/builtin/index.js';
import type { Example } from '../../src/tasks/task.js';
import { taskGraph } from '../../src/export/index.js';
import { LAYOUTS, build, requests } from '../mixed_models.js';
import { ROOT } from '../helpers.js';
import { bothLogits, maxAbsDiff } from '../onnx_helpers.js';

const TOL = 1e-4;

async function checkTask(path: TaskPath, examples: readonly Example[], what: string): Promise<number> {
  const { ours, theirs } = await bothLogits(path, examples);
  assert.ok(ours.every(Number.isFinite), `${what}: Pathwise's logits are finite`);
  const d = maxAbsDiff(ours, theirs);
  assert.ok(d <= TOL, `${what}: max |ONNX - Pathwise| = ${d} > ${TOL}`);
  return d;
}

function examplesOf(model: TaskModel, task: string): Example[] {
  return requests(model, 12)
    .filter((r) => r.task === task)
    .map((r) => (typeof r.input === 'string' ? { text: r.input } : r.input));
}

const SWITCH_DROPS = {
  sparse: { switch: { ...DEFAULT_SWITCH, experts: 4, every: 1, topK: 2, jitter: 0, evalCapacityFactor: 0.5 }, skills: null },
} as const;

for (const [name, layout] of [...LAYOUTS, ['Switch layers, top-2, capacity 0.5 (tokens dropped)', SWITCH_DROPS] as const]) {
  test(`ONNX export, ${name}: every task's graph gives Pathwise's logits within ${TOL}`, async () => {
    const model = build(layout);
    for (const task of model.tasks.keys()) await checkTask(model.taskPath(task), examplesOf(model, task), `${name}, task ${task}`);
  });
}

test('ONNX export: a Switch graph holds every expert, and the capacity rule drops what Pathwise drops', async () => {
  const model = build(SWITCH_DROPS);
  const path = model.taskPath('cls');
  const experts = (path.blocks[0].ffn as SwitchFFN).cfg.experts;
  // One routed-rows computation per expert and block, written from the modules, not traced.
  assert.equal(taskGraph(path).graph.opCounts().get('ScatterND'), experts * path.blocks.length);
  // The batch drops tokens in Pathwise (so the graph's capacity rule is exercised), and the graph agrees.
  const exs = examplesOf(model, 'cls');
  await checkTask(path, exs, 'cls');
  const dropped = path.blocks.map((b) => (b.ffn as SwitchFFN).stats?.droppedFraction ?? 0);
  assert.ok(
    dropped.some((f) => f > 0),
    `some tokens are dropped (dropped fractions ${dropped})`,
  );
});

test('ONNX export: an image task (non-square RGB, overlapping patches) reads raw pixels [batch, channels, height, width]', async () => {
  const model = build({});
  const r = new Rng(9);
  const spec: TaskSpec = { name: 'img', type: 'image_classification', labels: ['a', 'b', 'c'], image: { width: 12, height: 10, channels: 3, flips: false } };
  const stem = model.store.create('image_stem', { width: 12, height: 10, channels: 3, patch: 5, stride: 2, dModel: 16, initStd: 0.2, dropout: 0.1 }, 'img', r);
  const head = model.store.create('head', headConfigFor(spec, { dModel: 16, initStd: 0.2 }), 'img', r);
  model.addTaskPath(spec, null, { ...model.rootPath('img'), embeddings: stem.id, head: head.id });
  const exs: Example[] = Array.from({ length: 7 }, () => ({
    text: '',
    image: { width: 12, height: 10, channels: 3, pixels: Uint8Array.from({ length: 360 }, () => r.int(256)) },
  }));
  await checkTask(model.taskPath('img'), exs, 'img');
});

test('ONNX export: the pretrained base with heads, on real test inputs (sent with n-gram bag and Naive Bayes prior, pos, wic)', async () => {
  const BASE = join(ROOT, 'models', 'base');
  const pre = loadPretrained(BASE);
  const sparse = { switch: null, skills: null };
  const rng = new Rng(1);
  const lm = inLayout(pre, BASE, sparse, rng, 'onnx test');
  const model = TaskModel.fromEncoder(lm.encoder, pre.tokenizer!, { sparse, rng, maxLen: 128 });
  const data = { sent: loadBuiltinTask('sent'), pos: loadBuiltinTask('pos'), wic: loadBuiltinTask('wic') };
  model.addTask({ ...specOf(data.sent), lexical: { buckets: 1 << 16, dim: 16, ngrams: 2 } });
  model.addTask(specOf(data.pos));
  model.addTask(specOf(data.wic));
  const sentHead = model.taskPath('sent').head;
  for (let i = 0; i < sentHead.bagOut!.weight.size; i++) sentHead.bagOut!.weight.f32[i] = (rng.uniform() - 0.5) * 2;
  sentHead.setPrior(NaiveBayesPrior.count(data.sent.train, data.sent.labels).withWeight(0.6));
  model.lockTasks();
  model.eval();
  for (const [task, d] of Object.entries(data)) await checkTask(model.taskPath(task), d.test.slice(0, 48), `base, ${task}`);
});
