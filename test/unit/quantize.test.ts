// int8 models (compress/quantize.ts, model/quantized_weights.ts, engine/quantized.ts): what is
// quantized, that the int8 GEMM runs and stays close to fp32, that a quantized folder and a shared
// quantized model answer bit for bit what the quantized model answers, and that a damaged
// quantized file gets an error naming the file and the tensor.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AdamW,
  Rng,
  Tensor,
  dequantizeForm,
  dropInt8,
  ffnI8,
  gelu,
  groupedLinear,
  groupedLinearI8,
  linearI8,
  noGrad,
  quantizeParameter,
  randn,
  int8Of,
  readSafetensors,
  serializeSafetensors,
  type Int8Tensor,
  type PackedTensor,
} from '../../src/engine/index.js';
import { compactPriors, expandPriors } from '../../src/model/compact_prior.js';
import { loadModel, modelFromShared, saveModel, shareModel, type Prediction } from '../../src/model/index.js';
import { quantizeModel } from '../../src/compress/index.js';
import { Experts, Router } from '../../src/sparse/index.js';
import { FeedForward } from '../../src/nn/index.js';
import { assertDeepClose, describeEachBackend } from '../helpers.js';
import { LAYOUTS, build, requests } from '../mixed_models.js';

/** Every score a prediction holds: a label's, a value, each tagged word's. */
const scoresOf = (p: Prediction): number[] =>
  'scores' in p ? Object.values(p.scores) : 'value' in p ? [p.value] : 'words' in p ? p.words.flatMap((w) => (w.score === null ? [] : [w.score])) : [];
/** Every label a prediction holds: its label, or each word's tag. */
const labelsOf = (p: Prediction): string[] => ('label' in p ? [p.label] : 'words' in p ? p.words.map((w) => w.tag) : []);
function maxScoreDiff(a: Prediction[], b: Prediction[]): number {
  const x = a.flatMap(scoresOf);
  const y = b.flatMap(scoresOf);
  assert.equal(x.length, y.length);
  return Math.max(...x.map((v, i) => Math.abs(v - y[i])));
}

