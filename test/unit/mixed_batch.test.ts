// Mixed-task batches (src/model/mixed_batch.ts): rows of many tasks in one forward pass answer
// exactly what each task's own predict answers, while a component shared by several paths runs
// once over all their rows. Models are built in code (random weights: the predictions are
// arbitrary but fixed) in every layout a folder can hold: pre-LN dense with paths of different
// depth, cloned blocks and adapters; post-LN (BERT's, no final norm); SkillNet skill blocks; a
// dropless Switch layer.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/index.js';
import { DEFAULT_ENCODER, TransformerEncoder, type EncoderConfig } from '../../src/nn/index.js';
import { DEFAULT_SWITCH, sparseFfnFactory, type SparseConfig } from '../../src/sparse/index.js';
import { Tokenizer } from '../../src/data/tokenizer/index.js';
import { TaskModel, defaultHParams, type ComponentRun, type MixedRequest, type Path, type TaskSpec } from '../../src/model/index.js';
import type { Example } from '../../src/tasks/task.js';
import { assertDeepClose, describeEachBackend } from '../helpers.js';

const WORDS = 'the a film was good bad lovely awful story plot actor music long short fun dull great poor ending scene and of it'.split(' ');
const rng = new Rng(11);
const sentence = (n: number) => Array.from({ length: n }, () => WORDS[Math.floor(rng.uniform() * WORDS.length)]).join(' ');
const tok = Tokenizer.train(
  Array.from({ length: 200 }, (_, i) => sentence(3 + (i % 17))),
  { vocabSize: 300 },
);

const SPECS: TaskSpec[] = [
  { name: 'cls', type: 'classification', labels: ['neg', 'pos', 'mixed'], pooling: 'mean' },
  { name: 'clsCls', type: 'classification', labels: ['a', 'b'], pooling: 'cls' },
  { name: 'pair', type: 'pair_classification', labels: ['same', 'different'], pooling: 'mean' },
  { name: 'tag', type: 'tagging', labels: ['O', 'B-X', 'I-X', 'B-Y', 'I-Y'] },
  { name: 'reg', type: 'regression', labels: [], pooling: 'mean' },
];

/** A model of the layout with one task per spec on the root, plus grown paths (dense layouts only). */
function build(o: { cfg?: Partial<EncoderConfig>; sparse?: SparseConfig; grow?: boolean }): TaskModel {
  const r = new Rng(3);
  const sparse: SparseConfig = o.sparse ?? { switch: null, skills: null };
  const cfg = { ...DEFAULT_ENCODER, vocabSize: tok.vocabSize, maxPositions: 40, dModel: 16, layers: 3, heads: 2, ffn: 32, initStd: 0.2, ...o.cfg };
  const model = TaskModel.fromEncoder(new TransformerEncoder(cfg, r, sparseFfnFactory(cfg, sparse, r)), tok, { sparse, rng: r, maxLen: 24 });
  for (const s of SPECS) model.addTask(s);
  if (o.grow) {
    const { store, root } = model;
    const head = (spec: TaskSpec) =>
      store.create(
        'head',
        { type: spec.type, dModel: cfg.dModel, classes: Math.max(1, spec.labels.length), dropout: 0.1, initStd: 0.2, pooling: spec.pooling ?? 'cls' },
        spec.name,
        r,
      ).id;
    const adapter = (task: string) => store.create('adapter', { dModel: cfg.dModel, size: 4, layerNormEps: 1e-5, initStd: 0.2 }, task, r).id;
    const randomise = (id: string) => {
      // A fresh adapter is the identity; give it weights so that it changes something.
      for (const [, p] of store.get(id).module.namedParameters()) for (let i = 0; i < p.size; i++) p.f32[i] = (r.uniform() - 0.5) * 0.4;
    };
    const path = (task: string, blocks: string[], adapters: (string | null)[]): Omit<Path, 'head'> => ({
      task,
      embeddings: root.embeddings,
      blocks,
      adapters,
      finalNorm: root.finalNorm,
      hparams: { ...defaultHParams(root.blocks.length), layers: blocks.length },
    });
    // Shallow: the first root block only. Deep: the root and a clone of its last block, with an
    // adapter before the clone. Cloned: the middle block cloned, an adapter before the first.
    const shallow: TaskSpec = { name: 'shallow', type: 'classification', labels: ['x', 'y'], pooling: 'mean' };
    model.addTaskPath(shallow, null, { ...path('shallow', [root.blocks[0]], [null]), head: head(shallow) });
    const deepSpec: TaskSpec = { name: 'deep', type: 'tagging', labels: ['O', 'B-Z', 'I-Z'] };
    const extra = store.clone(root.blocks[2], 'deep', r).id;
    const ad = adapter('deep');
    randomise(ad);
    model.addTaskPath(deepSpec, null, { ...path('deep', [...root.blocks, extra], [null, null, null, ad]), head: head(deepSpec) });
    const clonedSpec: TaskSpec = { name: 'cloned', type: 'classification', labels: ['p', 'q', 'r'], pooling: 'cls' };
    const mid = store.clone(root.blocks[1], 'cloned', r).id;
    for (const [, p] of store.get(mid).module.namedParameters()) for (let i = 0; i < p.size; i++) p.f32[i] += (r.uniform() - 0.5) * 0.1;
    const ad0 = adapter('cloned');
    randomise(ad0);
    model.addTaskPath(clonedSpec, null, { ...path('cloned', [root.blocks[0], mid, root.blocks[2]], [ad0, null, null]), head: head(clonedSpec) });
  }
  model.lockTasks();
  return model.eval();
}

