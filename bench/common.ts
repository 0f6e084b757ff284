// Shared by the benchmarks: flags, medians, the PyTorch reference run as a subprocess, model digests,
// training schedules, and a task's test score with the digest of its logits.

import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { noGrad, readSafetensors, Rng, serializeSafetensors, Tensor } from '../src/engine/index.js';
import { decodePredictions, rawPrediction, type TaskModel, type TaskSpec } from '../src/model/index.js';
import type { Batch } from '../src/tasks/encode.js';
import { scorePredictions } from '../src/tasks/score.js';
import type { Example, TaskData } from '../src/tasks/task.js';

export const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..');
export const PY = process.env.PATHWISE_TORCH_PYTHON ?? '/usr/bin/python3';

/**
 * A benchmark flag: a string (`choices`: the only values allowed; no default: undefined unless
 * given), a number (finite; `integer`, `min` (>=), `above` (>) and `max` (<=) where declared), or a
 * switch (`--report`, `--no-quality`: true when given).
 */
export type FlagSpec =
  | { type: 'string'; default?: string; choices?: readonly string[] }
  | { type: 'number'; default: number; integer?: boolean; min?: number; above?: number; max?: number }
  | { type: 'boolean' };

type FlagValue<S extends FlagSpec> = S extends { type: 'number' }
  ? number
  : S extends { type: 'boolean' }
    ? boolean
    : S extends { choices: readonly (infer C extends string)[] }
      ? C
      : S extends { default: string }
        ? string
        : string | undefined;

export type FlagValues<T extends Record<string, FlagSpec>> = { [K in keyof T]: FlagValue<T[K]> };

/**
 * A bench's flags, each declared with its default and kind in `spec`, read from `args` (the
 * command line's) by node:util parseArgs in strict mode: an unknown flag, a positional argument, a
 * flag without its value, a bad number or a value not among `choices` throws an error naming the
 * flag, before the bench does any work (call it first). `--help` (`-h`) prints the bench's header
 * comment (its documentation: what it measures, how to run it) and its flags, then exits.
 */
export function benchFlags<const T extends Record<string, FlagSpec>>(spec: T, args: string[] = process.argv.slice(2)): FlagValues<T> {
  if (args.includes('--help') || args.includes('-h')) {
    const script = process.argv[1];
    process.stdout.write(`${script && existsSync(script) ? headerComment(readFileSync(script, 'utf8')) : ''}\n${flagUsage(spec)}\n`);
    process.exit(0);
  }
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const [name, s] of Object.entries(spec)) options[name] = { type: s.type === 'boolean' ? 'boolean' : 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }) as { values: Record<string, string | boolean | undefined> });
  } catch (e) {
    // parseArgs's own message names the flag; its stack trace says nothing more to a user.
    throw new Error(`${(e as Error).message} (--help lists the flags)`);
  }
  const out: Record<string, string | number | boolean | undefined> = {};
  for (const [name, s] of Object.entries(spec)) {
    const raw = values[name];
    if (s.type === 'boolean') out[name] = raw === true;
    else if (typeof raw !== 'string') out[name] = s.default;
    else if (s.type === 'string') {
      if (s.choices && !s.choices.includes(raw)) throw new Error(`--${name} must be one of ${s.choices.join(', ')}, got ${JSON.stringify(raw)}`);
      out[name] = raw;
    } else {
      const v = Number(raw);
      const bounds = boundsOf(s);
      const ok =
        raw.trim() !== '' &&
        Number.isFinite(v) &&
        (!s.integer || Number.isInteger(v)) &&
        (s.min === undefined || v >= s.min) &&
        (s.above === undefined || v > s.above) &&
        (s.max === undefined || v <= s.max);
      if (!ok)
        throw new Error(
          `--${name} must be ${s.integer ? 'an integer' : 'a number'}${bounds.length ? ` ${bounds.join(' and ')}` : ''}, got ${JSON.stringify(raw)}`,
        );
      out[name] = v;
    }
  }
  return out as FlagValues<T>;
}

