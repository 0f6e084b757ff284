// One exported Pathwise task (`pathwise export MODEL --format onnx`), run in the page by
// transformers.js and onnxruntime-web's WebAssembly: nothing is fetched from outside this origin
// (serve.mjs serves the model under /models/ and the libraries under /vendor/).
//
// ?task=NAME picks the task folder; without it, the first task the server lists.
// window.classify(texts) gives every label with its score for each text (a test calls it), and
// document.body.dataset.ready is '1' once the model is loaded ('error' with dataset.error set if not).

import { env, pipeline } from '/vendor/transformers.js';

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
  // A head with an n-gram bag or a Naive Bayes prior needs inputs transformers.js does not compute.
  const extra = (pw.inputs ?? []).map((i) => i.name).filter((n) => !['input_ids', 'attention_mask', 'token_type_ids'].includes(n));
  if (extra.length) throw new Error(`task "${task}" also reads ${extra.join(', ')} (a lexical head), which transformers.js does not compute`);
  status.textContent = `Loading task “${task}”…`;
  const classifier = await pipeline('text-classification', task, { dtype: 'fp32', device: 'wasm' });
  return { task, classifier };
}

async function main() {
  const { task, classifier } = await load();

  /** Every label with its score, best first, for each text. */
  const classify = async (texts) => {
    if (!texts.length) return [];
    return classifier(texts, { top_k: null });
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
  status.textContent = `Task “${task}”: labels ${Object.values(classifier.model.config.id2label).join(', ')}. Everything runs in this page.`;
  document.body.dataset.ready = '1';
}

main().catch((err) => fail(`The model did not load: ${err.message}`));
