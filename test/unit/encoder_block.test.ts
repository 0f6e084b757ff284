// One whole pre-LN Transformer encoder block against PyTorch (nn.TransformerEncoderLayer with
// norm_first=True, cross-checked in tools/make_fixtures.py): output and every gradient.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, Tensor, paddingMask } from '../../src/engine/index.js';
import { EncoderBlock } from '../../src/nn/index.js';
import { assertClose, describeEachBackend, fromFx, loadFixture, type FxTensor } from '../helpers.js';

interface Fx {
  config: { B: number; T: number; dModel: number; heads: number; ffn: number; eps: number };
  inputs: { x: FxTensor; padMask: FxTensor };
  params: Record<string, FxTensor>;
  upstream: FxTensor;
  outputs: { y: FxTensor };
  grads: Record<string, FxTensor>;
}
const fx = loadFixture<Fx>('engine/encoder_block.json');

describeEachBackend('encoder block vs PyTorch', () => {
  it('forward output and all parameter / input gradients match', () => {
    const { dModel, heads, ffn, eps } = fx.config;
    const block = new EncoderBlock({ dModel, heads, ffn, activation: 'gelu', dropout: 0, layerNormEps: eps, initStd: 0.02 }, new Rng(0));
    const names = block
      .namedParameters()
      .map(([n]) => n)
      .sort();
    assert.deepEqual(names, Object.keys(fx.params).sort(), 'parameter names follow the documented layout');
    block.loadParameters(Object.fromEntries(Object.entries(fx.params).map(([k, v]) => [k, Float32Array.from(v.data)])));
    const x = fromFx(fx.inputs.x, true);
    const mask = paddingMask(fromFx(fx.inputs.padMask));
    const y = block.forward(x, mask);
    assertClose(y.data, fx.outputs.y.data, 'y', { rtol: 1e-4, atol: 1e-5 });
    y.backward(Float32Array.from(fx.upstream.data));
    assertClose(x.grad!, fx.grads.x.data, 'dx', { rtol: 1e-4, atol: 1e-5 });
    for (const [name, p] of block.namedParameters()) {
      assert.ok(p.grad, `no gradient for ${name}`);
      assertClose(p.grad!, fx.grads[name].data, `d ${name}`, { rtol: 1e-4, atol: 1e-5 });
    }
  });

  it('a fully padded sequence produces finite outputs and gradients', () => {
    const block = new EncoderBlock({ dModel: 8, heads: 2, ffn: 16, activation: 'gelu', dropout: 0.1, layerNormEps: 1e-5, initStd: 0.2 }, new Rng(1));
    const rng = new Rng(2);
    const x = new Tensor(
      Float32Array.from({ length: 2 * 3 * 8 }, () => rng.normal()),
      [2, 3, 8],
      true,
    );
    const keep = new Tensor(Int32Array.from([1, 1, 0, 0, 0, 0]), [2, 3]);
    const y = block.forward(x, paddingMask(keep));
    assert.ok(y.data.every(Number.isFinite), 'outputs finite');
    y.backward(new Float32Array(y.size).fill(1));
    assert.ok(x.grad!.every(Number.isFinite), 'gradients finite');
  });
});
