// Training the encoder block end to end: reproducible from the seed (bit for bit, with dropout),
// the buffer pool (and freeing activations into it) changes nothing, the loss falls, and both backends follow the same curve.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import * as E from '../../src/engine/index.js';
import { AdamW, Rng, Tensor, availableBackends, clipGradNorm, lrSchedule, withBackend } from '../../src/engine/index.js';
import { clearPool, pooledFloats } from '../../src/engine/storage.js';
import { EncoderBlock } from '../../src/nn/index.js';
import { assertClose } from '../helpers.js';

// Batches of 10, 7 and 12 positions in turn (as padded text batches vary), so pooled buffers are
// reused across sizes. With freeActivations, activations go back to the pool during backward and
// gradients at zeroGrad.
function train(steps: number, seed = 0, freeActivations = false): number[] {
  const rng = new Rng(seed);
  const block = new EncoderBlock({ dModel: 32, heads: 4, ffn: 64, activation: 'gelu', dropout: 0.1, layerNormEps: 1e-5, initStd: 0.1 }, rng);
  const batches = [10, 7, 12].map((T) => {
    const keep = new Int32Array(4 * T).fill(1);
    keep.fill(0, 4 * T - 4, 4 * T);
    return { x: E.randn([4, T, 32], rng), target: E.randn([4, T, 32], rng, 0.5), mask: E.paddingMask(new Tensor(keep, [4, T])) };
  });
  const opt = new AdamW(block.parameters(), { lr: 3e-3, weightDecay: 0.01 });
  const sched = lrSchedule({ kind: 'cosine', warmupSteps: 3, totalSteps: steps });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const { x, target, mask } = batches[s % batches.length];
    opt.zeroGrad({ recycle: freeActivations }); // as Pathwise's trainers do
    const loss = E.mse(block.forward(x, mask), target);
    losses.push(loss.item());
    loss.backward(undefined, { freeActivations });
    clipGradNorm(block.parameters(), 1.0);
    opt.step(3e-3 * sched(s));
  }
  return losses;
}

it('training is reproducible bit for bit from the seed, with or without a warm buffer pool', () => {
  clearPool();
  const a = train(30);
  const b = train(30); // the pool is now warm with recycled buffers of every size
  assert.deepEqual(b, a);
  assert.notDeepEqual(train(30, 1), a, 'another seed gives another run');
  const mean3 = (xs: number[]) => (xs[0] + xs[1] + xs[2]) / 3; // one round of the three batches
  assert.ok(mean3(a.slice(-3)) < 0.75 * mean3(a), `loss falls: ${mean3(a)} -> ${mean3(a.slice(-3))}`);
});

it('freeing activations during backward and recycling gradients change no number of a training run', () => {
  clearPool();
  const plain = train(30);
  const freed = train(30, 0, true);
  assert.deepEqual(freed, plain);
  assert.ok(pooledFloats() > 0, 'activations went back to the pool');
  assert.deepEqual(train(30, 0, true), plain, 'and again, from a warm pool');
});

it('both backends follow the same training curve', { skip: availableBackends().length < 2 && 'native addon not built' }, () => {
  const native = withBackend('native', () => train(15));
  const ts = withBackend('ts', () => train(15));
  assertClose(ts, native, 'loss curve ts vs native', { rtol: 1e-3, atol: 1e-5 });
});