/** Inputs of every task of the model, of varied lengths, interleaved. */
function requests(model: TaskModel, perTask: number): MixedRequest[] {
  const out: MixedRequest[] = [];
  for (let i = 0; i < perTask; i++) {
    for (const { spec } of model.tasks.values()) {
      const n = 1 + ((i * 7 + spec.name.length) % 30); // some past maxLen: truncated
      let input: string | Example = sentence(n);
      if (spec.type === 'pair_classification') input = { text: sentence(n), textPair: sentence(1 + (i % 5)) };
      else if (spec.type === 'tagging' && i % 2) input = { text: '', words: sentence(n).split(' ') };
      if (spec.type === 'tagging' && typeof input !== 'string') input.text = input.words!.join(' ');
      out.push({ task: spec.name, input });
    }
  }
  return out;
}

/** What each task's own predict answers for each request, in request order. */
async function oneByOne(model: TaskModel, reqs: readonly MixedRequest[]) {
  const out = new Array(reqs.length);
  for (const task of model.tasks.keys()) {
    const idx = [...reqs.keys()].filter((i) => reqs[i].task === task);
    const preds = await model.predict(
      task,
      idx.map((i) => reqs[i].input),
    );
    idx.forEach((i, k) => (out[i] = preds[k]));
  }
  return out;
}

const LAYOUTS: [string, Parameters<typeof build>[0]][] = [
  ['pre-LN dense, with shallow, deep, cloned and adapter paths', { grow: true }],
  ['post-LN (BERT layout: no final norm), with grown paths', { cfg: { normPlacement: 'post' }, grow: true }],
  [
    'SkillNet skill blocks',
    {
      sparse: {
        switch: null,
        skills: {
          skills: ['general', 'sentence', 'token'],
          generic: 'general',
          table: { cls: ['sentence'], tag: ['token', 'general'], reg: ['general', 'sentence'] },
          layers: [1, 2],
        },
      },
    },
  ],
  ['dropless Switch layers', { sparse: { switch: { ...DEFAULT_SWITCH, experts: 4, every: 1, jitter: 0, evalCapacityFactor: null }, skills: null } }],
];

describeEachBackend('mixed-task batches equal predict', (backend) => {
  // The TypeScript kernels compute each row of a product the same way whatever the batch, so
  // predict's answers do not depend on the batch and a mixed batch's are bit for bit the same.
  // OpenBLAS's GEMM rounds a row differently with the number of rows (predict itself answers an
  // input alone and in a batch of others a few ulps apart), so there they agree within 1e-5.
  const tol = backend === 'ts' ? 0 : 1e-5;
  for (const [name, layout] of LAYOUTS) {
    it(`${name}: every row's prediction is its task's predict (${tol === 0 ? 'bit for bit' : `within ${tol}`})`, async (t) => {
      const model = build(layout);
      const reqs = requests(model, 9);
      const expected = await oneByOne(model, reqs);
      for (const batchSize of [64, 7, 1]) {
        const got = await model.predictMixed(reqs, { batchSize });
        assert.equal(got.length, reqs.length);
        const worst = Math.max(...got.map((p, i) => assertDeepClose(p, expected[i], tol, `${name}, batchSize ${batchSize}, request ${i} (${reqs[i].task})`)));
        t.diagnostic(`batchSize ${batchSize}: largest difference ${worst}`);
      }
    });
  }
});

