// AdamW, gradient clipping and learning-rate schedules against PyTorch.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { AdamW, Tensor, clipGradNorm, lrSchedule, parameter, warmupStableDecay } from '../../src/engine/index.js';
import { assertClose, describeEachBackend, fromFx, loadFixture, type FxTensor } from '../helpers.js';

interface AdamCase {
  name: string;
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  steps: number;
  param0: FxTensor;
  grads: FxTensor[];
  params: FxTensor[];
  exp_avg: FxTensor;
  exp_avg_sq: FxTensor;
}
interface ClipCase {
  name: string;
  maxNorm: number;
  grads: FxTensor[];
  totalNorm: number;
  clipped: FxTensor[];
}
interface Fx {
  adamw: AdamCase[];
  clipGradNorm: ClipCase[];
  schedules: { total: number; warmup: number; linear: number[]; cosine: number[] };
}
const fx = loadFixture<Fx>('engine/optim.json');

describeEachBackend('optimizer vs PyTorch', () => {
  for (const c of fx.adamw) {
    it(`AdamW ${c.name}: ${c.steps} steps match torch.optim.AdamW`, () => {
      const p = parameter(fromFx(c.param0), 'p');
      const opt = new AdamW([p], { lr: c.lr, betas: c.betas, eps: c.eps, weightDecay: c.weightDecay });
      for (let s = 0; s < c.steps; s++) {
        p.grad = Float32Array.from(c.grads[s].data);
        opt.step();
        assertClose(p.f32, c.params[s].data, `${c.name} step ${s + 1}`, { rtol: 1e-5, atol: 1e-7 });
      }
      const st = opt.state();
      assertClose(st.m[0], c.exp_avg.data, `${c.name} exp_avg`, { rtol: 1e-5, atol: 1e-8 });
      assertClose(st.v[0], c.exp_avg_sq.data, `${c.name} exp_avg_sq`, { rtol: 1e-5, atol: 1e-10 });
      opt.zeroGrad();
      assert.equal(p.grad, null);
    });
  }

  for (const c of fx.clipGradNorm) {
    it(`clipGradNorm ${c.name}`, () => {
      const ps = c.grads.map((g, i) => {
        const p = parameter(new Tensor(new Float32Array(g.data.length), g.shape), `p${i}`);
        p.grad = Float32Array.from(g.data);
        return p;
      });
      const norm = clipGradNorm(ps, c.maxNorm);
      assert.ok(Math.abs(norm - c.totalNorm) <= 1e-5 * c.totalNorm, `norm ${norm} vs ${c.totalNorm}`);
      ps.forEach((p, i) => assertClose(p.grad!, c.clipped[i].data, `${c.name} grad ${i}`, { rtol: 1e-6, atol: 1e-7 }));
    });
  }
});

it('lr schedules match the Hugging Face warmup schedules run by torch LambdaLR', () => {
  const s = fx.schedules;
  for (const kind of ['linear', 'cosine'] as const) {
    const f = lrSchedule({ kind, warmupSteps: s.warmup, totalSteps: s.total });
    const got = s[kind].map((_, step) => f(step));
    assertClose(got, s[kind], `${kind} schedule`, { rtol: 1e-9, atol: 1e-12 });
  }
  const c = lrSchedule({ kind: 'cosine', warmupSteps: 0, totalSteps: 10, minRatio: 0.1 });
  assert.equal(c(10), 0.1);
  assert.throws(() => lrSchedule({ kind: 'linear', warmupSteps: 20, totalSteps: 10 }), /warmupSteps/);
});

it('warm-up, stable, decay: the peak until the decay start, read at every step, then 1 - i / decaySteps', () => {
  let from = 8;
  const f = warmupStableDecay({ warmupSteps: 4, decaySteps: 4, decayFrom: () => from });
  assert.deepEqual([0, 2, 4, 7, 8, 9, 11, 12, 20].map(f), [0, 0.5, 1, 1, 1, 0.75, 0.25, 0, 0]);
  from = 5; // brought forward while it runs
  assert.deepEqual([4, 5, 6, 9].map(f), [1, 1, 0.75, 0]);
  assert.throws(() => warmupStableDecay({ warmupSteps: 0, decaySteps: 0, decayFrom: () => 0 }), /decaySteps/);
});
