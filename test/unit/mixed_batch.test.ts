// Mixed-task batches (src/model/mixed_batch.ts): rows of many tasks in one forward pass answer
// exactly what each task's own predict answers, while a component shared by several paths runs
// once over all their rows. Models are built in code (random weights: the predictions are
// arbitrary but fixed) in every layout a folder can hold: pre-LN dense with paths of different
// depth, cloned blocks and adapters; post-LN (BERT's, no final norm); SkillNet skill blocks; a
// dropless Switch layer.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ComponentRun } from '../../src/model/index.js';
import { assertDeepClose, describeEachBackend } from '../helpers.js';
import { LAYOUTS, build, oneByOne, requests } from '../mixed_models.js';

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
    // The embeddings: once for every row but the low-rank path's, once with that path's update of
    // the word table on its rows. The final norm: once, over every row. The first root block: once
    // for every row but the low-rank path's, once with that path's update on its rows.
    assert.deepEqual(
      ran('embeddings', root.embeddings).sort((a, b) => a.length - b.length),
      [rowsOf('lowrank'), except('lowrank')],
    );
    assert.deepEqual(
      ran('block', root.blocks[0], 0).sort((a, b) => a.length - b.length),
      [rowsOf('lowrank'), except('lowrank')],
    );
    assert.deepEqual(ran('final_norm', root.finalNorm!), [all]);
    // The middle slot: the root block for every row but the cloned path's and the shallow path's
    // (which has left the stack), the clone for the cloned path's rows.
    const mid = model.task('cloned').path.blocks[1];
    assert.deepEqual(ran('block', root.blocks[1], 1), [except('cloned', 'shallow')]);
    assert.deepEqual(ran('block', mid, 1), [rowsOf('cloned')]);
    // The last slot: the root block for every row but the shallow path's and the deep path's, the
    // low-rank path's rows apart (its update of that block); the deep path's adapter, then its
    // clone of that block, on its rows alone.
    const deep = model.task('deep').path;
    assert.deepEqual(
      ran('block', root.blocks[2], 2).sort((a, b) => a.length - b.length),
      [rowsOf('lowrank'), except('shallow', 'deep', 'lowrank')],
    );
    assert.deepEqual(ran('adapter', deep.adapters[2]!, 2), [rowsOf('deep')]);
    assert.deepEqual(ran('block', deep.blocks[2], 2), [rowsOf('deep')]);
    assert.deepEqual(ran('adapter', model.task('cloned').path.adapters[0]!, 0), [rowsOf('cloned')]);
    // Each head once, on its task's rows.
    for (const [task, t] of model.tasks) assert.deepEqual(ran('head', t.path.head), [rowsOf(task)]);
    // Nothing else ran: 2 embeddings + blocks (2 + 2 + 3) + 2 adapters + 1 norm + a head per task.
    assert.equal(runs.length, 2 + 7 + 2 + 1 + model.tasks.size);
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
    // general, sentence; tag general, token; the others, absent from the table, general).
    assert.deepEqual(groups(0), ['cls+clsCls+lex+lexPair+pair+reg+tag']);
    for (const slot of [1, 2]) assert.deepEqual(groups(slot), ['cls+reg', 'clsCls+lex+lexPair+pair', 'tag']);
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