describe('mixed-task batches', () => {
  it('a shared component runs once per batch over all its rows; rows split only where paths part', async () => {
    const model = build({ grow: true });
    const reqs = requests(model, 2);
    const runs: ComponentRun[] = [];
    await model.predictMixed(reqs, { onRun: (r) => runs.push(r) });
    const { root } = model;
    const rowsOf = (task: string) => [...reqs.keys()].filter((i) => reqs[i].task === task);
    const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
    const ran = (kind: ComponentRun['kind'], id: string, slot: number | null = null) =>
      runs.filter((r) => r.kind === kind && r.id === id && r.slot === slot).map((r) => sorted(r.rows));
    const all = [...reqs.keys()];
    const except = (...tasks: string[]) => all.filter((i) => !tasks.includes(reqs[i].task));
    // The embeddings, the first root block and the final norm: once, over every row.
    assert.deepEqual(ran('embeddings', root.embeddings), [all]);
    assert.deepEqual(ran('block', root.blocks[0], 0), [all]);
    assert.deepEqual(ran('final_norm', root.finalNorm!), [all]);
    // The middle slot: the root block for every row but the cloned path's and the shallow path's
    // (which has left the stack), the clone for the cloned path's rows.
    const mid = model.task('cloned').path.blocks[1];
    assert.deepEqual(ran('block', root.blocks[1], 1), [except('cloned', 'shallow')]);
    assert.deepEqual(ran('block', mid, 1), [rowsOf('cloned')]);
    assert.deepEqual(ran('block', root.blocks[2], 2), [except('shallow')]);
    // The deep path's fourth slot: its adapter, then its block, on its rows alone.
    const deep = model.task('deep').path;
    assert.deepEqual(ran('adapter', deep.adapters[3]!, 3), [rowsOf('deep')]);
    assert.deepEqual(ran('block', deep.blocks[3], 3), [rowsOf('deep')]);
    assert.deepEqual(ran('adapter', model.task('cloned').path.adapters[0]!, 0), [rowsOf('cloned')]);
    // Each head once, on its task's rows.
    for (const [task, t] of model.tasks) assert.deepEqual(ran('head', t.path.head), [rowsOf(task)]);
    // Nothing else ran: 1 embeddings + blocks (1 + 2 + 1 + 1) + 2 adapters + 1 norm + a head per task.
    assert.equal(runs.length, 1 + 5 + 2 + 1 + model.tasks.size);
  });

  it('skill blocks: rows share a skill block when they activate the same skills of it', async () => {
    const model = build(LAYOUTS[2][1]);
    const reqs = requests(model, 1);
    const runs: ComponentRun[] = [];
    await model.predictMixed(reqs, { onRun: (r) => runs.push(r) });
    const groups = (slot: number) =>
      runs
        .filter((r) => r.kind === 'block' && r.slot === slot)
        .map((r) => [...new Set(r.rows.map((i) => reqs[i].task))].sort().join('+'))
        .sort();
    // Slot 0 is dense: one run over every row. Slots 1 and 2 are skill blocks: one run per
    // distinct skill list (the generic skill first, then the task's row: cls and reg both run
    // general, sentence; tag general, token; clsCls and pair, absent from the table, general).
    assert.deepEqual(groups(0), ['cls+clsCls+pair+reg+tag']);
    for (const slot of [1, 2]) assert.deepEqual(groups(slot), ['cls+reg', 'clsCls+pair', 'tag']);
  });

  it('an unknown task is refused before anything runs, naming it', async () => {
    const model = build({});
    await assert.rejects(
      model.predictMixed([
        { task: 'cls', input: 'a film' },
        { task: 'nope', input: 'x' },
      ]),
      /unknown task "nope"/,
    );
  });
});