/** A number flag's bounds, as its error and its usage line say them. */
const boundsOf = (s: Extract<FlagSpec, { type: 'number' }>): string[] =>
  [s.min !== undefined && `>= ${s.min}`, s.above !== undefined && `> ${s.above}`, s.max !== undefined && `<= ${s.max}`].filter((b): b is string => b !== false);

/** The leading `//` comment of a bench's source (compiled JS keeps it), without the slashes. */
export function headerComment(source: string): string {
  const lines: string[] = [];
  for (const line of source.split('\n')) {
    if (!line.startsWith('//')) break;
    lines.push(line.replace(/^\/\/ ?/, ''));
  }
  return lines.join('\n').trimEnd();
}

/** One line per flag: its name, its kind and bounds or choices, its default. */
export function flagUsage(spec: Record<string, FlagSpec>): string {
  const rows = Object.entries(spec).map(([name, s]) => {
    let kind: string;
    if (s.type === 'boolean') kind = 'switch';
    else if (s.type === 'string') kind = s.choices ? s.choices.join('|') : 'text';
    else {
      const bounds = boundsOf(s);
      kind = `${s.integer ? 'integer' : 'number'}${bounds.length ? ` ${bounds.join(', ')}` : ''}`;
    }
    const def = s.type !== 'boolean' && s.default !== undefined ? `  (default ${s.default === '' ? "''" : s.default})` : '';
    return `  --${name.padEnd(20)} ${kind}${def}`;
  });
  return `flags:\n${rows.join('\n')}`;
}

/** A list flag's integers (`--seeds 0,1,2`): each an integer >= `min`, else an error naming the flag. */
export function intList(name: string, raw: string, min: number): number[] {
  const xs = raw.split(',').map((x) => x.trim());
  for (const x of xs) {
    const v = Number(x);
    if (x === '' || !Number.isInteger(v) || v < min) throw new Error(`--${name} must be integers >= ${min}, separated by commas, got ${JSON.stringify(raw)}`);
  }
  return xs.map(Number);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2 : NaN;
}

/** Mean and sample standard deviation (0 for one value): a figure over seeds. */
export function meanSd(xs: readonly number[]): { mean: number; sd: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd };
}

/** How long each round warms up, ours and PyTorch's alike (see warmFor): `--warm-ms`, spread into
 *  the benchFlags spec of a bench that warms. */
export const WARM_FLAG = { 'warm-ms': { type: 'number', default: 2000, min: 0 } } as const satisfies Record<string, FlagSpec>;
/** The PyTorch scripts' flag for the same warm-up of `warmMs` (bench/torch_common.py warm). */
export const torchWarm = (warmMs: number): string[] => ['--warmup-s', `${warmMs / 1000}`];

/**
 * Runs each of `fns` in turn until `ms` milliseconds have passed (and each ran at least `min`
 * times). This VM's host takes back memory and cores a process leaves idle: after a second of
 * waiting (for a PyTorch round in a child process, say) the next step ran about 6x slower and the
 * ~15 after it 20% slower (an 8-expert Switch step, measured), so a few warm-up calls are not
 * enough. Warming every contender together keeps the rounds fair.
 */
export function warmFor(ms: number, fns: (() => void)[], min = 3): void {
  const t0 = performance.now();
  for (let i = 0; i < min || performance.now() - t0 < ms; i++) for (const f of fns) f();
}

export const log = (s: string): void => {
  process.stderr.write(s + '\n');
};

/** The benchmarks' training schedule for trainMultiTask: `steps` steps, 10% warm-up, `evals` dev evaluations, progress on stderr. */
export function benchSchedule(steps: number, evals: number) {
  return { steps, warmupSteps: Math.round(steps / 10), evalEvery: Math.max(1, Math.round(steps / evals)), logEvery: 100, progress: process.stderr, log };
}

