// The training step shared by pretraining, multi-task training and path training
// (src/train/step.ts): the weight-decay rule, one step against AdamW worked out by hand, and
// freezing undone however training ends.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as E from '../../src/engine/index.js';
import { Rng, Tensor, type Schedule } from '../../src/engine/index.js';
import { LanguageModel, LayerNorm, Linear, Module, TransformerEncoder, type EncoderConfig } from '../../src/nn/index.js';
import { DEFAULT_SPARSE_SWITCH, sparseFfnFactory } from '../../src/sparse/index.js';
import { Tokenizer } from '../../src/data/tokenizer/index.js';
import { TaskModel, specOf } from '../../src/model/index.js';
import type { Batch } from '../../src/tasks/encode.js';
import type { TaskData } from '../../src/tasks/task.js';
import { trainMultiTask } from '../../src/train/multitask.js';
import { Trainer, decays, freeze, paramGroups, withFrozen } from '../../src/train/step.js';
import { assertClose } from '../helpers.js';

const TINY: EncoderConfig = {
  vocabSize: 50,
  maxPositions: 16,
  typeVocabSize: 2,
  dModel: 8,
  layers: 2,
  heads: 2,
  ffn: 16,
  activation: 'gelu',
  dropout: 0,
  attentionDropout: 0,
  layerNormEps: 1e-5,
  initStd: 0.05,
  normPlacement: 'pre',
};

class Small extends Module {
  readonly lin: Linear;
  readonly norm: LayerNorm;
  readonly proj: Linear;
  readonly normals: Linear;
  constructor(rng: Rng) {
    super();
    this.lin = this.child('lin', new Linear(3, 2, rng));
    this.norm = this.child('norm', new LayerNorm(2));
    this.proj = this.child('proj', new Linear(2, 2, rng, { bias: false }));
    // A matrix whose name says "norm" (as a user's task or skill name can): it decays all the same.
    this.normals = this.child('normals', new Linear(2, 2, rng, { bias: false }));
  }
}

const names = (m: Module) => new Map(m.namedParameters().map(([n, p]) => [p, n]));

