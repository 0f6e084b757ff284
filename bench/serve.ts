// `pathwise serve` under load: the server runs as its own process on a trained model folder and
// autocannon drives it with single-input requests built from the model's tasks' test sets.
//
//   npm run bench:serve [-- --model runs/quickstart/model --duration 10 --log-level warn]
//   (or PATHWISE_BENCH_MODEL=DIR; the default folder is the one `npm start` writes)
//
// First the server's answers to 120 inputs of the mixed load are checked against predict's, in
// this process (labels equal; predict_max_diff, the largest score difference). Then five phases
// of --duration seconds each (a 3 s warm-up first), all on POST /v1/tasks/{task}/predict {input}:
//   c1      mixed load (a round-robin over the model's tasks), 1 connection
//   c16     the same mixed load, 16 connections                 → rps_c16, p50_ms, p99_ms
//   single  one task's inputs (--single-task; default: the classification task with the longest test
//           inputs), 16 connections, the same number of words per request as the mixed
//           load's (each mixed input's word count, cut from that task's longer test inputs)
//   reload  the mixed load at 16 connections; halfway, the served folder is replaced by an F16
//           export of it (a new version) and POST /v1/admin/reload is called: every non-2xx answer
//           and connection error of the phase is counted (reload_failed)
//   soak    the mixed load at 16 connections for --soak-minutes (default 10; 0 skips it), the
//           server's resident memory (VmRSS) sampled every 10 s: soak_rss_mb_1min after the first
//           minute, soak_rss_mb_end at the end (a server that leaks grows between the two)
// Peak RSS is the server process's VmHWM (/proc/<pid>/status) at the end. The figures print last
// as one JSON line; with the soak the bench takes about 12 minutes, so nothing is written to
// docs/results.
// The load generator runs in this process, beside the server: on a small machine they share the cores.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import { loadModel } from '../src/model/index.js';
import { loadBuiltinTask } from '../src/tasks/builtin/index.js';
import { exampleWords, type Example } from '../src/tasks/task.js';
import { ROOT, benchFlags, log } from './common.js';

const opt = benchFlags({
  model: { type: 'string', default: process.env.PATHWISE_BENCH_MODEL ?? join(ROOT, 'runs', 'quickstart', 'model') },
  duration: { type: 'number', default: 10, above: 0 },
  'log-level': { type: 'string', default: 'warn' },
  /** Default: chosen from the model's tasks (see run). */
  'single-task': { type: 'string' },
  'soak-minutes': { type: 'number', default: 10, min: 0 },
});

const MODEL = resolve(opt.model);
const DURATION = opt.duration;
const LOG_LEVEL = opt['log-level'];
const SOAK_MINUTES = opt['soak-minutes'];
const TOKEN = 'bench-serve-token';

interface TaskInfo {
  name: string;
  type: string;
  source?: { builtin?: string };
}

/** One request: the path and its JSON body, with the input's word count. */
interface Body {
  task: string;
  body: string;
  words: number;
  /** The test example the body holds (for predict's answer), on the mixed load. */
  example?: Example;
}

function inputJson(type: string, ex: Example, words?: number): unknown {
  if (type === 'tagging') {
    const w = exampleWords(ex);
    return { tokens: words === undefined ? w : w.slice(0, words) };
  }
  const cut = (s: string) => (words === undefined ? s : s.split(/\s+/).filter(Boolean).slice(0, words).join(' '));
  if (type === 'pair_classification' && ex.textPair !== undefined) return { text: cut(ex.text), text_pair: ex.textPair };
  return cut(ex.text);
}

const wordCount = (type: string, ex: Example): number => (type === 'tagging' ? exampleWords(ex).length : ex.text.split(/\s+/).filter(Boolean).length);

function main(): Promise<void> {
  if (!existsSync(join(MODEL, 'config.json'))) {
    process.stderr.write(
      `bench:serve: no model folder at ${MODEL}. Run \`npm start\` first (it trains the quickstart model into runs/quickstart/model), or give one with --model DIR.\n`,
    );
    process.exit(2);
  }
  return run();
}