/** null if PyTorch can be run, else why not. */
export function torchMissing(): string | null {
  if (!existsSync(PY)) return `${PY} not found`;
  const r = spawnSync(PY, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? null : 'PyTorch is not installed (apt-get install python3-torch, or PATHWISE_BENCH=1 bash scripts/setup.sh)';
}

/** Runs a bench/*.py script and returns the JSON object it prints last. */
// biome-ignore lint/suspicious/noExplicitAny: the Python script's JSON line; each benchmark reads the fields it asked for
export function runTorch(script: string, args: string[]): Record<string, any> {
  const r = spawnSync(PY, [join('bench', script), ...args], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr.slice(-2000)}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

export interface TorchReference {
  intra: number;
  blas: number;
  /** What --pick-threads printed. */
  // biome-ignore lint/suspicious/noExplicitAny: as runTorch's result
  info: Record<string, any>;
  /** Runs the script at the picked thread setting with extra flags; returns its JSON line. */
  // biome-ignore lint/suspicious/noExplicitAny: as runTorch's result
  run(extra: string[]): Record<string, any>;
}

/**
 * The PyTorch reference for a bench script: PyTorch's fastest (intra-op, OpenBLAS) thread
 * setting, found with --pick-threads, and logged. `ref` is null (with `missing` saying why and
 * logged) when PyTorch is not installed.
 */
export function torchReference(script: string, args: string[]): { ref: TorchReference | null; missing: string | null } {
  const missing = torchMissing();
  if (missing !== null) {
    log(`no PyTorch reference: ${missing}`);
    return { ref: null, missing };
  }
  const info = runTorch(script, [...args, '--pick-threads', '--steps', '4', '--warmup', '2']);
  const intra: number = info.intra_threads;
  const blas: number = info.blas_threads;
  log(`PyTorch ${info.torch}: best threads intra ${intra} / OpenBLAS ${blas}${info.impl ? ` (impl ${info.impl})` : ''}`);
  const run = (extra: string[]) => runTorch(script, [...args, ...extra, '--intra-threads', `${intra}`, '--blas-threads', `${blas}`]);
  return { ref: { intra, blas, info, run }, missing: null };
}

/**
 * A PyTorch script kept running in `--serve` mode (bench/torch_infer.py): one request line in, one
 * JSON line out. Lets a benchmark alternate PyTorch and Pathwise in short slices, so that both
 * are timed under the same machine conditions (this VM's speed drifts by up to 1.5x over minutes).
 */
export class TorchWorker {
  private readonly lines: AsyncIterator<string>;
  private readonly proc;

  private constructor(script: string, args: string[], env: Record<string, string>) {
    this.proc = spawn(PY, [join('bench', script), ...args, '--serve'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = createInterface({ input: this.proc.stdout! })[Symbol.asyncIterator]();
  }

  /** Starts `script` with `args` (plus --serve) and waits for its "ready" line. */
  static async start(script: string, args: string[], env: Record<string, string> = {}): Promise<TorchWorker> {
    const w = new TorchWorker(script, args, env);
    await w.next();
    return w;
  }

  // biome-ignore lint/suspicious/noExplicitAny: the script's JSON answer
  private async next(): Promise<Record<string, any>> {
    for (;;) {
      const r = await this.lines.next();
      if (r.done) throw new Error(`PyTorch worker exited (code ${this.proc.exitCode})`);
      const line = r.value.trim();
      if (!line.startsWith('{')) continue; // a log line
      const j = JSON.parse(line);
      if (j.error) throw new Error(`PyTorch worker: ${j.error}`);
      return j;
    }
  }

  /** Sends one request line; resolves to the JSON answer. */
  // biome-ignore lint/suspicious/noExplicitAny: the script's JSON answer
  async request(line: string): Promise<Record<string, any>> {
    this.proc.stdin!.write(`${line}\n`);
    return this.next();
  }

  stop(): void {
    this.proc.stdin!.end();
    this.proc.kill();
  }
}

/** The first 16 hex digits of the SHA-256 of a folder's files, read in the order given. */
function digestFiles(dir: string, files: string[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(readFileSync(join(dir, f)));
  return h.digest('hex').slice(0, 16);
}

/**
 * A model folder's identity: the digest of its model.safetensors. Saved with benchmark results,
 * because a folder such as models/base can be replaced by a newer version.
 */
export function modelDigest(dir: string): string {
  return digestFiles(dir, ['model.safetensors']);
}

/** A model folder's shape and vocabulary without its weights (config.json, tokenizer.json): all a
 *  from-scratch run reads of a base. */
export function shapeDigest(dir: string): string {
  return digestFiles(dir, ['config.json', 'tokenizer.json']);
}

/** A test score and the SHA-256 of every logit computed for it. */
export interface Measured {
  score: number;
  metric: string;
  digest: string;
}

/**
 * Scores `examples` and digests their logits in one pass, in batches of 64 as predict() makes
 * them, so the digest covers exactly the logits the predictions were decoded from.
 */
export async function measure(
  spec: TaskSpec,
  examples: readonly Example[],
  encode: (xs: readonly Example[]) => Promise<Batch>,
  logits: (b: Batch) => Tensor,
): Promise<Measured> {
  const hash = createHash('sha256');
  const pred: (string | number | string[])[] = [];
  for (let i = 0; i < examples.length; i += 64) {
    const chunk = examples.slice(i, i + 64);
    const batch = await encode(chunk);
    const l = noGrad(() => logits(batch));
    const f = l.f32;
    hash.update(new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
    pred.push(...decodePredictions(spec, l, batch, chunk).map(rawPrediction));
  }
  const s = scorePredictions(spec, examples, pred);
  return { score: s.score, metric: s.metric, digest: hash.digest('hex') };
}

/** A task's test score and logits digest, in inference mode's batches (the model in eval mode). */
export const measurePath = (model: TaskModel, t: TaskData) =>
  measure(
    model.tasks.get(t.name)!.spec,
    t.test,
    (xs) => model.encode(t.name, xs, false),
    (b) => model.logits(t.name, b),
  );

/**
 * The model's encoder with one plain head, `task`'s pooler and output layer (no n-gram bag, no
 * prior: what the PyTorch reference computes), as an "encoder" folder.
 */
export function plainFolder(src: string, task: string, out: string): void {
  const cfg = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8'));
  const spec = (cfg.tasks as { name: string; lexical?: unknown }[]).find((t) => t.name === task);
  if (!spec) throw new Error(`${src} has no task "${task}"`);
  delete spec.lexical;
  cfg.tasks = [spec];
  const { tensors, metadata } = readSafetensors(join(src, 'model.safetensors'));
  const own = (n: string) => !n.startsWith('heads.') || n.startsWith(`heads.${task}.pooler.`) || n.startsWith(`heads.${task}.out.`);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'config.json'), JSON.stringify(cfg, null, 2));
  writeFileSync(join(out, 'model.safetensors'), serializeSafetensors(new Map([...tensors].filter(([n]) => own(n))), metadata));
  writeFileSync(join(out, 'tokenizer.json'), readFileSync(join(src, 'tokenizer.json')));
}

/** A batch of B random sequences of T real tokens (ids >= 5: past the special tokens). */
export function randomBatch(B: number, T: number, vocab: number, seed: number): Batch {
  const rng = new Rng(seed);
  const ids = Int32Array.from({ length: B * T }, () => 5 + Math.floor(rng.uniform() * (vocab - 5)));
  return {
    ids: new Tensor(ids, [B, T]),
    typeIds: new Tensor(new Int32Array(B * T), [B, T]),
    keep: new Tensor(new Float32Array(B * T).fill(1), [B, T]),
    targets: null,
    rows: null,
    wordsScored: null,
  };
}
