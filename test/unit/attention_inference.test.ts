// The fused inference attention kernel (kernels.ts, attentionInference) and selfAttention's
// no-gradient path that uses it:
//  * both backends against a naive float64 reference written here, over T in {1, 5, 17, 64, 128,
//    200}, Dh in {1, 7, 16, 64} (and 80, 100, 130), 1 and 4 heads, batches of 1 and 3, no mask, padding masks
//    (one sequence fully padded), masks with -Infinity in the middle and finite values, causal
//    or not: within 2e-6 relative (of sum_j p_j |v_j[d]| (1 + a_j), a_j the size of score j's
//    terms: the scale float32 arithmetic works at; the worst seen is ~1.5e-7);
//  * native against the TS twin within 1e-6 of the same (worst seen ~3e-8);
//  * masked keys are skipped: a key masked in the middle gives bit for bit what deleting it gives;
//    no visible key gives zeros, a NaN score a NaN row;
//  * 1 and 2 threads give the same bits; the binding (and the twin) reject bad arguments before
//    writing anything;
//  * selfAttention: the inference path is the kernel, and agrees with the training path (same
//    op, qkv requiring a gradient); a padded batch's real positions equal bit for bit the same
//    sequences packed (segments).

import test, { it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, Tensor, blas, paddingMask, selfAttention } from '../../src/engine/index.js';
import { K as currentKernels } from '../../src/engine/backend.js';
import type { Kernels } from '../../src/engine/kernels.js';
import { tsKernels } from '../../src/engine/kernels_ts.js';
import { loadNativeKernels } from '../../src/engine/kernels_native.js';
import { assertClose, describeEachBackend } from '../helpers.js';

const loaded = loadNativeKernels();
const NK = loaded.kernels;
const skipNative: string | false = NK ? false : `native addon unavailable: ${loaded.error}`;
const TS = tsKernels;
const BACKENDS: [string, Kernels][] = NK
  ? [
      ['ts', TS],
      ['native', NK],
    ]
  : [['ts', TS]];

function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => scale * r.normal());
}

interface Case {
  batch: number;
  T: number;
  H: number;
  Dh: number;
  causal: boolean;
  mask: Float32Array | null;
  X: Float32Array;
  label: string;
}

type MaskKind = 'none' | 'padding' | 'middle';

/** Padding: sequence b keeps its first lens[b] keys (the second of three is fully padded). Middle: -Infinity and finite values scattered. */
function makeMask(kind: MaskKind, batch: number, T: number, seed: number): Float32Array | null {
  if (kind === 'none') return null;
  const m = new Float32Array(batch * T);
  const r = new Rng(seed);
  for (let b = 0; b < batch; b++) {
    if (kind === 'padding') {
      const len = batch === 3 && b === 1 ? 0 : Math.max(1, Math.ceil(T * (b === 0 ? 1 : 0.6)) - b);
      for (let j = len; j < T; j++) m[b * T + j] = -Infinity;
    } else {
      for (let j = 0; j < T; j++) {
        const u = r.uniform();
        m[b * T + j] = u < 0.3 ? -Infinity : u < 0.45 ? -2 * r.uniform() : 0;
      }
      if (T > 2) m[b * T + (T >> 1)] = -Infinity;
    }
  }
  return m;
}

function makeCase(batch: number, T: number, H: number, Dh: number, causal: boolean, kind: MaskKind, seed: number): Case {
  const X = randn(batch * T * 3 * H * Dh, seed, 1.5);
  const mask = makeMask(kind, batch, T, seed + 1);
  return { batch, T, H, Dh, causal, mask, X, label: `batch=${batch} T=${T} H=${H} Dh=${Dh} mask=${kind}${causal ? ' causal' : ''}` };
}

/**
 * float64 reference: ctx and, per element, the scale of what float32 arithmetic can promise:
 * sum_j p_j |v_j[d]| (1 + a_j), a_j = sum_d |q[d] k_j[d]| / sqrt(Dh) the size of score j's terms
 * (an error of u a_j in a score moves p_j by that much relatively).
 */
