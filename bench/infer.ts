// Inference benchmark: tokens per second of a task's forward pass (encoder, pooler, output layer)
// at batch 1 × 32 tokens and 32 × 128, for the quickstart model and a Switch model made from it:
//   Pathwise fp32, Pathwise int8 (`pathwise quantize`), PyTorch fp32 on the same weights and
//   PyTorch's quantize_dynamic (bench/torch_infer.py; Debian's PyTorch at its fastest threads).
// Inputs are random token ids, every position a real token (no padding on either side). The
// PyTorch model is first checked to compute Pathwise's logits. Then the quality check: every task
// of the quickstart model scored on its test set in fp32 and int8 (max_task_drop, points), the
// folders' sizes (size_ratio), and the crossover: the rows per batch from which int8 beats fp32.
// Timing protocol: this VM's speed drifts by up to 1.5x over minutes, so PyTorch (two workers kept
// loaded, bench/torch_infer.py --serve, each at the thread setting --pick-threads found fastest for
// it) and Pathwise alternate in --slices short slices (about --slice-seconds each) per shape:
// PyTorch fp32, Pathwise fp32, PyTorch int8, Pathwise int8, the order flipped every other slice,
// with a pause between systems so that idle BLAS threads stop spinning. Each figure is
// tokens/s = B*T / (median ms per forward over all its slices).
// Prints one JSON line last; writes docs/results/int8.md and docs/results/infer.json.
//
//   npm run bench:infer [-- --model runs/quickstart/model --task sent --experts 8 --slices 8 --slice-seconds 0.4 --no-quality]

import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_INT8_MIN_ROWS, Rng, int8, blas, inference, setInt8MinRows } from '../src/engine/index.js';
import { TaskModel, loadModel, loadPretrained, saveModel } from '../src/model/index.js';
import { DEFAULT_SWITCH, upcycle, type SparseConfig } from '../src/sparse/index.js';
import { quantizeModel } from '../src/compress/index.js';
import { loadBuiltinTask } from '../src/tasks/builtin/index.js';
import type { Batch } from '../src/tasks/encode.js';
import { ROOT, TorchWorker, benchFlags, log, median, plainFolder, randomBatch, runTorch, torchMissing } from './common.js';

const opt = benchFlags({
  model: { type: 'string', default: join(ROOT, 'runs', 'quickstart', 'model') },
  task: { type: 'string', default: 'sent' },
  experts: { type: 'number', default: 8, integer: true, min: 1 },
  seconds: { type: 'number', default: 3, min: 0 },
  slices: { type: 'number', default: 8, integer: true, min: 1 },
  'slice-seconds': { type: 'number', default: 0.4, min: 0 },
  'no-quality': { type: 'boolean' },
});
const MODEL = opt.model;
const TASK = opt.task;
const EXPERTS = opt.experts;
const SECONDS = opt.seconds;
const SLICES = opt.slices;
const SLICE_S = opt['slice-seconds'];
const PAUSE_MS = 250;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const QUALITY = !opt['no-quality'];
const SHAPES: [number, number][] = [
  [1, 32],
  [32, 128],
];

