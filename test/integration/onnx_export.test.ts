// Exported ONNX graphs against Pathwise's own forward pass, in onnxruntime-web (wasm, in Node):
// every task of every model layout (dense with grown paths and adapters, post-LN, SkillNet skills,
// Switch layers with and without capacity drops), an image task, and the pretrained base with
// heads on real test sentences (sent with its n-gram bag and Naive Bayes prior, pos, wic). Logits
// must agree within 1e-4.

import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inference, Rng } from '../../src/engine/index.js';
import { quantizeModel } from '../../src/compress/index.js';
import { loadModel } from '../../src/model/index.js';
import { Int8Weights, exportFeeds } from '../../src/export/index.js';
import { CLI, cliSync, makeFolders } from '../cli_folders.js';
import { DEFAULT_SWITCH, SwitchFFN } from '../../src/sparse/index.js';
import { TaskModel, headConfigFor, inLayout, loadPretrained, specOf, type TaskPath, type TaskSpec } from '../../src/model/index.js';
import { NaiveBayesPrior } from '../../src/tasks/naive_bayes_prior.js';
import { loadBuiltinTask } from '../../src/tasks/builtin/index.js';
import type { Example } from '../../src/tasks/task.js';
import { taskGraph } from '../../src/export/index.js';
import { LAYOUTS, build, requests } from '../mixed_models.js';
import { ROOT } from '../helpers.js';
import { argmaxAgreement, bothLogits, maxAbsDiff, ortFeeds, ortSession } from '../onnx_helpers.js';

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
    // int8: the graph of the quantized model against Pathwise's int8 inference of it.
    const q = build(layout);
    quantizeModel(q);
    for (const task of q.tasks.keys()) {
      const path = q.taskPath(task);
      const { ours, theirs, classes } = await bothLogits(path, examplesOf(q, task), taskGraph(path, new Int8Weights()).graph.serialize());
      const agree = argmaxAgreement(ours, theirs, classes);
      assert.ok(classes === 1 || agree >= 0.995, `${name}, ${task} int8: argmax agreement ${agree}`);
      assert.ok(maxAbsDiff(ours, theirs) < 0.05, `${name}, ${task} int8: max |ONNX - Pathwise| = ${maxAbsDiff(ours, theirs)}`);
    }
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

// Without convolutions: 5-pixel patches 2 apart. With them: a 3×3 convolution, a strided one (12×10
// -> 6×5), and 2-pixel patches 1 apart of that map.
const convStem = {
  patch: 2,
  stride: 1,
  conv: [
    { kernel: 3, channels: 6 },
    { kernel: 3, channels: 5, stride: 2 },
  ],
};
for (const conv of [null, convStem]) {
  test(`ONNX export: an image task (non-square RGB, overlapping patches${conv ? ', convolutions first' : ''}) reads raw pixels [batch, channels, height, width]`, async () => {
    const model = build({});
    const r = new Rng(9);
    const spec: TaskSpec = { name: 'img', type: 'image_classification', labels: ['a', 'b', 'c'], image: { width: 12, height: 10, channels: 3, flips: false } };
    const stem = model.store.create(
      'image_stem',
      { width: 12, height: 10, channels: 3, patch: 5, stride: 2, dModel: 16, initStd: 0.2, dropout: 0.1, ...(conv ?? {}) },
      'img',
      r,
    );
    const head = model.store.create('head', headConfigFor(spec, { dModel: 16, initStd: 0.2 }), 'img', r);
    model.addTaskPath(spec, null, { ...model.rootPath('img'), embeddings: stem.id, head: head.id });
    const exs: Example[] = Array.from({ length: 40 }, () => ({
      text: '',
      image: { width: 12, height: 10, channels: 3, pixels: Uint8Array.from({ length: 360 }, () => r.int(256)) },
    }));
    await checkTask(model.taskPath('img'), exs, 'img');
    // int8: the stem's convolution stays float32 on the dequantized weights (Pathwise quantizes each
    // patch's pixels apart, which one convolution over shared pixels cannot); the blocks are int8.
    quantizeModel(model);
    const path = model.taskPath('img');
    const { ours, theirs, classes } = await bothLogits(path, exs, taskGraph(path, new Int8Weights()).graph.serialize());
    const agree = argmaxAgreement(ours, theirs, classes);
    assert.ok(agree >= 0.995, `img int8: argmax agreement ${agree}`);
    assert.ok(maxAbsDiff(ours, theirs) < 0.05, `img int8: max |ONNX - Pathwise| = ${maxAbsDiff(ours, theirs)}`);
  });
}

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

