// AdamW, gradient clipping and learning-rate schedules against PyTorch.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { AdamW, Tensor, clipGradNorm, lrSchedule, parameter } from '../../src/engine/index.js';
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