const tmp = mkdtempSync(join(tmpdir(), 'pw-bench-infer-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

/** The plain model with every FFN upcycled to a Switch layer of `experts` experts (top-1, dropless), as a folder. */
function switchFolder(plain: string, out: string): void {
  const pre = loadPretrained(plain);
  const sparse: SparseConfig = { switch: { ...DEFAULT_SWITCH, experts: EXPERTS, every: 1, jitter: 0, evalCapacityFactor: null }, skills: null };
  const lm = upcycle(pre.model, sparse, new Rng(1));
  const model = TaskModel.fromEncoder(lm.encoder, pre.tokenizer!, { sparse, rng: new Rng(2), maxLen: pre.config.maxPositions });
  const t = pre.tasks[0];
  model.addTask(t.spec, { source: t.source, head: t.head });
  saveModel(out, model);
}

/** The median ms per batch of the task's logits on `batch`, over about `seconds` of calls. */
function timeForward(model: TaskModel, task: string, batch: Batch, seconds = SECONDS): number {
  const path = model.taskPath(task);
  const run = () => inference(() => path.logits(batch));
  for (let i = 0; i < 3; i++) run();
  const times: number[] = [];
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000 || times.length < 5) {
    const t = performance.now();
    run();
    times.push(performance.now() - t);
  }
  return median(times);
}

/** Tokens per second of a B x T batch that takes `ms`. */
const tokensPerS = ([B, T]: [number, number], ms: number) => (B * T * 1000) / ms;

function folderBytes(dir: string): number {
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
const round0 = (x: number) => round(x, 0);

async function main(): Promise<void> {
  blas.setThreads(2);
  const plain = join(tmp, 'plain');
  const sw = join(tmp, 'switch');
  plainFolder(MODEL, TASK, plain);
  switchFolder(plain, sw);
  const torch = torchMissing();
  const figures: Record<string, Record<string, Record<string, number>>> = {};
  const torchThreads: Record<string, unknown> = {};
  const loaded: Record<string, { fp32: TaskModel; int8: TaskModel }> = {};
  const sliceCounts: Record<string, Record<string, Record<string, number>>> = {};
  for (const [name, dir] of [
    ['quickstart', plain],
    ['switch', sw],
  ] as const) {
    const fp32 = loadModel(dir);
    const int8 = loadModel(dir);
    quantizeModel(int8);
    loaded[name] = { fp32, int8 };
    const vocab = fp32.tokenizer.vocabSize;
    // Parity first: PyTorch must compute this model's logits.
    const check = randomBatch(2, 16, vocab, 7);
    const mine = inference(() => fp32.taskPath(TASK).logits(check)).f32;
    if (torch === null) {
      const idsFile = join(tmp, `${name}-ids.json`);
      const outFile = join(tmp, `${name}-logits.json`);
      writeFileSync(idsFile, JSON.stringify({ ids: Array.from({ length: 2 }, (_, b) => Array.from(check.ids.i32.subarray(b * 16, (b + 1) * 16))) }));
      const r = runTorch('torch_infer.py', [
        '--model',
        dir,
        '--task',
        TASK,
        '--shapes',
        SHAPES.map(([b, t]) => `${b}x${t}`).join(','),
        '--quantized',
        '1',
        '--pick-threads',
        '--parity-ids',
        idsFile,
        '--parity-out',
        outFile,
      ]);
      const theirs: number[] = JSON.parse(readFileSync(outFile, 'utf8')).fp32.flat();
      const diff = Math.max(...theirs.map((v, i) => Math.abs(v - mine[i])));
      log(`${name}: PyTorch's logits against Pathwise's: max |difference| ${diff.toExponential(2)}`);
      if (!(diff < 1e-3)) throw new Error(`${name}: PyTorch computes another function (max logit difference ${diff})`);
      torchThreads[name] = r.threads;
    } else log(`no PyTorch reference: ${torch}`);
    // Slices: PyTorch and Pathwise alternate in short slices of forwards (the PyTorch workers stay
    // loaded at their picked thread settings), so that both are timed under the same conditions.
    const th = torchThreads[name] as Record<string, { intra: number; blas: number }> | undefined;
    const workers: Record<string, TorchWorker> = {};
    if (torch === null && th) {
      for (const v of ['fp32', 'int8'] as const)
        workers[v] = await TorchWorker.start(
          'torch_infer.py',
          ['--model', dir, '--task', TASK, '--quantized', '1', '--variants', v, '--intra-threads', String(th[v].intra)],
          { OPENBLAS_NUM_THREADS: String(th[v].blas) },
        );
    }
    figures[name] = {};
    const perShape: Record<string, Record<string, number>> = {};
    for (const shape of SHAPES) {
      const [B, T] = shape;
      const key = `${B}x${T}`;
      const batch = randomBatch(B, T, vocab, B * 1000 + T);
      const ms: Record<string, number[]> = { pathwise_fp32: [], pathwise_int8: [], torch_fp32: [], torch_int8: [] };
      // Forwards per slice: about SLICE_S seconds of the slowest system (fp32), from one timed call.
      const one = timeForward(fp32, TASK, batch, 0);
      const iters = Math.max(2, Math.round((SLICE_S * 1000) / one));
      const pathwise = (m: TaskModel, into: number[]) => {
        const path = m.taskPath(TASK); // looked up once, outside the timed calls (as timeForward does)
        const run = () => inference(() => path.logits(batch));
        run();
        for (let i = 0; i < iters; i++) {
          const t = performance.now();
          run();
          into.push(performance.now() - t);
        }
      };
      for (let slice = 0; slice < SLICES; slice++) {
        for (const v of ['fp32', 'int8'] as const) {
          const ours = () => pathwise(v === 'fp32' ? fp32 : int8, ms[`pathwise_${v}`]);
          const theirs = async () => {
            if (workers[v]) ms[`torch_${v}`].push(...((await workers[v].request(`${v} ${key} ${iters}`)).ms as number[]));
          };
          // Alternate who goes first; pause between systems so that idle BLAS / OpenMP threads
          // stop spinning before the other one runs.
          for (const f of slice % 2 ? [ours, theirs] : [theirs, ours]) {
            await f();
            await sleep(PAUSE_MS);
          }
        }
      }
      const med = Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, median(v)]));
      perShape[key] = Object.fromEntries(Object.entries(ms).map(([k, v]) => [`${k}_forwards`, v.length]));
      figures[name][key] = {
        pathwise_fp32_tokens_per_s: round0(tokensPerS(shape, med.pathwise_fp32)),
        pathwise_int8_tokens_per_s: round0(tokensPerS(shape, med.pathwise_int8)),
        torch_fp32_tokens_per_s: round0(tokensPerS(shape, med.torch_fp32)),
        torch_int8_tokens_per_s: round0(tokensPerS(shape, med.torch_int8)),
        pathwise_fp32_ms: round(med.pathwise_fp32),
        pathwise_int8_ms: round(med.pathwise_int8),
        torch_fp32_ms: round(med.torch_fp32),
        torch_int8_ms: round(med.torch_int8),
      };
      log(`${name} ${key} (${SLICES} slices of ${iters} forwards each): ${JSON.stringify(figures[name][key])}`);
    }
    for (const w of Object.values(workers)) w.stop();
    sliceCounts[name] = perShape;
  }

  // The crossover: rows per batch (B sequences of 32 tokens) from which int8 beats fp32.
  const crossover: { rows: number; fp32_tokens_per_s: number; int8_tokens_per_s: number }[] = [];
  {
    const { fp32, int8 } = loaded.quickstart;
    const prev = setInt8MinRows(1);
    for (const [B, T] of [
      [1, 1],
      [1, 4],
      [1, 8],
      [1, 16],
      [1, 32],
      [4, 32],
      [32, 32],
    ]) {
      const batch = randomBatch(B, T, fp32.tokenizer.vocabSize, 99);
      const f = tokensPerS([B, T], timeForward(fp32, TASK, batch, 1));
      const q = tokensPerS([B, T], timeForward(int8, TASK, batch, 1));
      crossover.push({ rows: B * T, fp32_tokens_per_s: round0(f), int8_tokens_per_s: round0(q) });
      log(`crossover ${B}x${T}: fp32 ${f.toFixed(0)} tokens/s, int8 ${q.toFixed(0)}`);
    }
    setInt8MinRows(prev);
  }
  const firstWin = crossover.find((_c, i) => crossover.slice(i).every((d) => d.int8_tokens_per_s > d.fp32_tokens_per_s));

  // Quality and size: every task of the full model (bags and priors included) on its test set.
  const quality: Record<string, { fp32: number; int8: number; metric: string }> = {};
  let sizes = { fp32_bytes: NaN, int8_bytes: NaN };
  if (QUALITY) {
    const fp32 = loadModel(MODEL);
    const int8 = loadModel(MODEL);
    quantizeModel(int8);
    const out = join(tmp, 'int8-full');
    saveModel(out, int8);
    sizes = { fp32_bytes: folderBytes(MODEL), int8_bytes: folderBytes(out) };
    for (const [task, t] of fp32.tasks) {
      if (!t.source || !('builtin' in t.source)) continue;
      const test = loadBuiltinTask(t.source.builtin).test;
      const a = await fp32.evaluate(task, test);
      const b = await int8.evaluate(task, test);
      quality[task] = { fp32: round(a.score * 100, 2), int8: round(b.score * 100, 2), metric: a.metric };
      log(`${task}: ${a.metric} fp32 ${(a.score * 100).toFixed(2)}, int8 ${(b.score * 100).toFixed(2)}`);
    }
  }
  const drops = Object.values(quality).map((q) => q.fp32 - q.int8);
  const at = (m: string) => figures[m]['32x128'];
  const ratios = (m: string) => ({
    fp32_vs_torch: round(at(m).pathwise_fp32_tokens_per_s / at(m).torch_fp32_tokens_per_s),
    int8_vs_fp32: round(at(m).pathwise_int8_tokens_per_s / at(m).pathwise_fp32_tokens_per_s),
    int8_vs_torch_int8: round(at(m).pathwise_int8_tokens_per_s / at(m).torch_int8_tokens_per_s),
  });
  const result = {
    ...ratios('quickstart'),
    max_task_drop: drops.length ? round(Math.max(...drops), 2) : null,
    size_ratio: round(sizes.fp32_bytes / sizes.int8_bytes),
    crossover_rows: firstWin?.rows ?? null,
    switch: ratios('switch'),
    figures,
    forwards_timed: sliceCounts,
    timing: `${SLICES} alternating slices of about ${SLICE_S} s per system and shape; tokens/s = B*T / median ms per forward`,
    quality,
    sizes,
    crossover,
    threads: blas.threads(),
    torch_threads: torchThreads,
    int8_min_rows: DEFAULT_INT8_MIN_ROWS,
    int8_isa: int8.isa(),
  };
  if (QUALITY) writeReport(result);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// biome-ignore lint/suspicious/noExplicitAny: the result object assembled above