/** The ONNX project's checker (Debian's python3-onnx, which scripts/setup.sh installs) on each file. */
function onnxChecker(files: string[]): void {
  const r = spawnSync('/usr/bin/python3', [join(ROOT, 'tools', 'check_onnx.py'), ...files], { encoding: 'utf8' });
  assert.notEqual(r.status, 2, `tools/check_onnx.py: ${r.stdout}${r.stderr} (scripts/setup.sh installs python3-onnx)`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { results: { file: string; ok: boolean; error?: string; opset: Record<string, number> }[] };
  for (const x of out.results) {
    assert.ok(x.ok, `ONNX checker on ${x.file}: ${x.error}`);
    assert.ok(x.opset['ai.onnx'] >= 17, `${x.file}: opset ${x.opset['ai.onnx']}`);
  }
  assert.equal(out.results.length, files.length);
}

test('pathwise export --format onnx --int8: the transformers.js layout per task; fp32 graphs within 1e-4, int8 graphs agree with Pathwise int8 on >= 99.5% of argmaxes; the ONNX checker passes', async () => {
  const root = mkdtempSync(join(tmpdir(), 'pathwise-onnx-'));
  try {
    const { grown } = makeFolders(root);
    const out = join(root, 'onnx');
    cliSync(root, 'export', grown, '--format', 'onnx', '--out', out, '--int8');
    const model = loadModel(grown);
    const int8 = loadModel(grown);
    quantizeModel(int8);
    int8.eval();
    const tasks = [...model.tasks.keys()];
    assert.deepEqual(readdirSync(out).sort(), [...tasks].sort());
    const graphs: string[] = [];
    for (const task of tasks) {
      const dir = join(out, task);
      for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx', 'onnx/model_quantized.onnx'])
        assert.ok(existsSync(join(dir, f)), `${task}/${f}`);
      graphs.push(join(dir, 'onnx', 'model.onnx'), join(dir, 'onnx', 'model_quantized.onnx'));
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      const spec = model.tasks.get(task)!.spec;
      assert.equal(config.model_type, 'bert');
      assert.equal(config.architectures[0], spec.type === 'tagging' ? 'BertForTokenClassification' : 'BertForSequenceClassification');
      assert.deepEqual(Object.values(config.id2label), spec.labels);
      assert.equal(config.pathwise.task, task);
      // The tokenizer is the model's own.
      assert.equal(readFileSync(join(dir, 'tokenizer.json'), 'utf8'), model.tokenizer.toJsonString());
      const path = model.taskPath(task);
      const exs = examplesOf(model, task).slice(0, 16);
      const both = await bothLogits(path, exs, readFileSync(join(dir, 'onnx', 'model.onnx')));
      assert.ok(maxAbsDiff(both.ours, both.theirs) <= TOL, `${task} fp32: ${maxAbsDiff(both.ours, both.theirs)}`);
      // int8: the quantized graph against Pathwise's int8 inference of the same quantized weights.
      const qpath = int8.taskPath(task);
      const session = await ortSession(readFileSync(join(dir, 'onnx', 'model_quantized.onnx')));
      const got = (await session.run(ortFeeds(await exportFeeds(qpath, exs)))).logits.data as Float32Array;
      await session.release();
      const batch = await qpath.encode(exs, false);
      const ours = inference(() => qpath.logits(batch)).f32;
      const C = spec.type === 'regression' ? 1 : spec.labels.length;
      const theirs =
        spec.type === 'tagging' ? Float32Array.from(Array.from(batch.rows!.i32).flatMap((r) => Array.from(got.subarray(r * C, (r + 1) * C)))) : got;
      const agree = argmaxAgreement(ours, theirs, C);
      assert.ok(agree >= 0.995, `${task} int8: argmax agreement ${agree}`);
      assert.ok(maxAbsDiff(ours, theirs) < 0.05, `${task} int8: max |ONNX - Pathwise| = ${maxAbsDiff(ours, theirs)}`);
    }
    onnxChecker(graphs);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('pathwise export --format onnx refuses bad input with a clear error and writes nothing', () => {
  const root = mkdtempSync(join(tmpdir(), 'pathwise-onnx-bad-'));
  try {
    const { run } = makeFolders(root);
    const out = join(root, 'out');
    const fail = (args: string[], re: RegExp) => {
      const r = spawnSync(process.execPath, [CLI, 'export', ...args], { cwd: root, encoding: 'utf8' });
      assert.equal(r.status, 2, `pathwise export ${args.join(' ')}: exit ${r.status}, ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.ok(!existsSync(out), 'nothing written');
    };
    fail([run, '--format', 'onnx', '--out', out, '--task', 'toy,nope'], /--task nope: .* has no task "nope" \(it has toy, tags\)/);
    fail([run, '--format', 'tflite', '--out', out], /--format must be safetensors or onnx, got tflite/);
    fail([run, '--format', 'onnx', '--out', out, '--dtype', 'f16'], /--dtype is for --format safetensors/);
    fail([run, '--out', out, '--int8'], /--task and --int8 are for --format onnx/);
    fail([join(ROOT, 'models', 'base'), '--format', 'onnx', '--out', out], /a base folder has no tasks to export/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
