// Packed self-attention (engine/ops/attention.ts, `segments`): sequences laid end to end with no
// padding, each attending within itself. Each sequence's context is bit for bit what it gets run
// alone (the same GEMMs over the same values), and what it gets padded in a batch with a padding
// mask (within 1e-6 on OpenBLAS, whose GEMM may round a longer row differently; exactly on the
// TypeScript kernels). Lengths that do not add up are refused.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, Tensor, paddingMask, selfAttention } from '../../src/engine/index.js';
import { assertClose, describeEachBackend } from '../helpers.js';

const H = 2;
const D = 8;
const LENS = [5, 1, 3, 7];

function random(n: number, seed: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => r.normal());
}

describeEachBackend('packed self-attention', (backend) => {
  const tol = backend === 'ts' ? 0 : 1e-6;
  const N = LENS.reduce((a, b) => a + b, 0);
  const qkv = random(N * 3 * D, 7);
  const starts = LENS.map((_, i) => LENS.slice(0, i).reduce((a, b) => a + b, 0));

  for (const causal of [false, true]) {
    it(`${causal ? 'causal: ' : ''}each segment gets what it gets alone, and what it gets padded with a mask`, () => {
      const packed = selfAttention(new Tensor(qkv, [1, N, 3 * D]), { heads: H, segments: LENS, causal }).f32;
      const T = Math.max(...LENS);
      const padded = new Float32Array(LENS.length * T * 3 * D);
      const keep = new Int32Array(LENS.length * T);
      LENS.forEach((L, b) => {
        const own = qkv.slice(starts[b] * 3 * D, (starts[b] + L) * 3 * D);
        const alone = selfAttention(new Tensor(own, [1, L, 3 * D]), { heads: H, causal }).f32;
        assertClose(packed.subarray(starts[b] * D, (starts[b] + L) * D), alone, `segment ${b} alone`, { atol: 0, rtol: 0 });
        padded.set(own, b * T * 3 * D);
        keep.fill(1, b * T, b * T + L);
      });
      const batch = selfAttention(new Tensor(padded, [LENS.length, T, 3 * D]), { heads: H, mask: paddingMask(new Tensor(keep, [LENS.length, T])), causal }).f32;
      LENS.forEach((L, b) =>
        assertClose(packed.subarray(starts[b] * D, (starts[b] + L) * D), batch.subarray(b * T * D, (b * T + L) * D), `segment ${b} padded`, {
          atol: tol,
          rtol: 0,
        }),
      );
    });
  }

  it('refuses lengths that do not cover the positions, a batch of rows, or a mask beside the segments', () => {
    const x = new Tensor(qkv, [1, N, 3 * D]);
    assert.throws(() => selfAttention(x, { heads: H, segments: [5, 1, 3] }), /segments sum to 9, qkv has 16 positions/);
    assert.throws(() => selfAttention(x, { heads: H, segments: [5, 0, 11] }), /segment lengths must be positive integers, got 0/);
    const two = new Tensor(qkv, [2, N / 2, 3 * D]);
    assert.throws(() => selfAttention(two, { heads: H, segments: [8] }), /packed segments need qkv \[1, N, 3D\]/);
    const mask = paddingMask(new Tensor(new Int32Array(N).fill(1), [1, N]));
    assert.throws(() => selfAttention(x, { heads: H, segments: LENS, mask }), /segments replace the padding mask/);
  });
});
