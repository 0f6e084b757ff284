// Export benchmark: Pathwise's native forward pass against ONNX Runtime running the graph
// `pathwise export --format onnx` wrote for the same task (src/export/), on the same inputs:
//   onnxruntime-node (its CPU build, a dev dependency installed with its download skipped) and
//   onnxruntime-web (wasm, in Node, one thread), fp32 and int8 (`--int8`: the weights
//   `pathwise quantize` gives), at batch 1 × 128 and 32 × 128 tokens.
// Both native engines run on 2 threads (Pathwise's BLAS, ORT's intra-op pool). The model is the
// quickstart model's encoder with `--task`'s plain head (bench/common.ts plainFolder), inputs random
// token ids, every position a real token. Timing protocol (as bench:infer): the engines alternate
// in --slices short slices per shape, the order flipped every other slice, with a pause between
// engines so idle threads stop spinning; each figure is the median ms per forward over its slices.
// Then the quality figures on the task's real test set: the fp32 graph's largest logit difference
// from Pathwise's (max_abs_diff) and the int8 graph's argmax agreement with Pathwise's int8
// inference (int8_argmax_agreement).
// Prints one JSON line last (native_vs_ort_fp32: ORT-node's ms / Pathwise's at 32 × 128, > 1 when
// Pathwise is faster) and writes docs/results/export.json.
//
//   npm run bench:export [-- --model runs/quickstart/model --task sent --slices 8 --slice-seconds 0.4]

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { blas, inference } from '../src/engine/index.js';
import { loadModel } from '../src/model/index.js';
import { quantizeModel } from '../src/compress/index.js';
import { exportFeeds, exportOnnx, type Feeds } from '../src/export/index.js';
import { loadBuiltinTask } from '../src/tasks/builtin/index.js';
import type { Batch } from '../src/tasks/encode.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { ROOT, benchFlags, log, median, plainFolder, randomBatch } from './common.js';

const opt = benchFlags({
  model: { type: 'string', default: join(ROOT, 'runs', 'quickstart', 'model') },
  task: { type: 'string', default: 'sent' },
  slices: { type: 'number', default: 8, integer: true, min: 1 },
  'slice-seconds': { type: 'number', default: 0.4, min: 0 },
  'quality-examples': { type: 'number', default: 872, integer: true, min: 1 },
});
const MODEL = opt.model;
const TASK = opt.task;
const SLICES = opt.slices;
const SLICE_S = opt['slice-seconds'];
const QUALITY_N = opt['quality-examples'];
const THREADS = 2;
const SHAPES: [number, number][] = [
  [1, 128],
  [32, 128],
];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