function writeReport(r: Record<string, any>): void {
  const dir = join(ROOT, 'docs', 'results');
  writeFileSync(join(dir, 'infer.json'), `${JSON.stringify(r, null, 2)}\n`);
  const rows = Object.entries(r.quality as Record<string, { fp32: number; int8: number; metric: string }>)
    .map(([t, q]) => `| ${t} | ${q.metric} | ${q.fp32.toFixed(2)} | ${q.int8.toFixed(2)} | ${(q.int8 - q.fp32).toFixed(2)} |`)
    .join('\n');
  const speed = Object.entries(r.figures as Record<string, Record<string, Record<string, number>>>)
    .flatMap(([m, shapes]) =>
      Object.entries(shapes).map(
        ([s, f]) =>
          `| ${m} | ${s} | ${f.pathwise_fp32_tokens_per_s} | ${f.pathwise_int8_tokens_per_s} | ${f.torch_fp32_tokens_per_s} | ${f.torch_int8_tokens_per_s} |`,
      ),
    )
    .join('\n');
  const cross = (r.crossover as { rows: number; fp32_tokens_per_s: number; int8_tokens_per_s: number }[])
    .map((c) => `| ${c.rows} | ${c.fp32_tokens_per_s} | ${c.int8_tokens_per_s} |`)
    .join('\n');
  const md = `# int8 inference (\`npm run bench:infer\`)

Written by bench/infer.ts; the figures are that run's (${r.threads} threads). Model: the quickstart's
(\`${MODEL.replace(ROOT + '/', '')}\`), quantized by \`pathwise quantize\` (int8 weights, one scale per output channel: per row of a
linear weight, per column of an embedding table; activations quantized per row at run time). The
folder size includes what is not int8: the heads' Naive Bayes priors (kept exactly, stored
compactly: 16-bit key halves and 8/16-bit codes, model/compact_prior.ts), biases, norms and
tokenizer.json. PyTorch runs at its fastest thread setting in this run
(\`--pick-threads\`). This shared 2-core VM's speed drifts by up to 1.5x over minutes, so each figure
is timed in ${r.timing}
(PyTorch and Pathwise alternating, so that both run under the same conditions).

## Test scores, fp32 and int8 (every task, its built-in test set)

| task | metric | fp32 | int8 | int8 - fp32 |
|---|---|---|---|---|
${rows}

Largest drop: ${r.max_task_drop} points.

## Folder sizes

fp32 folder ${(r.sizes.fp32_bytes / 1e6).toFixed(1)} MB, int8 folder ${(r.sizes.int8_bytes / 1e6).toFixed(1)} MB: ${r.size_ratio}× smaller.

## Speed (tokens/s; one task's forward: encoder, pooler, output layer)

| model | batch × tokens | Pathwise fp32 | Pathwise int8 | PyTorch fp32 | PyTorch int8 (quantize_dynamic) |
|---|---|---|---|---|---|
${speed}

At 32 × 128: fp32 / PyTorch fp32 = ${r.fp32_vs_torch}, int8 / fp32 = ${r.int8_vs_fp32}, int8 / PyTorch int8 = ${r.int8_vs_torch_int8}.

## Crossover

Rows (tokens) per call; int8 runs from ${r.int8_min_rows} row(s) up (engine/ops/linear_int8.ts).

| rows | fp32 tokens/s | int8 tokens/s |
|---|---|---|
${cross}

First batch size from which int8 is faster at every larger size measured: ${r.crossover_rows ?? 'none'} rows.
`;
  writeFileSync(join(dir, 'int8.md'), md);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
