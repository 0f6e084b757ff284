// An exported task folder loads in transformers.js (@huggingface/transformers) from a local path,
// as a user elsewhere would load it: its pipeline tokenizes with our tokenizer.json and runs our
// graph, and its labels and scores equal Pathwise's own predictions.

import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env, pipeline } from '@huggingface/transformers';
import { loadModel } from '../../src/model/index.js';
import { cliSync, makeFolders, WORDS } from '../cli_folders.js';

test('transformers.js loads an exported classification task from a local path and scores as Pathwise does', async () => {
  const root = mkdtempSync(join(tmpdir(), 'pathwise-tjs-'));
  try {
    const { run } = makeFolders(root);
    const out = join(root, 'onnx');
    cliSync(root, 'export', run, '--format', 'onnx', '--out', out, '--task', 'toy');
    const config = JSON.parse(readFileSync(join(out, 'toy', 'config.json'), 'utf8'));
    // A head with no n-gram bag and no prior reads what a BERT classifier reads.
    assert.deepEqual(
      config.pathwise.inputs.map((i: { name: string }) => i.name),
      ['input_ids', 'attention_mask', 'token_type_ids'],
    );
    env.allowRemoteModels = false;
    env.localModelPath = `${out}/`;
    const classify = await pipeline('text-classification', 'toy', { dtype: 'fp32', device: 'cpu' });
    const texts = Array.from({ length: 12 }, (_, i) => `${WORDS[i]} ${WORDS[(i * 5) % WORDS.length]} film ${WORDS[(i * 3) % WORDS.length]}`);
    const theirs = (await classify(texts, { top_k: null })) as unknown as { label: string; score: number }[][];
    const ours = await loadModel(run).predict('toy', texts);
    texts.forEach((t, i) => {
      const p = ours[i] as { label: string; scores: Record<string, number> };
      const best = [...theirs[i]].sort((a, b) => b.score - a.score)[0];
      assert.equal(best.label, p.label, `"${t}": label`);
      for (const { label, score } of theirs[i]) assert.ok(Math.abs(score - p.scores[label]) < 1e-4, `"${t}": ${label} ${score} against ${p.scores[label]}`);
    });
    await classify.dispose();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