const tmp = mkdtempSync(join(tmpdir(), 'pw-bench-export-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

/** B random sequences of T real tokens as a Pathwise batch (bench/common.ts) and as ORT feeds. */
function randomInputs(B: number, T: number, vocab: number, seed: number): { batch: Batch; feeds: Feeds } {
  const batch = randomBatch(B, T, vocab, seed);
  const feeds: Feeds = {
    input_ids: { type: 'int64', data: BigInt64Array.from(batch.ids.i32, (v) => BigInt(v)), dims: [B, T] },
    attention_mask: { type: 'int64', data: new BigInt64Array(B * T).fill(1n), dims: [B, T] },
    token_type_ids: { type: 'int64', data: new BigInt64Array(B * T), dims: [B, T] },
  };
  return { batch, feeds };
}

type Engine = { name: string; run: () => Promise<unknown> | unknown };

/** Median ms per call of each engine, the engines alternating in slices of about SLICE_S seconds. */
async function timeEngines(engines: Engine[]): Promise<Record<string, number>> {
  const times = new Map<string, number[]>(engines.map((e) => [e.name, []]));
  for (const e of engines) for (let i = 0; i < 3; i++) await e.run(); // warm-up
  for (let s = 0; s < SLICES; s++) {
    const order = s % 2 ? [...engines].reverse() : engines;
    for (const e of order) {
      const t0 = performance.now();
      do {
        const t = performance.now();
        await e.run();
        times.get(e.name)!.push(performance.now() - t);
      } while (performance.now() - t0 < SLICE_S * 1000);
      await sleep(250);
    }
  }
  return Object.fromEntries([...times].map(([k, v]) => [k, round(median(v))]));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function argmaxes(a: ArrayLike<number>, C: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < a.length / C; r++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (a[r * C + c] > a[r * C + best]) best = c;
    out.push(best);
  }
  return out;
}

async function main(): Promise<void> {
  blas.setThreads(THREADS);
  ortWeb.env.wasm.numThreads = 1;
  ortWeb.env.logLevel = 'error';
  const plain = join(tmp, 'plain');
  plainFolder(MODEL, TASK, plain);
  const fp32 = loadModel(plain);
  const int8 = loadModel(plain);
  quantizeModel(int8);
  const out = join(tmp, 'onnx');
  exportOnnx(fp32, out, { tasks: [TASK], int8Model: int8 });
  const files = { fp32: readFileSync(join(out, TASK, 'onnx', 'model.onnx')), int8: readFileSync(join(out, TASK, 'onnx', 'model_quantized.onnx')) };
  const nodeOpts: ortNode.InferenceSession.SessionOptions = {
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  const node = { fp32: await ortNode.InferenceSession.create(files.fp32, nodeOpts), int8: await ortNode.InferenceSession.create(files.int8, nodeOpts) };
  const web = await ortWeb.InferenceSession.create(files.fp32);
  const nodeFeeds = (f: Feeds) => Object.fromEntries(Object.entries(f).map(([k, v]) => [k, new ortNode.Tensor(v.type, v.data, v.dims)]));
  const webFeeds = (f: Feeds) => Object.fromEntries(Object.entries(f).map(([k, v]) => [k, new ortWeb.Tensor(v.type, v.data, v.dims)]));
  const paths = { fp32: fp32.taskPath(TASK), int8: int8.taskPath(TASK) };

  const ms: Record<string, Record<string, number>> = {};
  let maxDiffRandom = 0;
  for (const [B, T] of SHAPES) {
    const { batch, feeds } = randomInputs(B, T, fp32.tokenizer.vocabSize, B * 1000 + T);
    const nf = nodeFeeds(feeds);
    const wf = webFeeds(feeds);
    // Parity on this very batch before any timing.
    const ours = inference(() => paths.fp32.logits(batch)).f32.slice();
    const theirs = (await node.fp32.run(nf)).logits.data as Float32Array;
    maxDiffRandom = Math.max(maxDiffRandom, maxAbsDiff(ours, theirs));
    const engines: Engine[] = [
      { name: 'pathwise_fp32', run: () => inference(() => paths.fp32.logits(batch)) },
      { name: 'ort_node_fp32', run: () => node.fp32.run(nf) },
      { name: 'pathwise_int8', run: () => inference(() => paths.int8.logits(batch)) },
      { name: 'ort_node_int8', run: () => node.int8.run(nf) },
    ];
    // onnxruntime-web (wasm, one thread) is far slower; timed at batch 1 only, with fewer slices' worth of calls.
    if (B === 1) engines.push({ name: 'ort_web_fp32', run: () => web.run(wf) });
    ms[`${B}x${T}`] = await timeEngines(engines);
    log(`${B}x${T}: ${JSON.stringify(ms[`${B}x${T}`])}`);
  }

  // Quality on the task's real test set.
  const test = loadBuiltinTask(TASK).test.slice(0, QUALITY_N);
  const C = paths.fp32.spec.labels.length;
  let maxDiff = maxDiffRandom;
  let agree = 0;
  for (let i = 0; i < test.length; i += 32) {
    const exs = test.slice(i, i + 32);
    const ours = await paths.fp32.logitsOf(exs);
    const theirs = (await node.fp32.run(nodeFeeds(await exportFeeds(paths.fp32, exs)))).logits.data as Float32Array;
    maxDiff = Math.max(maxDiff, maxAbsDiff(ours, theirs));
    const ours8 = argmaxes(await paths.int8.logitsOf(exs), C);
    const theirs8 = argmaxes((await node.int8.run(nodeFeeds(await exportFeeds(paths.int8, exs)))).logits.data as Float32Array, C);
    agree += ours8.filter((a, k) => a === theirs8[k]).length;
  }
  const big = ms['32x128'];
  const one = ms['1x128'];
  const figures = {
    model: MODEL.replace(`${ROOT}/`, ''),
    task: TASK,
    threads: THREADS,
    ms,
    native_vs_ort_fp32: round(big.ort_node_fp32 / big.pathwise_fp32),
    native_vs_ort_fp32_batch1: round(one.ort_node_fp32 / one.pathwise_fp32),
    native_vs_ort_int8: round(big.ort_node_int8 / big.pathwise_int8),
    native_vs_ort_int8_batch1: round(one.ort_node_int8 / one.pathwise_int8),
    native_vs_ort_web_fp32_batch1: round(one.ort_web_fp32 / one.pathwise_fp32),
    max_abs_diff: maxDiff,
    int8_argmax_agreement: round(agree / test.length, 4),
    quality_examples: test.length,
    versions: { onnxruntime_node: ortNode.env.versions.node ?? null, onnxruntime_web: ortWeb.env.versions.web ?? null },
  };
  writeFileAtomic(join(ROOT, 'docs', 'results', 'export.json'), `${JSON.stringify(figures, null, 1)}\n`);
  await node.fp32.release();
  await node.int8.release();
  await web.release();
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
