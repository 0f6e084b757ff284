// Importing a Hugging Face BERT checkpoint (written by tools/make_fixtures.py from a PyTorch
// BERT with HF parameter names) and matching PyTorch's hidden states and MLM logits.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, noGrad, paddingMask } from '../../src/engine/index.js';
import { loadPretrained } from '../../src/model/index.js';
import { ROOT, assertClose, describeEachBackend, fromFx, loadFixture, type FxTensor } from '../helpers.js';

interface Io {
  inputs: { input_ids: FxTensor; token_type_ids: FxTensor; attention_mask: FxTensor };
  outputs: Record<'last_hidden_state' | 'mlm_logits' | 'last_hidden_state_f16' | 'mlm_logits_f16', FxTensor>;
}
const io = loadFixture<Io>('bert/io.json');
const BERT = join(ROOT, 'test', 'fixtures', 'bert');

function run(dir: string) {
  const { model, config, missing } = loadPretrained(dir);
  assert.equal(config.normPlacement, 'post');
  assert.deepEqual(missing, []);
  return noGrad(() => {
    const ids = fromFx(io.inputs.input_ids);
    const hidden = model.encoder.forward(ids, fromFx(io.inputs.token_type_ids), paddingMask(fromFx(io.inputs.attention_mask)));
    const [B, T] = ids.shape;
    const rows = new Tensor(
      Int32Array.from({ length: B * T }, (_, i) => i),
      [B * T],
    );
    return { hidden, logits: model.logitsAt(hidden, rows) };
  });
}

describeEachBackend('BERT checkpoint import', () => {
  it('F32 safetensors: hidden states and MLM logits match PyTorch', () => {
    const { hidden, logits } = run(BERT);
    assertClose(hidden.data, io.outputs.last_hidden_state.data, 'last_hidden_state', { rtol: 1e-4, atol: 2e-5 });
    assertClose(logits.data, io.outputs.mlm_logits.data, 'mlm_logits', { rtol: 1e-4, atol: 2e-5 });
  });

  it('F16 safetensors (converted on load) match PyTorch on the f16-rounded weights', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-bert16-'));
    try {
      copyFileSync(join(BERT, 'config.json'), join(dir, 'config.json'));
      copyFileSync(join(BERT, 'model_f16.safetensors'), join(dir, 'model.safetensors'));
      const { hidden, logits } = run(dir);
      assertClose(hidden.data, io.outputs.last_hidden_state_f16.data, 'last_hidden_state_f16', { rtol: 1e-4, atol: 2e-5 });
      assertClose(logits.data, io.outputs.mlm_logits_f16.data, 'mlm_logits_f16', { rtol: 1e-4, atol: 2e-5 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

it('pathwise export --dtype f16 rounds exactly as PyTorch does: the exported folder reproduces the F16 reference', () => {
  const root = mkdtempSync(join(tmpdir(), 'pw-export-'));
  try {
    const out = join(root, 'bert16');
    const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'export', BERT, '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(statSync(join(out, 'model.safetensors')).size < 0.6 * statSync(join(BERT, 'model.safetensors')).size);
    const { hidden, logits } = run(out);
    assertClose(hidden.data, io.outputs.last_hidden_state_f16.data, 'exported last_hidden_state', { rtol: 1e-4, atol: 2e-5 });
    assertClose(logits.data, io.outputs.mlm_logits_f16.data, 'exported mlm_logits', { rtol: 1e-4, atol: 2e-5 });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

it('a folder without config.json, or with a broken checkpoint, gets an error naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-bad-'));
  try {
    assert.throws(() => loadPretrained(dir), /no config\.json/);
    copyFileSync(join(BERT, 'config.json'), join(dir, 'config.json'));
    assert.throws(() => loadPretrained(dir), /model\.safetensors/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