describeEachBackend('int8 quantization', () => {
  for (const [name, layout] of LAYOUTS) {
    it(`${name}: every weight matrix but the router is int8 (biases and norms stay float32), and predictions stay close to fp32`, async () => {
      const q = build(layout);
      const reqs = requests(q, 6);
      const want = await q.predictMixed(reqs);
      const values = new Map(q.namedParameters().map(([n, p]) => [n, p.f32.slice()]));
      const routers = new Set([
        ...[...q.modules()].filter((m): m is Router => m instanceof Router).map((r) => r.weight),
        ...[...q.modules()].filter((m): m is Experts => m instanceof Experts).flatMap((e) => [e.b1, e.b2]),
      ]);
      const report = quantizeModel(q);
      for (const [n, p] of q.namedParameters()) {
        const form = int8Of(p);
        if (p.ndim < 2 || routers.has(p)) {
          assert.equal(form, undefined, `${n} stays float32`);
          assert.deepEqual(p.f32, values.get(n), `${n} unchanged`);
          continue;
        }
        assert.ok(form, `${n} has an int8 form`);
        assert.deepEqual(p.f32, dequantizeForm(form), `${n} holds the dequantized values`);
        // Embedding tables (and an embedding update's token table) have a scale per column
        // (output channel), the rest per row.
        const table = /\.(word|position|type)\.weight$|\.bag\.table$|^components\.elora\d+\.a$/.test(n);
        assert.equal(form.axis, table ? 'column' : 'row', n);
        // Per channel, the largest magnitude maps to ±127 and the rounding error is at most half a step.
        const v = values.get(n)!;
        const channels = form.axis === 'row' ? form.rows : form.cols;
        const at = (ch: number, j: number) => (form.axis === 'row' ? ch * form.cols + j : j * form.cols + ch);
        const len = form.axis === 'row' ? form.cols : form.rows;
        for (let ch = 0; ch < channels; ch++) {
          let big = 0;
          for (let j = 0; j < len; j++) big = Math.max(big, Math.abs(form.q[at(ch, j)]));
          assert.ok(big === 127 || form.scale[ch] === 0, `${n} ${form.axis} ${ch} uses the full range`);
          for (let j = 0; j < len; j++) assert.ok(Math.abs(p.f32[at(ch, j)] - v[at(ch, j)]) <= form.scale[ch] * 0.5 + 1e-7);
        }
      }
      assert.equal(report.quantized.length, q.namedParameters().filter(([, p]) => p.ndim >= 2 && !routers.has(p)).length);
      // Close to fp32: every score within 0.05, and nearly every label the same.
      const got = await q.predictMixed(reqs);
      assert.ok(maxScoreDiff(got, want) < 0.05, `${name}: max score difference ${maxScoreDiff(got, want)}`);
      const labels = (ps: Prediction[]) => ps.flatMap(labelsOf);
      const same = labels(got).filter((l, i) => l === labels(want)[i]).length;
      assert.ok(same >= 0.9 * labels(got).length, `${same} of ${labels(got).length} labels as fp32's`);

      // The int8 GEMM ran: without the int8 forms (fp32 on the same dequantized weights) the
      // scores move, a little.
      for (const [, p] of q.namedParameters()) dropInt8(p);
      const deq = await q.predictMixed(reqs);
      const diff = maxScoreDiff(got, deq);
      assert.ok(diff > 0 && diff < 0.05, `int8 against fp32 on the same weights: max score difference ${diff}`);
    });

    it(`${name}: a shared quantized model, and its folder, answer bit for bit what the quantized model answers`, async () => {
      const q = build(layout);
      quantizeModel(q);
      const reqs = requests(q, 4);
      const want = await q.predictMixed(reqs);
      const dir = mkdtempSync(join(tmpdir(), 'pw-int8-'));
      try {
        // The shared copy first: the code-built SkillNet model gives some tasks no row of the skill
        // table (they run the generic skill), which a folder does not allow.
        const shared = modelFromShared(shareModel(q));
        const names = (m: typeof q) => m.namedParameters().filter(([, p]) => int8Of(p) !== undefined).length;
        assert.equal(names(shared), names(q));
        assertDeepClose(await shared.predictMixed(reqs), want, 0, `${name}, shared`);
        if (layout?.sparse?.skills) return;
        saveModel(join(dir, 'm'), q);
        const { dtypes } = readSafetensors(join(dir, 'm', 'model.safetensors'));
        assert.ok([...dtypes.values()].includes('I8'));
        const loaded = loadModel(join(dir, 'm'));
        assert.equal(names(loaded), names(q));
        assertDeepClose(await loaded.predictMixed(reqs), want, 0, `${name}, loaded`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describeEachBackend('int8 Switch experts (groupedLinearI8)', () => {
  it('each expert computes its rows as linearI8 with its own weights would, close to fp32 on the dequantized weights', () => {
    const rng = new Rng(5);
    const [E, O, I, M] = [3, 20, 24, 11];
    const w = randn([E, O, I], rng, 0.3);
    w.name = 'experts.w1';
    quantizeParameter(w);
    const b = randn([E, O], rng);
    const x = randn([M, I], rng);
    const offsets = Int32Array.of(0, 4, 4, 11); // expert 1 gets no row
    const got = noGrad(() => groupedLinearI8(x, w, b, offsets, 'gelu')).f32;
    for (let e = 0; e < E; e++) {
      const [r0, r1] = [offsets[e], offsets[e + 1]];
      if (r1 === r0) continue;
      const we = new Tensor(w.f32.slice(e * O * I, (e + 1) * O * I), [O, I]);
      quantizeParameter(we); // the same rows, so the same int8 values and scales
      const xe = new Tensor(x.f32.slice(r0 * I, r1 * I), [r1 - r0, I]);
      const be = new Tensor(b.f32.slice(e * O, (e + 1) * O), [O]);
      const want = noGrad(() => linearI8(xe, we, be, 'gelu')).f32;
      assert.deepEqual(got.subarray(r0 * O, r1 * O), want, `expert ${e}`);
    }
    const fp32 = noGrad(() => gelu(groupedLinear(x, w, b, offsets))).f32;
    assert.ok(Math.max(...got.map((v, i) => Math.abs(v - fp32[i]))) < 0.05);
  });
});

describeEachBackend('int8 FFN (ffnI8: the hidden layer handed quantized between the GEMMs)', () => {
  it('equals the two linearI8 calls bit for bit, and the FFN module runs it in inference', () => {
    const r = new Rng(8);
    for (const [R, I, F, O] of [
      [70, 48, 200, 48],
      [1, 16, 64, 10],
    ]) {
      const x = randn([R, I], r);
      const [w1, b1, w2, b2] = [randn([F, I], r, 0.1), randn([F], r), randn([O, F], r, 0.1), randn([O], r)];
      quantizeParameter(w1);
      quantizeParameter(w2);
      const fused = noGrad(() => ffnI8(x, w1, b1, 'gelu', w2, b2)).f32;
      const twice = noGrad(() => linearI8(linearI8(x, w1, b1, 'gelu'), w2, b2)).f32;
      assert.deepEqual(fused, twice, `R=${R}`);
    }
    const ffn = new FeedForward({ dModel: 32, ffn: 96, activation: 'gelu', dropout: 0.1, initStd: 0.2 }, new Rng(2));
    ffn.eval();
    const x = randn([5, 7, 32], r);
    const fp32 = noGrad(() => ffn.forward(x)).f32;
    quantizeParameter(ffn.fc1.weight);
    quantizeParameter(ffn.fc2.weight);
    const got = noGrad(() => ffn.forward(x));
    assert.deepEqual(got.shape, [5, 7, 32]);
    assert.deepEqual(got.f32, noGrad(() => ffnI8(x, ffn.fc1.weight, ffn.fc1.bias, 'gelu', ffn.fc2.weight, ffn.fc2.bias)).f32);
    const scale = Math.max(...fp32.map(Math.abs));
    const err = Math.max(...got.f32.map((v, i) => Math.abs(v - fp32[i])));
    assert.ok(err < 0.03 * scale, `close to fp32: max error ${err} on outputs up to ${scale}`);
  });
});

describe('compact priors (model/compact_prior.ts)', () => {
  const fail = (msg: string): never => {
    throw new Error(msg);
  };
  const roundTrip = (keys: Int32Array, values: Float32Array) => {
    const packed = compactPriors([
      ['h.prior.keys', new Tensor(keys, [keys.length])],
      ['h.prior.values', new Tensor(values, [values.length])],
    ]);
    const dtypes = new Map(packed.map(([n, t]) => [n, { float32: 'F32', int32: 'I32', int8: 'I8', uint8: 'U8', uint16: 'U16' }[t.dtype]]));
    const back = new Map(packed.map(([n, t]) => [n, t instanceof Tensor ? t : new Tensor(Int32Array.from(t.data), t.shape)]));
    expandPriors(back, dtypes, fail);
    assert.deepEqual(back.get('h.prior.keys')!.i32, keys);
    assert.deepEqual(back.get('h.prior.values')!.f32, values);
    return dtypes;
  };
  it('gives back the same keys and float32 values, across 16-bit key blocks and U8 / U16 / F32 values', () => {
    const r = new Rng(3);
    const keys = new Int32Array(5000);
    for (let i = 0, k = 0; i < keys.length; i++) keys[i] = k += 1 + Math.floor(r.uniform() * (i % 100 === 0 ? 300000 : 2000));
    assert.ok(keys[keys.length - 1] > 1 << 22, 'keys span many 16-bit blocks, some empty');
    const few = Float32Array.from(keys, (_, i) => Math.log1p(i % 200));
    assert.equal(roundTrip(keys, few).get('h.prior.codes'), 'U8');
    const more = Float32Array.from(keys, (_, i) => Math.log1p(i % 3000));
    assert.equal(roundTrip(keys, more).get('h.prior.codes'), 'U16');
    const manyKeys = Int32Array.from({ length: 70000 }, (_, i) => 3 * i);
    const all = Float32Array.from(manyKeys, (_, i) => i / 7);
    const d = roundTrip(manyKeys, all);
    assert.equal(d.get('h.prior.values'), 'F32', 'more than 65,536 distinct values stay float32');
  });
});

describe('a quantized folder that is damaged', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-int8-bad-'));
  const q = build(LAYOUTS[0][1]);
  quantizeModel(q);
  saveModel(join(dir, 'good'), q);
  const file = join(dir, 'good', 'model.safetensors');
  const w = 'components.blk1.attn.qkv.weight';

  const PACKED = { I8: ['int8', Int8Array], U8: ['uint8', Uint8Array], U16: ['uint16', Uint16Array] } as const;
  /** The folder with its weights rewritten by `edit` (I8, U8 and U16 tensors kept so). */
  function damaged(edit: (t: Map<string, Tensor | PackedTensor>) => void): string {
    const { tensors, dtypes, metadata } = readSafetensors(file);
    const m = new Map<string, Tensor | PackedTensor>(
      [...tensors].map(([n, t]) => {
        const p = PACKED[dtypes.get(n) as keyof typeof PACKED];
        return [n, p ? ({ dtype: p[0], data: p[1].from(t.i32), shape: t.shape } as PackedTensor) : t];
      }),
    );
    edit(m);
    const out = join(dir, `bad-${Math.random().toString(36).slice(2)}`);
    saveModel(out, q);
    writeFileSync(join(out, 'model.safetensors'), serializeSafetensors(m, metadata));
    return out;
  }
  const fails = (d: string, re: RegExp) =>
    assert.throws(
      () => loadModel(d),
      (e: Error) => re.test(e.message) && e.message.includes('model.safetensors'),
    );

  it('names the weight a missing scale belongs to', () => {
    assert.ok(readSafetensors(file).tensors.has(`${w}_scale`), `the fixture stores ${w} as int8`);
    fails(
      damaged((t) => t.delete(`${w}_scale`)),
      /int8 tensor "components\.blk1\.attn\.qkv\.weight" has no scale tensor/,
    );
  });
  it('refuses a scale of the wrong shape, a negative or NaN scale', () => {
    fails(
      damaged((t) => t.set(`${w}_scale`, new Tensor(new Float32Array(48), [48]))),
      /must be F32 of shape \[48, 1\] \(per row\) or \[1, 16\] \(per column\)/,
    );
    fails(
      damaged((t) => {
        const s = (t.get(`${w}_scale`) as Tensor).f32.slice();
        s[5] = Number.NaN;
        t.set(`${w}_scale`, new Tensor(s, [s.length, 1]));
      }),
      /row 5 is NaN/,
    );
  });
  it('refuses -128, which the symmetric scheme never writes', () => {
    fails(
      damaged((t) => {
        const i8 = t.get(w) as Int8Tensor;
        const d = i8.data.slice();
        d[17] = -128;
        t.set(w, { ...i8, data: d });
      }),
      /holds -128 at row 1, column 1/,
    );
  });
  it('refuses a scale whose weight is not int8', () => {
    fails(
      damaged((t) => t.set('components.blk1.ln1.weight_scale', new Tensor(new Float32Array(16), [16, 1]))),
      /"components\.blk1\.ln1\.weight_scale" is a scale, but "components\.blk1\.ln1\.weight" is F32, not I8/,
    );
  });
  it('refuses a truncated file, naming it', () => {
    const d = damaged(() => {});
    const bytes = readFileSync(file);
    writeFileSync(join(d, 'model.safetensors'), bytes.subarray(0, bytes.length - 1000));
    assert.throws(
      () => loadModel(d),
      (e: Error) => e.message.includes(join(d, 'model.safetensors')),
    );
  });
  const prior = [...readSafetensors(file).tensors.keys()].find((n) => n.endsWith('prior.keys_low'))!.slice(0, -'keys_low'.length);
  it('stores the priors compactly (U16 key halves, U8 codes), and refuses a damaged encoding', () => {
    const { dtypes } = readSafetensors(file);
    assert.equal(dtypes.get(`${prior}keys_low`), 'U16');
    assert.equal(dtypes.get(`${prior}codes`), 'U8');
    assert.ok(!dtypes.has(`${prior}keys`) && !dtypes.has(`${prior}values`));
    fails(
      damaged((t) => {
        const c = t.get(`${prior}codes`) as PackedTensor;
        const d = c.data.slice();
        d[3] = 250;
        t.set(`${prior}codes`, { ...c, data: d } as PackedTensor);
      }),
      new RegExp(`"${prior.replaceAll('.', '\\.')}codes"\\[3\\] is 250, but "${prior.replaceAll('.', '\\.')}levels" has \\d+ values`),
    );
    fails(
      damaged((t) => {
        const h = (t.get(`${prior}keys_high`) as Tensor).i32.slice();
        h[0] += 1;
        t.set(`${prior}keys_high`, new Tensor(h, [h.length]));
      }),
      /keys_high"\[0\] is \d+: the counts must be >= 0 and sum to the \d+ entries of/,
    );
    fails(
      damaged((t) => t.delete(`${prior}keys_high`)),
      /keys_low" has no ".*prior\.keys_high" beside it/,
    );
    fails(
      damaged((t) => t.set(`${prior}levels`, new Tensor(new Int32Array(3), [3]))),
      /levels" must be F32, not I32/,
    );
  });
  it('training a quantized parameter drops its int8 form (it would go stale)', () => {
    const p = q.namedParameters().find(([n]) => n === w)![1];
    assert.ok(int8Of(p));
    p.requiresGrad = true;
    new AdamW([p], { lr: 1e-3 });
    assert.equal(int8Of(p), undefined);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
});
