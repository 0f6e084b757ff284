// Sparse layers: the Switch FFN (router, top-k, capacity and drops, dropless, both auxiliary
// losses, dispatch / combine) and SkillNet's skill average against PyTorch references
// (tools/make_fixtures.py), plus the properties that make sparsity pay: only routed tokens and
// active skills are computed, and the accounting adds up.

import { it, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as E from '../../src/engine/index.js';
import { Rng, Tensor } from '../../src/engine/index.js';
import { FeedForward, LanguageModel, TransformerEncoder } from '../../src/nn/index.js';
import { SkillFFN, SwitchFFN, account, auxLoss, capacityOf, planDispatch, sparseFfnFactory, type SparseConfig } from '../../src/sparse/index.js';
import { ROOT, assertClose, describeEachBackend, fromFx, loadFixture, type FxTensor } from '../helpers.js';

interface MoeCase {
  name: string;
  attrs: { k: number; capacityFactor: number | null; normalizeTopK: boolean; lbWeight: number; zWeight: number; E: number; F: number };
  inputs: Record<'x' | 'Wr' | 'W1' | 'b1' | 'W2' | 'b2', FxTensor>;
  upstream: FxTensor;
  outputs: { out: FxTensor; lb: FxTensor | number; z: FxTensor | number; expertIndex: FxTensor; kept: FxTensor; counts: FxTensor; capacity: number | null };
  grads: Record<'x' | 'Wr' | 'W1' | 'b1' | 'W2' | 'b2', FxTensor>;
}
/** Skill weights are stacked over skills: W1 [S, F, d], b1 [S, F], W2 [S, d, F], b2 [S, d]. */
interface SkillCase {
  name: string;
  attrs: { S: number; F: number; active: number[] };
  inputs: Record<'x' | 'W1' | 'b1' | 'W2' | 'b2', FxTensor>;
  upstream: FxTensor;
  outputs: { out: FxTensor };
  grads: Record<'x' | 'W1' | 'b1' | 'W2' | 'b2', FxTensor>;
}

const MOE = join(ROOT, 'test', 'fixtures', 'sparse', 'moe.json');
const num = (v: FxTensor | number) => (typeof v === 'number' ? v : v.data[0]);

function switchFrom(c: MoeCase): { layer: SwitchFFN; x: Tensor } {
  const [, d] = c.inputs.x.shape;
  const layer = new SwitchFFN(
    {
      experts: c.attrs.E,
      topK: c.attrs.k,
      capacityFactor: c.attrs.capacityFactor,
      evalCapacityFactor: c.attrs.capacityFactor,
      jitter: 0,
      expertDropout: 0,
      lbWeight: c.attrs.lbWeight,
      zWeight: c.attrs.zWeight,
      normalizeTopK: c.attrs.normalizeTopK,
    },
    d,
    c.attrs.F,
    'gelu',
    new Rng(0),
    0.02,
  );
  const set = (p: Tensor, fx: FxTensor) => p.f32.set(Float32Array.from(fx.data));
  set(layer.router.weight, c.inputs.Wr);
  set(layer.experts.w1, c.inputs.W1);
  set(layer.experts.b1, c.inputs.b1);
  set(layer.experts.w2, c.inputs.W2);
  set(layer.experts.b2, c.inputs.b2);
  return { layer, x: fromFx(c.inputs.x, true) };
}

describeEachBackend('Switch FFN vs PyTorch', () => {
  const cases = existsSync(MOE) ? loadFixture<{ cases: MoeCase[] }>('sparse/moe.json').cases : [];
  it('has fixture cases', () => assert.ok(cases.length >= 5, 'test/fixtures/sparse/moe.json'));
  for (const c of cases) {
    it(c.name, () => {
      const { layer, x } = switchFrom(c);
      const out = layer.forward(x);
      assertClose(out.data, c.outputs.out.data, `${c.name} out`, { rtol: 1e-4, atol: 1e-5 });
      assert.ok(Math.abs(layer.lastLb - num(c.outputs.lb)) < 1e-5, `lb ${layer.lastLb} vs ${num(c.outputs.lb)}`);
      assert.ok(Math.abs(layer.lastZ - num(c.outputs.z)) < 1e-4 * Math.max(1, num(c.outputs.z)), `z ${layer.lastZ} vs ${num(c.outputs.z)}`);
      assert.deepEqual(layer.stats.tokensPerExpert, c.outputs.counts.data, 'kept tokens per expert');
      // L = sum(out * upstream) + lbWeight * lb + zWeight * z, one backward.
      const L = E.add(E.sum(E.mul(out, fromFx(c.upstream))), auxLoss(layer)!);
      L.backward();
      const g = c.grads;
      assertClose(x.grad!, g.x.data, `${c.name} dx`, { rtol: 2e-4, atol: 2e-5 });
      assertClose(layer.router.weight.grad!, g.Wr.data, `${c.name} dWr`, { rtol: 2e-4, atol: 2e-5 });
      for (const [p, k] of [
        [layer.experts.w1, 'W1'],
        [layer.experts.b1, 'b1'],
        [layer.experts.w2, 'W2'],
        [layer.experts.b2, 'b2'],
      ] as const) {
        assertClose(p.grad ?? new Float32Array(p.size), g[k].data, `${c.name} d${k}`, { rtol: 2e-4, atol: 2e-5 });
      }
    });
  }
});

describeEachBackend('skill layer vs PyTorch', () => {
  const file = join(ROOT, 'test', 'fixtures', 'sparse', 'skills.json');
  const cases = existsSync(file) ? loadFixture<{ cases: SkillCase[] }>('sparse/skills.json').cases : [];
  it('has fixture cases', () => assert.ok(cases.length >= 3));
  for (const c of cases) {
    it(c.name, () => {
      const [, d] = c.inputs.x.shape;
      const { S, F, active } = c.attrs;
      const rng = new Rng(0);
      const names = Array.from({ length: S }, (_, i) => `s${i}`);
      const layer = new SkillFFN(names.map((n) => [n, new FeedForward({ dModel: d, ffn: F, activation: 'gelu', dropout: 0, initStd: 0.02 }, rng)]));
      const slice = (fx: FxTensor, i: number) => {
        const per = fx.data.length / S;
        return Float32Array.from(fx.data.slice(i * per, (i + 1) * per));
      };
      const ffn = (i: number) => layer.skills.get(names[i]) as FeedForward;
      for (let i = 0; i < S; i++) {
        ffn(i).fc1.weight.f32.set(slice(c.inputs.W1, i));
        ffn(i).fc1.bias!.f32.set(slice(c.inputs.b1, i));
        ffn(i).fc2.weight.f32.set(slice(c.inputs.W2, i));
        ffn(i).fc2.bias!.f32.set(slice(c.inputs.b2, i));
      }
      const x = fromFx(c.inputs.x, true);
      const out = layer.forward(x, { skills: active.map((i) => names[i]) });
      assertClose(out.data, c.outputs.out.data, `${c.name} out`, { rtol: 1e-4, atol: 1e-5 });
      out.backward(Float32Array.from(c.upstream.data));
      assertClose(x.grad!, c.grads.x.data, `${c.name} dx`, { rtol: 1e-4, atol: 1e-5 });
      for (let i = 0; i < S; i++) {
        const f = ffn(i);
        if (!active.includes(i)) {
          // Never touched: no gradient at all (the reference's is exactly zero).
          assert.equal(f.fc1.weight.grad, null, `inactive skill ${i} got a gradient`);
          assert.ok(slice(c.grads.W1, i).every((v) => v === 0));
          continue;
        }
        assertClose(f.fc1.weight.grad!, slice(c.grads.W1, i), `${c.name} skill ${i} dW1`, { rtol: 1e-4, atol: 1e-5 });
        assertClose(f.fc1.bias!.grad!, slice(c.grads.b1, i), `${c.name} skill ${i} db1`, { rtol: 1e-4, atol: 1e-5 });
        assertClose(f.fc2.weight.grad!, slice(c.grads.W2, i), `${c.name} skill ${i} dW2`, { rtol: 1e-4, atol: 1e-5 });
        assertClose(f.fc2.bias!.grad!, slice(c.grads.b2, i), `${c.name} skill ${i} db2`, { rtol: 1e-4, atol: 1e-5 });
      }
    });
  }
});

describe('dispatch plan', () => {
  it('serves every first choice before any second choice, then drops past capacity', () => {
    // 4 tokens, top-2, 2 experts, capacity 3: slot 0 -> e0,e0,e1,e0 ; slot 1 -> e1,e1,e0,e1
    const expert = Int32Array.from([0, 1, 0, 1, 1, 0, 0, 1]);
    const p = planDispatch(expert, 4, 2, 2, 3);
    assert.deepEqual(Array.from(p.counts), [3, 3]);
    assert.equal(p.dropped, 2);
    // kept: all slot-0 choices; slot 1: token0->e1 kept (e1 had 1), token1->e1 kept (2), token2->e0 dropped (e0 full), token3->e1 dropped? e1 has 3 now
    assert.deepEqual(Array.from(p.kept), [1, 1, 1, 1, 1, 0, 1, 0]);
    assert.deepEqual(Array.from(p.offsets), [0, 3, 6]);
    assert.deepEqual(Array.from(p.token), [0, 1, 3, 2, 0, 1]);
  });
  it('capacity is ceil(factor * N * k / E); null means dropless', () => {
    assert.equal(capacityOf(2048, 1, 8, 1.25), 320);
    assert.equal(capacityOf(10, 2, 4, 1.0), 5);
    assert.equal(capacityOf(10, 1, 4, null), Infinity);
  });
});

describe('compute only what is routed', () => {
  it("an expert that receives no tokens gets no work and a zero gradient; other tasks' skills are never touched", () => {
    const rng = new Rng(3);
    const sw = new SwitchFFN(
      { experts: 4, topK: 1, capacityFactor: null, evalCapacityFactor: null, jitter: 0, expertDropout: 0, lbWeight: 0.01, zWeight: 0.001, normalizeTopK: true },
      8,
      16,
      'gelu',
      rng,
      0.2,
    );
    // Make expert 3 unreachable: positive inputs, and a strongly negative router row.
    for (let i = 0; i < 8; i++) sw.router.weight.f32[3 * 8 + i] = -5;
    const x = E.rand([12, 8], rng, 0.5, 1.5);
    x.requiresGrad = true;
    const out = sw.forward(x);
    E.add(E.sum(out), auxLoss(sw)!).backward();
    assert.equal(
      sw.stats.tokensPerExpert.reduce((a, b) => a + b, 0),
      12,
    );
    assert.equal(sw.stats.tokensPerExpert[3], 0, 'expert 3 received no tokens');
    const per = 16 * 8;
    assert.ok(
      sw.experts.w1.grad!.subarray(3 * per, 4 * per).every((v) => v === 0),
      'the idle expert has an exactly zero gradient',
    );
    assert.ok(sw.experts.w1.grad!.subarray(0, per).some((v) => v !== 0) || sw.stats.tokensPerExpert[0] === 0);
    // Skills: a forward for task A never reads task B's skill.
    const skills = new SkillFFN([
      ['a', new FeedForward({ dModel: 8, ffn: 16, activation: 'gelu', dropout: 0, initStd: 0.2 }, rng)],
      ['b', new FeedForward({ dModel: 8, ffn: 16, activation: 'gelu', dropout: 0, initStd: 0.2 }, rng)],
    ]);
    const b = skills.skills.get('b') as FeedForward;
    b.fc1.weight.f32.fill(NaN); // any read of skill b would poison the output
    const y = skills.forward(E.randn([3, 8], rng, 1, true), { skills: ['a'] });
    assert.ok(y.data.every(Number.isFinite));
    assert.throws(() => skills.forward(E.randn([3, 8], rng), { skills: ['c'] }), /none of the active skills \[c\]/);
  });
});

describe('accounting', () => {
  it('counts total and activated parameters and FLOPs per token exactly', () => {
    const cfg = {
      vocabSize: 100,
      maxPositions: 16,
      typeVocabSize: 2,
      dModel: 8,
      layers: 2,
      heads: 2,
      ffn: 32,
      activation: 'gelu' as const,
      dropout: 0,
      attentionDropout: 0,
      layerNormEps: 1e-5,
      initStd: 0.02,
      normPlacement: 'pre' as const,
    };
    const sparse: SparseConfig = {
      switch: {
        experts: 4,
        topK: 1,
        capacityFactor: 1.25,
        evalCapacityFactor: 2,
        jitter: 0,
        expertDropout: 0,
        lbWeight: 0.01,
        zWeight: 0.001,
        normalizeTopK: true,
        every: 2,
      },
      skills: null,
    };
    const rng = new Rng(0);
    const enc = new TransformerEncoder(cfg, rng, sparseFfnFactory(cfg, sparse, rng));
    const a = account(enc, enc, { seqLen: 16 });
    const d = 8,
      F = 32,
      T = 16;
    const attn = 3 * d * d + 3 * d + d * d + d; // qkv + out with biases
    const norms = 4 * d;
    const dense = d * F + F + F * d + d;
    const expert = dense;
    const router = 4 * d;
    assert.equal(a.layers[0].kind, 'dense');
    assert.equal(a.layers[0].activeParams, attn + norms + dense);
    assert.equal(a.layers[1].totalParams, attn + norms + router + 4 * expert);
    assert.equal(a.layers[1].activeParams, attn + norms + router + expert);
    assert.equal(a.layers[0].flopsPerToken, 8 * d * d + 4 * T * d + 4 * d * F);
    assert.equal(a.layers[1].flopsPerToken, 8 * d * d + 4 * T * d + 2 * d * 4 + 4 * d * F);
    assert.equal(a.totalParams, enc.numParameters());
    assert.equal(a.embeddings.activeParams, 3 * d, 'one row of each embedding table (no embedding norm in pre-LN)');
  });

  it("a skill model activates only its task's skills", () => {
    const cfg = {
      vocabSize: 100,
      maxPositions: 16,
      typeVocabSize: 2,
      dModel: 8,
      layers: 1,
      heads: 2,
      ffn: 32,
      activation: 'gelu' as const,
      dropout: 0,
      attentionDropout: 0,
      layerNormEps: 1e-5,
      initStd: 0.02,
      normPlacement: 'pre' as const,
    };
    const sparse: SparseConfig = { switch: null, skills: { skills: ['g', 'x', 'y', 'z'], generic: 'g', table: { t: ['x'] }, layers: 'all' } };
    const rng = new Rng(0);
    const lm = new LanguageModel(cfg, rng, sparseFfnFactory(cfg, sparse, rng));
    const a = account(lm, lm.encoder, { task: 't', skills: ['g', 'x'] });
    const dense = 8 * 32 * 2 + 32 + 8;
    assert.equal(a.layers[0].totalParams - a.layers[0].activeParams, 2 * dense, 'two of four skills idle');
    assert.equal(a.layers[0].flopsPerToken, 8 * 64 + 4 * 16 * 8 + 2 * 4 * 8 * 32);
  });
});