function reference(c: Case): { ctx: Float64Array; scale: Float64Array } {
  const { batch, T, H, Dh, causal, mask, X } = c;
  const D = H * Dh;
  const D3 = 3 * D;
  const ctx = new Float64Array(batch * T * D);
  const scale = new Float64Array(batch * T * D);
  const s = new Float64Array(T);
  const a = new Float64Array(T);
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < T; i++) {
        const o = (b * T + i) * D + h * Dh;
        const q = (b * T + i) * D3 + h * Dh;
        let mx = -Infinity;
        a.fill(0);
        for (let j = 0; j < T; j++) {
          const mv = mask ? mask[b * T + j] : 0;
          if ((causal && j > i) || mv === -Infinity) {
            s[j] = -Infinity;
            continue;
          }
          const k = (b * T + j) * D3 + D + h * Dh;
          let dot = 0;
          for (let d = 0; d < Dh; d++) {
            dot += X[q + d] * X[k + d];
            a[j] += Math.abs(X[q + d] * X[k + d]) / Math.sqrt(Dh);
          }
          s[j] = dot / Math.sqrt(Dh) + mv;
          mx = Math.max(mx, s[j]);
        }
        if (mx === -Infinity) continue; // no visible key: zeros
        let sum = 0;
        for (let j = 0; j < T; j++) {
          s[j] = s[j] === -Infinity ? 0 : Math.exp(s[j] - mx);
          sum += s[j];
        }
        for (let j = 0; j < T; j++) {
          if (s[j] === 0) continue;
          const p = s[j] / sum;
          const v = (b * T + j) * D3 + 2 * D + h * Dh;
          for (let d = 0; d < Dh; d++) {
            ctx[o + d] += p * X[v + d];
            scale[o + d] += p * Math.abs(X[v + d]) * (1 + a[j]);
          }
        }
      }
  return { ctx, scale };
}

function run(k: Kernels, c: Case): Float32Array {
  const ctx = new Float32Array(c.batch * c.T * c.H * c.Dh).fill(Number.NaN); // every element must be written
  k.attentionInference(ctx, c.X, c.batch, c.T, c.H, c.Dh, c.mask, c.causal);
  return ctx;
}

function assertWithin(got: Float32Array, want: ArrayLike<number>, scale: Float64Array, tol: number, label: string): void {
  let worst = -1;
  let worstRatio = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    const lim = tol * scale[i];
    if (!(err <= lim)) {
      const ratio = err / lim;
      if (worst < 0 || !(ratio <= worstRatio)) {
        worst = i;
        worstRatio = ratio;
      }
    }
  }
  if (worst >= 0) {
    assert.fail(
      `${label}: element ${worst} is ${got[worst]}, expected ${want[worst]} (error ${Math.abs(got[worst] - want[worst])}, ${worstRatio.toFixed(2)}x the tolerance ${tol} x ${scale[worst]})`,
    );
  }
}

function sameBits(a: Float32Array, b: Float32Array, label: string): void {
  assert.equal(a.length, b.length, `${label}: lengths`);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) {
    if (ua[i] !== ub[i]) assert.fail(`${label}: element ${i} is ${a[i]} against ${b[i]}`);
  }
}

// Every T x Dh, causal and not; heads, batch and mask kind rotate so that each meets the others.
const CASES: Case[] = [];
{
  const kinds: MaskKind[] = ['none', 'padding', 'middle'];
  let n = 0;
  for (const T of [1, 5, 17, 64, 128, 200])
    for (const Dh of [1, 7, 16, 64])
      for (const causal of [false, true]) {
        const H = n % 2 === 0 ? 4 : 1;
        const batch = T >= 128 && Dh === 64 && H === 4 ? 1 : Math.floor(n / 2) % 2 === 0 ? 3 : 1;
        CASES.push(makeCase(batch, T, H, Dh, causal, kinds[n % 3], 100 + n));
        n++;
      }
  // head sizes past one block of d (64 natively), with a partial last vector
  CASES.push(makeCase(2, 37, 2, 80, true, 'middle', 400), makeCase(1, 70, 1, 130, false, 'padding', 401), makeCase(3, 19, 2, 100, false, 'none', 402));
  // every mask kind with and without causal on one mid-sized shape, and a fully padded batch
  for (const kind of kinds) for (const causal of [false, true]) CASES.push(makeCase(3, 33, 4, 16, causal, kind, 500 + CASES.length));
  const allPadded = makeCase(2, 9, 2, 8, false, 'none', 900);
  allPadded.mask = new Float32Array(2 * 9).fill(-Infinity);
  allPadded.label = 'every key masked';
  CASES.push(allPadded);
}

test('attentionInference: both backends within 2e-6 of a float64 reference', () => {
  for (const c of CASES) {
    const ref = reference(c);
    for (const [name, k] of BACKENDS) assertWithin(run(k, c), ref.ctx, ref.scale, 2e-6, `${name} ${c.label}`);
  }
});

test('attentionInference: native within 1e-6 of the TS twin', { skip: skipNative }, () => {
  for (const c of CASES) {
    const ref = reference(c);
    assertWithin(run(NK!, c), run(TS, c), ref.scale, 1e-6, c.label);
  }
});