describe('training step', () => {
  it("decays matrices only, keeping the caller's order in each group", () => {
    const m = new Small(new Rng(0));
    const name = names(m);
    const show = (gs: ReturnType<typeof paramGroups>) => gs.map((g) => ({ ...g, params: g.params.map((p) => name.get(p)) }));
    assert.deepEqual(show(paramGroups(m.parameters())), [
      { params: ['lin.weight', 'proj.weight', 'normals.weight'] },
      { params: ['lin.bias', 'norm.weight', 'norm.bias'], weightDecay: 0 },
    ]);
    // The scaled parameters (multi-task training's embeddings) form their own pair, after the rest.
    const scaled = new Set([m.proj.weight, m.norm.bias]);
    assert.deepEqual(show(paramGroups(m.parameters(), { scaled: [{ params: scaled, lrScale: 3 }] })), [
      { params: ['lin.weight', 'normals.weight'], lrScale: 1 },
      { params: ['lin.bias', 'norm.weight'], weightDecay: 0, lrScale: 1 },
      { params: ['proj.weight'], lrScale: 3 },
      { params: ['norm.bias'], weightDecay: 0, lrScale: 3 },
    ]);
    // Empty groups are left out.
    assert.deepEqual(show(paramGroups([m.lin.bias!])), [{ params: ['lin.bias'], weightDecay: 0 }]);
  });

  it('never decays a norm in the real models: every LayerNorm parameter is a vector', () => {
    const rng = new Rng(1);
    const sparse = {
      switch: { ...DEFAULT_SPARSE_SWITCH, experts: 2 },
      skills: { skills: ['g', 'normalize'], generic: 'g', table: { mlm: ['normalize'] }, layers: [0] },
    };
    const lm = new LanguageModel(TINY, rng, sparseFfnFactory(TINY, sparse, rng));
    const norms = new Set([...lm.modules()].filter((x) => x instanceof LayerNorm).flatMap((x) => x.parameters()));
    assert.ok(norms.size >= 6, `${norms.size} norm parameters`);
    for (const [n, p] of lm.namedParameters()) {
      if (norms.has(p)) assert.equal(decays(p), false, n);
      else if (n.endsWith('.weight')) assert.equal(decays(p), true, n);
    }
    // The skill named "normalize" is an FFN like any other: its matrices decay.
    const skill = lm.namedParameters().filter(([n]) => n.includes('skills.normalize.') && n.endsWith('weight'));
    assert.ok(skill.length > 0 && skill.every(([, p]) => decays(p)));
  });

  it('one step is AdamW worked out by hand: clipped gradient, scheduled and scaled lr, decay on the matrix only', () => {
    class Tiny extends Module {
      readonly w = this.param('w', new Tensor(Float32Array.of(0.5, -0.3, 0.2, 0.8), [2, 2]));
      readonly b = this.param('b', new Tensor(Float32Array.of(0.1, -0.2), [2]));
    }
    const m = new Tiny();
    const w0 = Array.from(m.w.f32);
    const b0 = Array.from(m.b.f32);
    // loss = Σ w·C + Σ b·d: the gradients are C and d.
    const C = [
      [1, 2, -3, 0.5],
      [0.1, -0.2, 0.3, 0.05],
    ];
    const d = [
      [0.25, -1],
      [0.02, 0.1],
    ];
    const f32 = (xs: number[]) => xs.map((x) => Math.fround(x));
    const lossAt = (k: number) =>
      E.add(E.sum(E.mul(m.w, new Tensor(Float32Array.from(C[k]), [2, 2]))), E.sum(E.mul(m.b, new Tensor(Float32Array.from(d[k]), [2]))));
    const seen: number[] = [];
    const schedule: Schedule = (s) => {
      seen.push(s);
      return [0.5, 1][s];
    };
    const lr = 0.1;
    const wd = 0.1;
    const clipNorm = 1;
    const trainer = new Trainer(m, m.parameters(), { lr, weightDecay: wd, clipNorm, schedule });

    // By hand, in float64: PyTorch's AdamW (betas 0.9, 0.999; eps 1e-8).
    const [b1, b2, eps] = [0.9, 0.999, 1e-8];
    const p = [...w0, ...b0];
    const decayed = [true, true, true, true, false, false];
    const mom = p.map(() => 0);
    const vel = p.map(() => 0);
    const scales = [1, 3];
    for (let k = 0; k < 2; k++) {
      const value = p.reduce((s, x, i) => s + Math.fround(x) * (i < 4 ? C[k][i] : d[k][i - 4]), 0);
      const g = [...f32(C[k]), ...f32(d[k])];
      const norm = Math.sqrt(g.reduce((s, x) => s + x * x, 0));
      const coef = clipNorm / (norm + 1e-6);
      const gc = coef < 1 ? g.map((x) => x * coef) : g;
      const stepLr = lr * [0.5, 1][k] * scales[k];
      const t = k + 1;
      for (let i = 0; i < p.length; i++) {
        mom[i] = b1 * mom[i] + (1 - b1) * gc[i];
        vel[i] = b2 * vel[i] + (1 - b2) * gc[i] * gc[i];
        const mHat = mom[i] / (1 - b1 ** t);
        const vHat = vel[i] / (1 - b2 ** t);
        if (decayed[i]) p[i] *= 1 - stepLr * wd;
        p[i] -= (stepLr * mHat) / (Math.sqrt(vHat) + eps);
      }

      const got = trainer.step(lossAt(k), scales[k]);
      assert.equal(got.step, t);
      assertClose([got.loss], [value], `loss ${t}`, { rtol: 1e-6 });
      assertClose([got.gradNorm], [norm], `gradNorm ${t}`, { rtol: 1e-6 });
      assert.equal(got.lr, lr * [0.5, 1][k] * scales[k]);
      assert.equal(k === 0, coef < 1, 'the first step is clipped, the second is not');
      assertClose([...m.w.f32, ...m.b.f32], p, `parameters after step ${t}`, { rtol: 1e-6, atol: 1e-7 });
    }
    assert.deepEqual(seen, [0, 1], 'the schedule is read at the number of steps taken before');
    // The matrix is in a decaying group, the bias in one without decay.
    assert.ok(trainer.opt.groups[0].params.includes(m.w) && trainer.opt.groups[0].weightDecay === wd);
    assert.ok(trainer.opt.groups[1].params.includes(m.b) && trainer.opt.groups[1].weightDecay === 0);
  });

  it('withFrozen and freeze give each parameter its own requiresGrad back, after an exception too', async () => {
    const m = new Small(new Rng(2));
    m.proj.weight.requiresGrad = false; // already frozen by someone else: stays frozen
    await assert.rejects(
      withFrozen([m.lin.weight, m.proj.weight, m.lin.weight], async () => {
        assert.equal(m.lin.weight.requiresGrad, false);
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(m.lin.weight.requiresGrad, true);
    assert.equal(m.proj.weight.requiresGrad, false);
    const thaw = freeze(m.parameters());
    assert.ok(m.parameters().every((p) => !p.requiresGrad));
    thaw();
    assert.deepEqual(
      m.parameters().map((p) => p.requiresGrad),
      [true, true, true, true, false, true],
    );
  });

  it('trainMultiTask unfreezes the embeddings and layers it froze when training throws mid-way', async () => {
    const words = ['good', 'bad', 'fine', 'awful', 'great', 'poor', 'nice', 'sad'];
    const rng = new Rng(3);
    const examples = Array.from({ length: 24 }, (_, i) => {
      const text = Array.from({ length: 4 }, () => words[rng.int(words.length)]).join(' ');
      return { text, label: i % 2 ? 'pos' : 'neg' };
    });
    const task: TaskData = { name: 'toy', type: 'classification', labels: ['neg', 'pos'], train: examples, dev: examples.slice(0, 8), test: [] };
    const tok = Tokenizer.train(
      examples.map((e) => e.text),
      { vocabSize: 280 },
    );
    const enc = new TransformerEncoder({ ...TINY, vocabSize: tok.vocabSize }, rng);
    const model = TaskModel.fromEncoder(enc, tok, { sparse: { switch: null, skills: null }, rng, maxLen: 16 });
    model.addTask(specOf(task));
    const loss = model.loss.bind(model);
    let calls = 0;
    let frozenSeen = false;
    model.loss = (t: string, batch: Batch) => {
      frozenSeen ||= !enc.embeddings.parameters().some((p) => p.requiresGrad) && !enc.layers[0].parameters().some((p) => p.requiresGrad);
      if (++calls === 3) throw new Error('the loss failed');
      return loss(t, batch);
    };
    await assert.rejects(
      trainMultiTask(model, [task], { steps: 10, batchSize: 4, evalEvery: 10, patience: 0, freezeEmbeddings: true, freezeLayers: 1 }),
      /the loss failed/,
    );
    assert.equal(calls, 3);
    assert.ok(frozenSeen, 'the embeddings and layer 0 were frozen during training');
    const left = model
      .namedParameters()
      .filter(([, p]) => !p.requiresGrad)
      .map(([n]) => n);
    assert.deepEqual(left, [], 'no parameter left frozen');
  });
});
