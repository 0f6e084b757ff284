// The buffer pool's cap (engine/storage.ts setPoolLimit): buffers given back are kept up to the
// cap, a lower cap empties a pool over it, and a nonsense cap is refused; dropout's masks and
// attention's probabilities go back to it once their backward has run; and a training step of an
// encoder block, once warm, takes all its memory from the pool (residual adds share their
// gradient between two inputs, and that buffer too goes back once both are done with it), as does
// a Switch layer's (whose reshapes put two Tensors over one buffer).

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as E from '../../src/engine/index.js';
import { AdamW, Rng } from '../../src/engine/index.js';
import { record } from '../../src/engine/autograd.js';
import { Tensor } from '../../src/engine/tensor.js';
import { EncoderBlock } from '../../src/nn/index.js';
import { SwitchFFN, auxLoss } from '../../src/sparse/index.js';
import { switchLayerSchema } from '../../src/sparse/schema.js';
import {
  TRAINING_POOL_MB,
  allocatedFloats,
  clearPool,
  emptyF32,
  emptyMask,
  pooledFloats,
  release,
  releaseMask,
  setPoolLimit,
} from '../../src/engine/storage.js';

/** Two steps to warm the pool, then three that must take all their memory from it. */
function assertWarmStepsPooled(step: () => void): void {
  step();
  step();
  const before = allocatedFloats();
  for (let i = 0; i < 3; i++) step();
  assert.equal(allocatedFloats() - before, 0, 'a warm step allocates nothing outside the pool');
}