test('attentionInference: a masked key is skipped: bit for bit what deleting it gives; no key: zeros', () => {
  const T = 23;
  const H = 2;
  const Dh = 19;
  const D3 = 3 * H * Dh;
  const X = randn(T * D3, 31);
  const drop = [0, 4, 5, 17, 22];
  const keep = [...Array(T).keys()].filter((j) => !drop.includes(j));
  const mask = new Float32Array(T);
  for (const j of drop) mask[j] = -Infinity;
  const Xk = new Float32Array(keep.length * D3);
  keep.forEach((j, r) => Xk.set(X.subarray(j * D3, (j + 1) * D3), r * D3));
  for (const [name, k] of BACKENDS) {
    const full = new Float32Array(T * H * Dh);
    k.attentionInference(full, X, 1, T, H, Dh, mask, false);
    const kept = new Float32Array(keep.length * H * Dh);
    k.attentionInference(kept, Xk, 1, keep.length, H, Dh, null, false);
    keep.forEach((j, r) => sameBits(full.subarray(j * H * Dh, (j + 1) * H * Dh), kept.subarray(r * H * Dh, (r + 1) * H * Dh), `${name} row ${j}`));
    // causal with the first keys masked: rows before the first visible key see nothing
    const causalOut = new Float32Array(T * H * Dh).fill(7);
    k.attentionInference(causalOut, X, 1, T, H, Dh, mask, true);
    assert.ok(
      causalOut.subarray(0, H * Dh).every((v) => v === 0 && !Object.is(v, -0)),
      `${name}: row 0 sees no key`,
    );
    assert.ok(
      causalOut.subarray(H * Dh, 2 * H * Dh).some((v) => v !== 0),
      `${name}: row 1 sees key 1`,
    );
  }
});

test('attentionInference: a NaN score makes its row NaN, and only its row', () => {
  const T = 6;
  const H = 1;
  const Dh = 5;
  const X = randn(T * 3 * Dh, 41);
  X[2 * 3 * Dh + 1] = Number.NaN; // q of row 2
  for (const [name, k] of BACKENDS) {
    const out = new Float32Array(T * Dh);
    k.attentionInference(out, X, 1, T, H, Dh, null, false);
    for (let i = 0; i < T; i++) {
      const row = out.subarray(i * Dh, (i + 1) * Dh);
      assert.ok(i === 2 ? row.every(Number.isNaN) : row.every(Number.isFinite), `${name} row ${i}: ${row.join(', ')}`);
    }
  }
});

test('attentionInference: 1 and 2 threads give the same bits', { skip: skipNative }, () => {
  const prev = blas.threads();
  try {
    const cases = [
      makeCase(1, 200, 1, 64, false, 'none', 61), // few (b, h) pairs: query rows split
      makeCase(1, 129, 2, 7, true, 'middle', 62),
      makeCase(3, 128, 4, 64, true, 'padding', 63),
      makeCase(8, 64, 4, 16, false, 'middle', 64),
    ];
    for (const c of cases) {
      blas.setThreads(1);
      const one = run(NK!, c);
      blas.setThreads(2);
      const two = run(NK!, c);
      sameBits(two, one, c.label);
    }
  } finally {
    blas.setThreads(prev);
  }
});

test('attentionInference: bad arguments are rejected before anything is written', () => {
  const X = randn(2 * 4 * 3 * 6, 71);
  const m = new Float32Array(8);
  for (const [name, k] of BACKENDS) {
    const ctx = new Float32Array(2 * 4 * 6).fill(5);
    const call =
      (...a: unknown[]) =>
      () =>
        (k.attentionInference as (...x: unknown[]) => void)(...a);
    const bad: [() => void, ErrorConstructor, RegExp][] = [
      [call([...ctx], X, 2, 4, 2, 3, m, false), TypeError, /ctx must be a Float32Array/],
      [call(ctx, new Float64Array(X), 2, 4, 2, 3, m, false), TypeError, /X must be a Float32Array/],
      [call(ctx, X, 2, 4, 2, 3, new Int32Array(8), false), TypeError, /keyMask must be a Float32Array or null/],
      [call(ctx, X, 2, 0, 2, 3, m, false), RangeError, /must be positive/],
      [call(ctx, X, 2, 4, 2, 0, m, false), RangeError, /must be positive/],
      [call(ctx, X, 2, 4, 2.5, 3, m, false), RangeError, /H must be a non-negative integer/],
      [call(ctx, X, -1, 4, 2, 3, m, false), RangeError, /batch must be a non-negative integer/],
      [call(ctx, X.subarray(1), 2, 4, 2, 3, m, false), TypeError, /X is too short for the shape: needs 144 elements, has 143/],
      [call(ctx.subarray(1), X, 2, 4, 2, 3, m, false), TypeError, /ctx is too short for the shape: needs 48 elements, has 47/],
      [call(ctx, X, 2, 4, 2, 3, m.subarray(1), false), TypeError, /keyMask is too short for the shape: needs 8 elements, has 7/],
      [call(ctx, X, 2, 4, 2, 3, m, 1), TypeError, /causal must be a boolean/],
      [call(ctx, X, 2, 4, 2, 3, m), TypeError, name === 'native' ? /expected 8 arguments, got 7/ : /causal must be a boolean/],
    ];
    for (const [fn, type, msg] of bad) {
      assert.throws(fn, (e: Error) => e instanceof type && /^pathwise\.attentionInference: /.test(e.message) && msg.test(e.message), `${name}: ${msg}`);
      assert.ok(
        ctx.every((v) => v === 5),
        `${name}: ${msg} wrote to ctx`,
      );
    }
  }
});

