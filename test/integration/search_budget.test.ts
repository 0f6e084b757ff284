// μ2Net's search as issue 17 asks for it: a child trained until its dev score stops rising
// (patience), handed back with its best evaluation's weights; a per-task compute bound the search
// reports; generations without improvement that stop it; lexical heads and Naive Bayes priors on
// searched paths.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Rng } from '../../src/engine/index.js';
import { searchTask, trainPath, type EvalProgress } from '../../src/evolve/index.js';
import { loadModel, pathComponents, saveModel, specOf } from '../../src/model/index.js';
import { loadBuiltinTask } from '../../src/tasks/builtin/index.js';
import { sampleExamples, subsample } from '../../src/tasks/task.js';
import { NaiveBayesPrior } from '../../src/tasks/naive_bayes_prior.js';
import { build } from '../mixed_models.js';

const sent = subsample(loadBuiltinTask('sent'), { train: 400, dev: 60, test: 60 });
/** How the trainPath tests train a new head on sent, evaluating dev every 5 steps. */
const HEAD_TRAINING = { batchSize: 16, lr: 3e-3, warmupRatio: 0, weightDecay: 0, clipNorm: 1, seed: 2, evalEvery: 5 };

describe('the search: patience, a compute bound, generations', () => {
  it('patience: a child stops after its dev score stops rising, at an evaluation, holding the weights of its best one', async () => {
    const system = build({});
    const spec = specOf(sent);
    const head = system.store.create(
      'head',
      { type: spec.type, dModel: 16, classes: 2, dropout: 0.1, initStd: 0.2, pooling: 'mean', lexical: { buckets: 251, dim: 4, ngrams: 2 } },
      sent.name,
      new Rng(1),
    );
    const path = { ...system.rootPath(sent.name), head: head.id };
    const model = system.pathModel({ ...spec, lexical: { buckets: 251, dim: 4, ngrams: 2 } }, path).eval();
    const evals: EvalProgress[] = [];
    const r = await trainPath(
      model,
      [head],
      sent.train,
      { ...HEAD_TRAINING, steps: 2000, patience: 2, lexicalLrScale: 20, onEval: (e) => evals.push(e) },
      sent.dev,
    );
    assert.ok(r.steps < 2000 && r.steps % 5 === 0, `stopped at step ${r.steps}`);
    // Every evaluation was reported, the one that stopped the child last; each names the best so
    // far and its step, and the last two did not beat it (patience 2).
    assert.deepEqual(
      evals.map((e) => e.step),
      Array.from({ length: r.steps / 5 }, (_, i) => 5 * (i + 1)),
    );
    let best = evals[0];
    for (const e of evals) {
      if (e.dev.score > best.dev.score) best = e;
      assert.deepEqual([e.steps, e.best, e.bestStep, e.decaying], [2000, best.dev, best.step, false]);
    }
    assert.equal(best.step, r.steps - 10);
    assert.deepEqual(r.dev, best.dev);
    assert.ok(r.dev !== null);
    // The weights it holds are its best evaluation's: scoring them again gives that score exactly.
    assert.deepEqual(await model.evaluate(sent.dev), r.dev);
  });

  it("cooldown: the rate holds until dev stops rising, then decays to 0 over its share of the steps, and the child stops at the decay's end", async () => {
    const run = async (steps: number, patience: number) => {
      const system = build({});
      const spec = specOf(sent);
      const head = system.store.create('head', { type: spec.type, dModel: 16, classes: 2, dropout: 0.1, initStd: 0.2, pooling: 'mean' }, sent.name, new Rng(1));
      const model = system.pathModel(spec, { ...system.rootPath(sent.name), head: head.id }).eval();
      const lrs: number[] = [];
      const evals: EvalProgress[] = [];
      const r = await trainPath(
        model,
        [head],
        sent.train,
        {
          ...HEAD_TRAINING,
          steps,
          patience,
          cooldown: 0.1,
          onStep: (m) => lrs.push(m.lr),
          onEval: (e) => evals.push(e),
        },
        sent.dev,
      );
      assert.equal(lrs.length, r.steps);
      // Evaluations report the decay from the one that starts it (or reaches the planned start) on.
      const from = r.steps - Math.round(0.1 * steps);
      for (const e of evals) assert.equal(e.decaying, e.step >= from, `step ${e.step}: decay from ${from}`);
      assert.equal(evals.at(-1)!.step, r.steps);
      assert.deepEqual(await model.evaluate(sent.dev), r.dev, "the weights held are the best evaluation's");
      return { r, lrs };
    };
    // The rate's profile: the peak up to the decay's start, then 1 - i / decaySteps of it.
    const profile = (n: number, from: number, decay: number) =>
      Array.from({ length: n }, (_, j) => 3e-3 * (j < from ? 1 : Math.max(0, 1 - (j - from) / decay)));
    // Dev stops rising long before the last step: the decay (200 steps) starts at that
    // evaluation, and the child trains exactly 200 steps more.
    const early = await run(2000, 2);
    const from = early.r.steps - 200;
    assert.ok(from > 0 && from < 1800 && from % 5 === 0, `decay from step ${from}`);
    assert.deepEqual(early.lrs, profile(early.r.steps, from, 200));
    // Dev never stalls for long enough (patience far beyond the run): the decay is the last 10%.
    const late = await run(100, 1000);
    assert.equal(late.r.steps, 100);
    assert.deepEqual(late.lrs, profile(100, 90, 10));
  });

  it("reports each child's dev evaluations as they come, trained in process or in worker threads", async () => {
    for (const parallel of [1, 2]) {
      const lines: string[] = [];
      const res = await searchTask(
        build({}),
        sent,
        { builtin: 'sent' },
        { children: 2, steps: 10, patience: 50, evalEvery: 5, batchSize: 8, seed: 1, parallel, log: (l) => lines.push(l) },
      );
      // Two workers' lines interleave; each child's own come in order (the sort is stable).
      const evals = lines.filter((l) => /^child \d+: step/.test(l)).sort((a, b) => parseInt(a.slice(6), 10) - parseInt(b.slice(6), 10));
      assert.deepEqual(
        evals.map((l) => l.slice(0, l.indexOf(', dev'))),
        ['child 0: step 5/10', 'child 0: step 10/10', 'child 1: step 5/10', 'child 1: step 10/10'],
        `parallel ${parallel}`,
      );
      // Each child's last line names the best evaluation: the dev score the search then ranks it by.
      for (const c of res.candidates) {
        const last = evals.filter((l) => l.startsWith(`child ${c.index}:`)).at(-1)!;
        assert.match(last, new RegExp(`\\(best ${c.dev.score.toFixed(4)} at step (5|10)\\)$`), `parallel ${parallel}`);
      }
    }
  });

  it('stops when the compute bound is spent, never past it, and reports the steps it spent', async () => {
    const system = build({});
    const res = await searchTask(system, sent, { builtin: 'sent' }, { children: 5, steps: 20, budget: 30, batchSize: 8, seed: 1 });
    assert.equal(res.stopped, 'budget');
    assert.equal(res.candidates.length, 2);
    assert.equal(res.generations, 2);
    // The second child gets what is left of the bound, not a whole child's steps.
    assert.equal(res.stepsSpent, 30);
    assert.deepEqual(
      res.candidates.map((c) => c.steps),
      [20, 10],
    );
    // Children trained two at a time share what is left: 25 steps go as 10+10, then 2+2, then a
    // round of the one child that 1 step pays for.
    const par = await searchTask(build({}), sent, { builtin: 'sent' }, { children: 6, steps: 10, budget: 25, batchSize: 8, seed: 1, parallel: 2 });
    assert.equal(par.stepsSpent, 25);
    assert.equal(par.generations, 3);
    assert.deepEqual(
      par.candidates.map((c) => c.steps),
      [10, 10, 2, 2, 1],
    );
  });

  it('stops after stopAfter generations without a better child; the kept path has the best score of all', async () => {
    const system = build({});
    const res = await searchTask(system, sent, { builtin: 'sent' }, { children: 12, steps: 5, stopAfter: 1, batchSize: 8, seed: 3 });
    const scores = res.candidates.map((c) => c.score);
    if (res.stopped === 'no improvement') {
      // The last generation (one child at parallel 1) found nothing better than what came before it.
      assert.ok(scores[scores.length - 1] <= Math.max(...scores.slice(0, -1)));
      assert.ok(res.candidates.length < 12);
    } else assert.equal(res.candidates.length, 12);
    assert.equal(res.best.score, Math.max(...scores));
    assert.equal(res.stepsSpent, 5 * res.candidates.length);
  });

  it('maxAdded: no child adds more than that fraction of a fine-tuned copy of its path; a cap no child can meet is an error naming it', async () => {
    const o = { children: 6, steps: 5, batchSize: 8, seed: 4 };
    const free = await searchTask(build({}), sent, { builtin: 'sent' }, o);
    const fractions = free.candidates.map((c) => c.added / c.copy);
    const [lo, hi] = [Math.min(...fractions), Math.max(...fractions)];
    assert.ok(hi > lo, `the uncapped children all add the same fraction (${lo}); the cap would test nothing`);
    const cap = (lo + hi) / 2;
    const system = build({});
    const capped = await searchTask(system, sent, { builtin: 'sent' }, { ...o, maxAdded: cap });
    assert.equal(capped.candidates.length, 6);
    for (const c of capped.candidates) assert.ok(c.added <= cap * c.copy, `child ${c.index}: ${c.added} of ${c.copy} over the cap ${cap}`);
    // A fine-tuned copy holds what the path activates but its adapters and low-rank updates.
    const kept = capped.best.path;
    const updates = pathComponents(kept).filter((id) => ['adapter', 'lora', 'embedding_lora'].includes(system.store.get(id).kind));
    assert.ok(updates.length > 0, 'the kept path has no adapter or update: the subtraction is not tested');
    assert.equal(capped.best.copy, capped.best.activated - system.store.numParameters(updates));
    await assert.rejects(
      searchTask(build({}), sent, { builtin: 'sent' }, { ...o, maxAdded: lo / 2 }),
      /task "sent": 11 children drawn from .* each add more than maxAdded .* of a fine-tuned copy of their path .* raise maxAdded/,
    );
  });

  it('maxAdded with naiveBayesPrior: the children may use the whole cap; the kept path gets its prior only where the two fit under it together', async () => {
    const o = { children: 4, steps: 5, batchSize: 8, seed: 4 };
    const P = NaiveBayesPrior.count(sent.train, sent.labels).size;
    const free = await searchTask(build({}), sent, { builtin: 'sent' }, o);
    const without = free.candidates.map((c) => c.added / c.copy);
    const withPrior = free.candidates.map((c) => (c.added + P) / (c.copy + P));
    // A cap every child meets on its components alone, and none with the prior beside them.
    assert.ok(Math.max(...without) < Math.min(...withPrior), `no cap separates ${without} from ${withPrior}`);
    const cap = (Math.max(...without) + Math.min(...withPrior)) / 2;
    const plain = await searchTask(build({}), sent, { builtin: 'sent' }, { ...o, maxAdded: cap });
    const tight = build({});
    const r = await searchTask(tight, sent, { builtin: 'sent' }, { ...o, maxAdded: cap, naiveBayesPrior: true });
    // The prior reserves nothing: the same children are drawn and trained as without it ...
    assert.deepEqual(
      r.candidates.map((c) => [c.added, c.dev.score, c.trainLoss]),
      plain.candidates.map((c) => [c.added, c.dev.score, c.trainLoss]),
    );
    // ... and the kept path, which has no room left for it, gets none.
    assert.equal(r.prior, undefined);
    assert.equal(tight.taskPath('sent').head.prior, null);
    // With room for it, the prior is fitted, and the kept path and its prior stay within the cap together.
    const roomy = Math.max(...withPrior);
    const fits = await searchTask(build({}), sent, { builtin: 'sent' }, { ...o, maxAdded: roomy, naiveBayesPrior: true });
    assert.ok(fits.prior !== undefined, 'a prior that fits was not fitted');
    assert.ok(fits.best.added + P <= roomy * (fits.best.copy + P), 'the kept path and its prior exceed the cap');
  });

  it('lexical: a searched path of a sequence task gets a head with an n-gram bag, saved and loaded alike', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-search-lex-'));
    try {
      const system = build({ grow: true });
      const lexical = { buckets: 509, dim: 4, ngrams: 2 };
      await searchTask(system, sent, { builtin: 'sent' }, { children: 2, steps: 10, batchSize: 8, seed: 0, lexical, patience: 1, evalEvery: 5 });
      const t = system.tasks.get('sent')!;
      assert.deepEqual(t.spec.lexical, lexical);
      assert.deepEqual(system.store.get(t.path.head, 'head').config.lexical, lexical);
      saveModel(dir, system);
      const again = loadModel(dir);
      const inputs = sent.test.slice(0, 20).map((e) => e.text);
      assert.deepEqual(await again.predict('sent', inputs), await system.predict('sent', inputs));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("loraRank: the first children get low-rank updates of that rank on the frozen blocks they reuse; a later child trains its parent's copies; earlier logits stay, the folder keeps them", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-search-lora-'));
    try {
      const system = build({});
      const inputs = sent.test.slice(0, 20).map((e) => e.text);
      const before = await system.predict('cls', inputs);
      const res = await searchTask(system, sent, { builtin: 'sent' }, { children: 3, steps: 10, batchSize: 8, seed: 0, loraRank: 4 });
      const first = res.candidates[0];
      assert.match(first.parent, /^task:/);
      // The first child: an update of rank 4 on every block it reuses frozen (the root's), none on
      // one it cloned.
      const reused = first.path.blocks.flatMap((b, i) => (system.root.blocks.includes(b) ? [i] : []));
      assert.ok(reused.length > 0);
      const made = first.notes.flatMap((n) => /^lora lora\d+ \(rank 4\) on block (\d+)$/.exec(n)?.[1] ?? []).map(Number);
      assert.deepEqual(made, reused, first.notes.join('; '));
      // A child of a candidate of this task: its updates are copies of its parent's.
      const later = res.candidates.find((c) => c.parent.startsWith('child '));
      assert.ok(later, 'a child of a candidate');
      assert.ok(
        later.notes.some((n) => n.startsWith('lora: copy of ')),
        later.notes.join('; '),
      );
      assert.deepEqual(await system.predict('cls', inputs), before);
      saveModel(dir, system);
      assert.deepEqual(await loadModel(dir).predict('sent', inputs), await system.predict('sent', inputs));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('evalExamples: children are scored on a sample across the dev split, not on its first examples (a split in label order)', async () => {
    const byLabel = { ...sent, dev: [...sent.dev].sort((a, b) => String(a.label).localeCompare(String(b.label))) };
    // As many as the first label has: the split's first n examples are all of that label.
    const n = byLabel.dev.filter((e) => e.label === byLabel.dev[0].label).length;
    assert.ok(n >= 10 && n < byLabel.dev.length, `${n} of ${byLabel.dev.length}`);
    const o = { children: 1, steps: 6, batchSize: 8, seed: 5, evalExamples: n };
    const system = build({});
    const res = await searchTask(system, byLabel, { builtin: 'sent' }, o);
    const sample = sampleExamples(byLabel.dev, n, 5);
    assert.equal(new Set(sample.map((e) => e.label)).size, 2, 'the sample holds both labels');
    // The kept child's dev score is its score on that sample (no prior: nothing changes its logits after).
    assert.deepEqual(res.best.dev, await system.taskPath('sent').evaluate(sample));
  });

  it("lrs: the children of other tasks' paths take the rates in turn, same-task children inherit theirs, and every draw is the search's without them", async () => {
    const o = { children: 4, steps: 6, batchSize: 8, seed: 3, parallel: 2 };
    const plain = await searchTask(build({}), sent, { builtin: 'sent' }, o);
    const swept = await searchTask(build({}), sent, { builtin: 'sent' }, { ...o, lrs: [5e-4, 2e-3] });
    const fromOthers = swept.candidates.filter((c) => !c.parent.startsWith('child '));
    assert.ok(fromOthers.length >= 2, swept.candidates.map((c) => c.parent).join(', '));
    assert.deepEqual(
      fromOthers.map((c) => c.path.hparams.lr),
      fromOthers.map((_, i) => [5e-4, 2e-3][i % 2]),
    );
    // A same-task child starts from its parent's rate, the swept one (then mutated with
    // probability mu, as any child's hyperparameters are).
    for (const c of swept.candidates.filter((x) => x.parent.startsWith('child '))) {
      const parent = swept.candidates[Number(c.parent.slice(6))];
      const moved = c.notes.some((n) => n.startsWith('lr '));
      if (!moved) assert.equal(c.path.hparams.lr, parent.path.hparams.lr, c.notes.join('; '));
    }
    // The rate is set after the draws: the first round (drawn before any score exists) has the
    // same parents, paths and other hyperparameters as the search without it; only the rates, and
    // so the trained weights and the scores that later rounds' parent choices follow, differ.
    const firstRound = (r: typeof plain) =>
      r.candidates.slice(0, 2).map((c) => [c.parent, c.path.blocks, c.path.adapters, c.path.embeddings, { ...c.path.hparams, lr: 0 }]);
    assert.deepEqual(firstRound(swept), firstRound(plain));
  });

  it("naiveBayesPrior: the new head gets a prior weighted on dev, earlier tasks' logits do not move, and the folder keeps it", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-search-prior-'));
    try {
      const system = build({ grow: true });
      const inputs = ['the film was good', 'awful plot and a long dull ending'];
      const earlier = new Map<string, string>();
      const single = [...system.tasks.values()].filter((t) => t.spec.type === 'classification' || t.spec.type === 'regression').map((t) => t.spec.name);
      for (const name of single) earlier.set(name, Buffer.from(await system.taskPath(name).logitsOf(inputs.map((text) => ({ text })))).toString('base64'));
      const res = await searchTask(system, sent, { builtin: 'sent' }, { children: 2, steps: 10, batchSize: 8, seed: 0, naiveBayesPrior: true });
      const prior = system.taskPath('sent').head.prior;
      assert.ok(res.prior && res.prior.weight > 0 && prior, `fit ${JSON.stringify(res.prior)}`);
      // Ten steps leave the network near chance on sent; Naive Bayes does not.
      assert.ok(res.prior.devWith > res.prior.devWithout, `dev ${res.prior.devWithout} -> ${res.prior.devWith}`);
      assert.equal(prior.weight, Math.fround(res.prior.weight));
      for (const [name, digest] of earlier) {
        const now = Buffer.from(await system.taskPath(name).logitsOf(inputs.map((text) => ({ text })))).toString('base64');
        assert.equal(now, digest, `${name}'s logits`);
      }
      saveModel(dir, system);
      const again = loadModel(dir);
      const test = sent.test.map((e) => e.text);
      assert.deepEqual(await again.predict('sent', test), await system.predict('sent', test));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