describe('the buffer pool', () => {
  after(() => setPoolLimit(Number(process.env.PATHWISE_POOL_MB ?? TRAINING_POOL_MB)));

  it('keeps released buffers up to its cap; a lower cap empties it; a negative one is refused', () => {
    clearPool();
    setPoolLimit(1); // 262,144 floats
    release(emptyF32(100_000));
    const kept = pooledFloats();
    assert.ok(kept >= 100_000 && kept < 2 * 100_000, `one buffer of 100,000 floats' class kept (${kept})`);
    release(emptyF32(200_000)); // would pass the cap: not kept
    assert.equal(pooledFloats(), kept);
    setPoolLimit(0);
    assert.equal(pooledFloats(), 0);
    release(emptyF32(5000));
    assert.equal(pooledFloats(), 0, 'a cap of 0 keeps nothing');
    assert.throws(() => setPoolLimit(-1), /setPoolLimit: a size in MiB >= 0, got -1/);
  });

  it('takes masks from the pool and gets them back', () => {
    clearPool();
    setPoolLimit(64);
    const m = emptyMask(40_000);
    assert.equal(m.length, 40_000);
    releaseMask(m);
    const kept = pooledFloats();
    assert.ok(kept >= 10_000 && kept < 20_000, `the mask's 10,000 floats' class kept (${kept})`);
    const again = emptyMask(40_000);
    assert.equal(again.buffer, m.buffer, 'the next mask of that size reuses the buffer');
    assert.equal(pooledFloats(), 0);
    releaseMask(new Uint8Array(100)); // small: not pooled, no error
    assert.equal(pooledFloats(), 0);
  });

  it("gives dropout's mask and attention's probabilities back after backward", () => {
    const rng = new Rng(1);
    const x = E.randn([64, 256], rng, 1, true);
    clearPool();
    setPoolLimit(64);
    const y = E.dropout(x, 0.5, rng);
    const before = pooledFloats();
    E.sum(y).backward();
    // Back: the gradient of y that sum made (16,384 floats) and the mask (16,384 bytes = 4,096
    // floats); not x.grad, which x keeps.
    assert.ok(pooledFloats() - before >= 16_384 + 4096, `mask back in the pool (${before} -> ${pooledFloats()})`);

    const qkv = E.randn([2, 32, 96], rng, 1, true);
    clearPool();
    const a = E.selfAttention(qkv, { heads: 2, mask: null, dropout: 0.1, rng });
    E.sum(a).backward();
    // P and its dropped-out copy, 2 x 2 x 32 x 32 floats each, and the mask.
    assert.ok(pooledFloats() >= 2 * 4096 + 1024, `probabilities back in the pool (${pooledFloats()})`);
  });

  it('gives a gradient shared by a residual add back once both inputs have used it', () => {
    const rng = new Rng(2);
    const w = E.randn([256, 256], rng, 0.05, true);
    const x = E.randn([64, 256], rng, 1, true);
    clearPool();
    setPoolLimit(64);
    // y = h + h W with h = x W: add hands one buffer to h and to h W; h then gathers a second
    // gradient from the product, in place into that buffer once the product's backward is done.
    const run = () => {
      const h = E.matmul(x, w);
      E.sum(E.add(h, E.matmul(h, w))).backward(undefined, { freeActivations: true });
      release(w.grad!);
      release(x.grad!);
      w.grad = null;
      x.grad = null;
    };
    run();
    const before = allocatedFloats();
    for (let i = 0; i < 3; i++) run();
    assert.equal(allocatedFloats() - before, 0, 'warm steps allocate nothing outside the pool');
  });

  it('hands back a gradient returned for an input that wants none, once', () => {
    const rng = new Rng(4);
    const w = E.randn([64, 64], rng, 1, true);
    const data = E.randn([64, 64], rng);
    // An op whose backward returns a fresh buffer for each input, wanted or not, and one buffer
    // for two inputs that want none: each must go back to the pool, the shared one only once.
    const both = (a: Tensor, b: Tensor, c: Tensor) =>
      record(new Tensor(emptyF32(a.size), a.shape), 'both', [a, b, c], (g) => {
        const fresh = () => {
          const f = emptyF32(g.length);
          f.set(g);
          return f;
        };
        const shared = fresh();
        return [fresh(), shared, shared];
      });
    clearPool();
    setPoolLimit(64);
    const run = () => {
      E.sum(both(w, data, data)).backward(undefined, { freeActivations: true });
      release(w.grad!);
      w.grad = null;
    };
    run();
    const before = allocatedFloats();
    for (let i = 0; i < 3; i++) run();
    assert.equal(allocatedFloats() - before, 0, 'the unwanted gradient went back to the pool');
    // Every buffer in the pool now is one of 4,096 floats: none may be there twice.
    const seen = new Set<ArrayBufferLike>();
    while (pooledFloats() > 0) {
      const b = emptyF32(4096).buffer;
      assert.ok(!seen.has(b), 'a buffer was handed back twice');
      seen.add(b);
    }
  });

  it('runs a warm encoder-block training step on pooled memory alone', () => {
    const rng = new Rng(3);
    const block = new EncoderBlock({ dModel: 64, heads: 4, ffn: 256, activation: 'gelu', dropout: 0.1, layerNormEps: 1e-5, initStd: 0.02 }, rng);
    const x = E.randn([4, 32, 64], rng);
    const target = E.randn([4, 32, 64], rng);
    const opt = new AdamW(block.parameters(), { lr: 1e-3 });
    clearPool();
    setPoolLimit(64);
    const step = () => {
      opt.zeroGrad({ recycle: true });
      const loss = E.mse(block.forward(x, null), target);
      loss.backward(undefined, { freeActivations: true });
      opt.step();
    };
    assertWarmStepsPooled(step);
  });

  // The Switch layer reshapes its combined output back to the input's shape and gathers its gates
  // from a reshape of the router's probabilities: each buffer is seen by two Tensors. Autograd
  // hands such a buffer back once its walk has passed both; before, each step lost them to the GC.
  it('runs a warm Switch-layer training step on pooled memory alone', () => {
    const rng = new Rng(5);
    const layer = new SwitchFFN(
      // 16 experts of d_model 64 and 1,024 tokens: the bias gradients (16 x 64) and the router's
      // top-k values (1,024) are pool-sized too.
      switchLayerSchema.parse({ experts: 16, capacityFactor: 1.25, evalCapacityFactor: 2, jitter: 0.01, expertDropout: 0.1 }),
      64,
      128,
      'gelu',
      rng,
      0.02,
    );
    const x = E.randn([4, 256, 64], rng, 1, true);
    const up = E.randn([4, 256, 64], rng);
    const opt = new AdamW([x, ...layer.parameters()], { lr: 1e-3 });
    clearPool();
    setPoolLimit(64);
    const step = () => {
      opt.zeroGrad({ recycle: true });
      E.add(E.sum(E.mul(layer.forward(x), up)), auxLoss(layer)!).backward(undefined, { freeActivations: true });
      opt.step();
    };
    assertWarmStepsPooled(step);
  });
});