// ============================================================================ selfAttention
describeEachBackend('selfAttention without a gradient', (backend) => {
  const H = 4;
  const Dh = 16;
  const D = H * Dh;
  const LENS = [9, 33, 1, 20];
  const B = LENS.length;
  const T = Math.max(...LENS);
  const N = LENS.reduce((a, b) => a + b, 0);
  const starts = LENS.map((_, i) => LENS.slice(0, i).reduce((a, b) => a + b, 0));
  const packedX = randn(N * 3 * D, 81);
  const paddedX = new Float32Array(B * T * 3 * D);
  const keep = new Int32Array(B * T);
  LENS.forEach((L, b) => {
    paddedX.set(packedX.subarray(starts[b] * 3 * D, (starts[b] + L) * 3 * D), b * T * 3 * D);
    keep.fill(1, b * T, b * T + L);
  });
  const mask = paddingMask(new Tensor(keep, [B, T]));

  for (const causal of [false, true]) {
    it(`${causal ? 'causal: ' : ''}is the kernel, and agrees with the training path`, () => {
      for (const m of [null, mask]) {
        const inf = selfAttention(new Tensor(paddedX, [B, T, 3 * D]), { heads: H, mask: m, causal }).f32;
        const direct = new Float32Array(B * T * D);
        currentKernels.attentionInference(direct, paddedX, B, T, H, Dh, m ? m.f32 : null, causal);
        sameBits(inf, direct, `${backend} mask=${m !== null}: the kernel`);
        const train = selfAttention(new Tensor(paddedX.slice(), [B, T, 3 * D], true), { heads: H, mask: m, causal, dropout: 0.1, training: false });
        assert.ok(train.requiresGrad, 'the training path records a gradient');
        assertClose(inf, train.f32, `${backend} mask=${m !== null}: inference against training`, { rtol: 1e-5, atol: 2e-6 });
      }
      const packedInf = selfAttention(new Tensor(packedX, [1, N, 3 * D]), { heads: H, segments: LENS, causal }).f32;
      const packedTrain = selfAttention(new Tensor(packedX.slice(), [1, N, 3 * D], true), { heads: H, segments: LENS, causal }).f32;
      assertClose(packedInf, packedTrain, `${backend} packed: inference against training`, { rtol: 1e-5, atol: 2e-6 });
    });

    it(`${causal ? 'causal: ' : ''}a padded batch's real positions equal the packed sequences bit for bit`, () => {
      const packed = selfAttention(new Tensor(packedX, [1, N, 3 * D]), { heads: H, segments: LENS, causal }).f32;
      const padded = selfAttention(new Tensor(paddedX, [B, T, 3 * D]), { heads: H, mask, causal }).f32;
      LENS.forEach((L, b) =>
        sameBits(padded.subarray(b * T * D, (b * T + L) * D), packed.subarray(starts[b] * D, (starts[b] + L) * D), `${backend} sequence ${b}`),
      );
    });
  }

  it('other mask shapes and dropout while training take the general path (and still work)', () => {
    const x = new Tensor(paddedX, [B, T, 3 * D]);
    const full = new Float32Array(B * H * T * T); // [B, H, T, T], not a key mask
    const viaFull = selfAttention(x, { heads: H, mask: new Tensor(full, [B, H, T, T]) }).f32;
    const noMask = selfAttention(x, { heads: H }).f32;
    assertClose(viaFull, noMask, `${backend} zero [B, H, T, T] mask`, { rtol: 1e-5, atol: 2e-6 });
  });
});
