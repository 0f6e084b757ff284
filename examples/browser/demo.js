// One exported Pathwise task (`pathwise export MODEL --format onnx`), run in the page by
// transformers.js and onnxruntime-web's WebAssembly: nothing is fetched from outside this origin
// (serve.mjs serves the model under /models/ and the libraries under /vendor/).
//
// ?task=NAME picks the task folder; without it, the first task the server lists.
// window.classify(texts) gives every label with its score for each text (a test calls it), and
// document.body.dataset.ready is '1' once the model is loaded ('error' with dataset.error set if not).

import { AutoModelForSequenceClassification, AutoTokenizer, Tensor, env } from '/vendor/transformers.js';
// Pathwise's own word hashing, the very code training ran (dist/src/export/lexical_inputs.js).
import { lexicalInputs } from '/pathwise/export/lexical_inputs.js';

const $ = (id) => document.getElementById(id);
const status = $('status');

function fail(message) {
  status.textContent = message;
  status.className = 'error';
  document.body.dataset.error = message;
  document.body.dataset.ready = 'error';
}

async function taskName() {
  const asked = new URLSearchParams(location.search).get('task');
  if (asked !== null) return asked;
  const { tasks } = await (await fetch('/tasks.json')).json();
  if (!tasks.length) throw new Error('the export folder holds no task (make one with pathwise export MODEL --format onnx --out DIR)');
  return tasks[0];
}

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = '/models/';
// The server sends no-store already; the Cache API would otherwise keep an older export's files.
env.useBrowserCache = false;
// transformers.js's browser bundle runs onnxruntime-web's asyncify build (the one that can also
// drive WebGPU); its default location is a CDN, so it is pointed at this server's copy.
env.backends.onnx.wasm.wasmPaths = {
  mjs: new URL('/vendor/ort/ort-wasm-simd-threaded.asyncify.mjs', location.href).href,
  wasm: new URL('/vendor/ort/ort-wasm-simd-threaded.asyncify.wasm', location.href).href,
};
// One thread: more would need SharedArrayBuffer, so cross-origin isolation, which a plain static
// server does not give.
env.backends.onnx.wasm.numThreads = 1;

async function load() {
  const task = await taskName();
  // Pathwise's own rule for task names (src/util/schema.ts NAME_PATTERN).
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(task)) throw new Error(`?task=${task}: not a task name`);
  const res = await fetch(`/models/${encodeURIComponent(task)}/config.json`);
  if (!res.ok) throw new Error(`no exported task "${task}" under /models/ (HTTP ${res.status})`);
  const config = await res.json();
  const pw = config.pathwise ?? {};
  if (pw.type !== 'classification') throw new Error(`task "${task}" is ${pw.type ?? 'not a Pathwise export'}; this page classifies text`);
  // A head with an n-gram bag or a Naive Bayes prior reads inputs hashed from the words
  // (lexical_inputs.js); the prior's counted buckets come in pathwise_prior.json.
  let prior = null;
  if (pw.prior) {
    const r = await fetch(`/models/${encodeURIComponent(task)}/${pw.prior.file}`);
    if (!r.ok) throw new Error(`task "${task}": no ${pw.prior.file} (HTTP ${r.status})`);
    prior = { buckets: pw.prior.buckets, seen: (await r.json()).seen };
  }
  const spec = { lexical: pw.lexical ? { buckets: pw.lexical.buckets, ngrams: pw.lexical.ngrams } : null, prior };
  status.textContent = `Loading task “${task}”…`;
  const tokenizer = await AutoTokenizer.from_pretrained(task);
  const model = await AutoModelForSequenceClassification.from_pretrained(task, { dtype: 'fp32', device: 'wasm' });
  const labels = pw.labels;
  /** Every label with its score (softmax of the logits), best first, for each text. */
  const classifier = async (texts) => {
    const enc = tokenizer(texts, { padding: true, truncation: true });
    const extra = Object.fromEntries(
      Object.entries(
        lexicalInputs(
          texts.map((text) => ({ text })),
          spec,
        ),
      ).map(([k, v]) => [k, new Tensor('int64', v.data, v.dims)]),
    );
    const { logits } = await model({ ...enc, ...extra });
    const [B, C] = logits.dims;
    const z = logits.data;
    return Array.from({ length: B }, (_, b) => {
      const row = Array.from(z.subarray(b * C, (b + 1) * C));
      const max = Math.max(...row);
      const e = row.map((v) => Math.exp(v - max));
      const sum = e.reduce((a, v) => a + v, 0);
      return labels.map((label, c) => ({ label, score: e[c] / sum })).sort((a, b2) => b2.score - a.score);
    });
  };
  return { task, classifier, labels };
}

async function main() {
  const { task, classifier, labels } = await load();

  /** Every label with its score, best first, for each text. */
  const classify = async (texts) => {
    if (!texts.length) return [];
    return classifier(texts);
  };
  window.classify = classify;

  const input = $('text');
  const button = $('go');
  const show = (text, scores) => {
    const list = $('labels');
    list.replaceChildren(
      ...scores.map(({ label, score }) => {
        const li = document.createElement('li');
        const name = document.createElement('span');
        name.className = 'label';
        name.textContent = label;
        const bar = document.createElement('div');
        bar.className = 'bar';
        bar.style.width = `${(score * 100).toFixed(1)}%`;
        const value = document.createElement('span');
        value.className = 'score';
        value.textContent = score.toFixed(4);
        li.append(name, bar, value);
        return li;
      }),
    );
    $('result').dataset.text = text;
  };
  $('form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    button.disabled = true;
    try {
      const [scores] = await classify([text]);
      show(text, scores);
    } catch (err) {
      fail(`classifying failed: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  });
  input.disabled = false;
  button.disabled = false;
  input.focus();
  status.textContent = `Task “${task}”: labels ${labels.join(', ')}. Everything runs in this page.`;
  document.body.dataset.ready = '1';
}

main().catch((err) => fail(`The model did not load: ${err.message}`));