async function run(): Promise<void> {
  const cfg = JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8')) as { tasks: TaskInfo[] };
  const tasks = cfg.tasks.filter((t) => t.source?.builtin !== undefined);
  const skipped = cfg.tasks.filter((t) => t.source?.builtin === undefined).map((t) => t.name);
  if (skipped.length) log(`not built-in (no test set here), left out of the load: ${skipped.join(', ')}`);
  if (!tasks.length) throw new Error(`${MODEL}: none of its tasks is a built-in task; the bench needs their test sets`);
  const tests = new Map<string, Example[]>();
  for (const t of tasks) tests.set(t.name, loadBuiltinTask(t.source!.builtin!).test);

  // The mixed load: a round-robin over the tasks, the i-th test input of each in turn.
  const N = 600;
  const mixed: Body[] = [];
  for (let i = 0; mixed.length < N; i++) {
    for (const t of tasks) {
      const xs = tests.get(t.name)!;
      const ex = xs[i % xs.length];
      mixed.push({ task: t.name, body: JSON.stringify({ input: inputJson(t.type, ex) }), words: wordCount(t.type, ex), example: ex });
    }
  }
  // The single load: one task (--single-task; by default the classification task whose longest test
  // input is longest, so that its inputs can be cut to length), each request as many words as the
  // mixed load's request in the same place (cut from a longer test input of its own).
  const longest = (t: TaskInfo) => Math.max(...tests.get(t.name)!.map((ex) => wordCount(t.type, ex)));
  const byLength = [...tasks].sort((a, b) => longest(b) - longest(a));
  const singleName = opt['single-task'] ?? (byLength.find((t) => t.type === 'classification') ?? byLength[0]).name;
  const single1 = tasks.find((t) => t.name === singleName);
  if (!single1) throw new Error(`--single-task ${singleName}: not one of the model's built-in tasks (${tasks.map((t) => t.name).join(', ')})`);
  const pool = [...tests.get(single1.name)!].sort((a, b) => wordCount(single1.type, b) - wordCount(single1.type, a));
  const maxWords = wordCount(single1.type, pool[0]);
  let shorter = 0;
  const single: Body[] = mixed.map((m, i) => {
    const long = pool.filter((ex) => wordCount(single1.type, ex) >= m.words);
    if (m.words > maxWords) shorter++;
    const ex = long.length ? long[i % long.length] : pool[0];
    return { task: single1.name, body: JSON.stringify({ input: inputJson(single1.type, ex, m.words) }), words: Math.min(m.words, maxWords) };
  });
  const mean = (xs: Body[]) => xs.reduce((s, b) => s + b.words, 0) / xs.length;
  log(
    `model ${MODEL}: tasks ${tasks.map((t) => t.name).join(', ')}; mixed load mean ${mean(mixed).toFixed(1)} words/input, ` +
      `single load (${single1.name}) ${mean(single).toFixed(1)}${shorter ? ` (${shorter} inputs shorter: ${single1.name}'s longest test input has ${maxWords} words)` : ''}`,
  );

  // The served folder: a copy (the reload phase replaces it), and the next version beside it.
  const tmp = mkdtempSync(join(tmpdir(), 'pathwise-bench-serve-'));
  const served = join(tmp, 'model');
  const next = join(tmp, 'next');
  cpSync(MODEL, served, { recursive: true });
  const cli = join(ROOT, 'dist', 'src', 'cli', 'main.js');
  const ex = spawnSync(process.execPath, [cli, 'export', served, '--out', next, '--dtype', 'f16'], { encoding: 'utf8' });
  if (ex.status !== 0) throw new Error(`pathwise export failed: ${ex.stderr}`);
  const tokenFile = join(tmp, 'token');
  writeFileSync(tokenFile, TOKEN);

  const server = spawn(process.execPath, [cli, 'serve', served, '--port', '0', '--log-level', LOG_LEVEL, '--admin-token-file', tokenFile], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const url = await new Promise<string>((res, rej) => {
    server.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /on (http:\/\/\S+)\n/.exec(stderr);
      if (m) res(m[1]);
    });
    server.once('exit', (code) => rej(new Error(`the server exited (${code}): ${stderr}`)));
  });
  try {
    for (let i = 0; ; i++) {
      const r = await fetch(`${url}/readyz`).catch(() => null);
      if (r?.ok) break;
      if (i > 300) throw new Error('the server never became ready');
      await new Promise((r) => setTimeout(r, 100));
    }
    log(`server pid ${server.pid} on ${url} (log level ${LOG_LEVEL})`);

    /** The server's resident memory now (VmRSS) or at its peak (VmHWM), in MB. */
    const memory = (field: 'VmRSS' | 'VmHWM') => {
      const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'));
      return m ? Number(m[1]) / 1024 : Number.NaN;
    };
    log(`server RSS after the start: ${memory('VmRSS').toFixed(0)} MB`);

    /** The batcher's totals from /metrics: batches, inputs, and distinct tasks summed over batches. */
    const batchTotals = async () => {
      const text = await (await fetch(`${url}/metrics`)).text();
      const sum = (name: string) => {
        let t = 0;
        for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) t += Number(m[1]);
        return t;
      };
      return { batches: sum('pathwise_batch_inputs_count'), rows: sum('pathwise_batch_inputs_sum'), tasks: sum('pathwise_batch_tasks_sum') };
    };

    const load = async (name: string, bodies: Body[], connections: number, seconds: number, during?: () => Promise<void>) => {
      let k = 0;
      const inst = autocannon({
        url,
        connections,
        duration: seconds,
        requests: [
          {
            method: 'POST',
            setupRequest: (req) => {
              const b = bodies[k++ % bodies.length];
              return { ...req, path: `/v1/tasks/${b.task}/predict`, headers: { 'content-type': 'application/json' }, body: b.body };
            },
          },
        ],
      });
      const before = await batchTotals();
      // Caught at once: a failure while the load runs must reach the finally that stops the server.
      const side = during
        ? during().then(
            () => null,
            (e: unknown) => e,
          )
        : null;
      const r = await inst;
      const failed = await side;
      if (failed) throw failed;
      const rps = r.requests.total / r.duration;
      const bad = r.non2xx + r.errors;
      const after = await batchTotals();
      const batches = after.batches - before.batches;
      log(
        `${name.padEnd(8)} c${connections}: ${rps.toFixed(1)} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, ${r.requests.total} requests, ${r.non2xx} non-2xx, ${r.errors} errors (${r.timeouts} timeouts); ` +
          `${batches} batches, ${((after.rows - before.rows) / batches).toFixed(1)} inputs and ${((after.tasks - before.tasks) / batches).toFixed(1)} tasks per batch; ` +
          `server RSS ${memory('VmRSS').toFixed(0)} MB`,
      );
      return { rps, p50: r.latency.p50, p99: r.latency.p99, bad };
    };

    // The server's answers against predict's, in this process, on the first 120 inputs of the mixed
    // load sent as one mixed request (labels equal, scores within predict_max_diff).
    const sample = mixed.slice(0, 120);
    const answer = await fetch(`${url}/v1/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ requests: sample.map((b) => ({ task: b.task, input: (JSON.parse(b.body) as { input: unknown }).input })) }),
    });
    if (!answer.ok) throw new Error(`POST /v1/predict answered ${answer.status}: ${await answer.text()}`);
    const answers = ((await answer.json()) as { predictions: { prediction: unknown }[] }).predictions.map((p) => p.prediction);
    const reference = loadModel(MODEL);
    let predictDiff = 0;
    for (let i = 0; i < sample.length; i++) {
      const [want] = await reference.predict(sample[i].task, [tagged(sample[i])]);
      predictDiff = Math.max(predictDiff, difference(answers[i], want, `input ${i} (${sample[i].task})`));
    }
    log(`${sample.length} answers of the server against predict's: labels equal, largest score difference ${predictDiff}`);

    await load('warm-up', mixed, 16, 3);
    const c1 = await load('c1', mixed, 1, DURATION);
    const c16 = await load('c16', mixed, 16, DURATION);
    const one = await load('single', single, 16, DURATION);
    let reloadInfo = '';
    const rl = await load('reload', mixed, 16, DURATION, async () => {
      await new Promise((r) => setTimeout(r, (DURATION * 1000) / 2));
      renameSync(served, join(tmp, 'old'));
      renameSync(next, served);
      const t0 = performance.now();
      const r = await fetch(`${url}/v1/admin/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
      const text = await r.text();
      reloadInfo = `reload answered ${r.status} in ${(performance.now() - t0).toFixed(0)} ms: ${text}`;
      if (!r.ok || !(JSON.parse(text) as { changed: boolean }).changed) throw new Error(`the reload did not swap versions: ${reloadInfo}`);
    });
    log(reloadInfo);

    let soak: { minutes: number; rss1: number; rssEnd: number; rps: number; bad: number } | null = null;
    if (SOAK_MINUTES > 0) {
      const samples: [number, number][] = [];
      const t0 = performance.now();
      const timer = setInterval(() => samples.push([(performance.now() - t0) / 1000, memory('VmRSS')]), 10_000);
      const r = await load('soak', mixed, 16, SOAK_MINUTES * 60);
      clearInterval(timer);
      const rssEnd = memory('VmRSS');
      const rss1 = (samples.find(([t]) => t >= 60) ?? samples[0] ?? [0, rssEnd])[1];
      log(
        `soak RSS (MB) every 10 s: ${samples.map(([, m]) => m.toFixed(0)).join(' ')}; after 1 min ${rss1.toFixed(0)}, at the end ${rssEnd.toFixed(0)} (${(((rssEnd - rss1) / rss1) * 100).toFixed(1)}%)`,
      );
      soak = { minutes: SOAK_MINUTES, rss1, rssEnd, rps: r.rps, bad: r.bad };
    }

    const rssMb = memory('VmHWM');
    log(`server peak RSS (VmHWM) ${rssMb.toFixed(0)} MB`);
    const r2 = (x: number) => Math.round(x * 100) / 100;
    console.log(
      JSON.stringify({
        rps_c1: r2(c1.rps),
        rps_c16: r2(c16.rps),
        batching_gain: r2(c16.rps / c1.rps),
        mixed_vs_single: r2(c16.rps / one.rps),
        p50_ms: c16.p50,
        p99_ms: c16.p99,
        reload_failed: rl.bad,
        rss_mb: Math.round(rssMb),
        predict_max_diff: predictDiff,
        ...(soak && {
          soak_minutes: soak.minutes,
          soak_rps: r2(soak.rps),
          soak_failed: soak.bad,
          soak_rss_mb_1min: Math.round(soak.rss1),
          soak_rss_mb_end: Math.round(soak.rssEnd),
          soak_rss_change: r2((soak.rssEnd - soak.rss1) / soak.rss1),
        }),
      }),
    );
  } finally {
    await stop(server);
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The example as the server reads its JSON: a tagging task's words given as tokens. */
function tagged(b: Body): Example {
  const input = (JSON.parse(b.body) as { input: unknown }).input;
  if (typeof input === 'object' && input !== null && 'tokens' in input) {
    const words = (input as { tokens: string[] }).tokens;
    return { text: words.join(' '), words };
  }
  return b.example!;
}

/** The largest difference between two predictions' numbers; anything else (labels, keys) must be equal. */
function difference(a: unknown, b: unknown, where: string): number {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b);
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) return Math.max(0, ...a.map((x, i) => difference(x, b[i], `${where}[${i}]`)));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    if (ka.join() === kb.join()) return Math.max(0, ...ka.map((k) => difference((a as never)[k], (b as never)[k], `${where}.${k}`)));
  }
  if (a === b) return 0;
  throw new Error(`the server's answer differs from predict's at ${where}: ${JSON.stringify(a)} against ${JSON.stringify(b)}`);
}

function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return Promise.resolve();
  return new Promise((res) => {
    p.once('exit', () => res());
    p.kill('SIGTERM');
  });
}

await main();
