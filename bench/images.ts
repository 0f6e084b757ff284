// Images in the same model (docs/images.md): the three measurements the images issue asks for.
//
//   alone   `digits` trained alone from the pretrained base (a stem and a head in front of the
//           base's blocks, everything trained), --steps batches of 32; test accuracy.
//   added   `digits` added by μ2Net path search (`pathwise add-task`) to a trained text model
//           (--model, a `pathwise train` folder: the quickstart's); test accuracy, and whether every
//           text task's test logits are bit for bit the same after (SHA-256 of the raw float32s).
//   joint   one `pathwise train` run of the text model's tasks and `digits` together (--joint-steps
//           batches, tasks drawn ∝ n^(1/T)), against each task trained alone on its expected share
//           of those batches (bench:multitask's rule); the largest gap, alone − joint, in points.
//
// Each part writes docs/results/images/<part>.json when it finishes (alone: alone-s<seed>.json, one
// per --seed, its figure the mean over the seeds run) (run parts separately with
// --parts; the files are kept in the repository, since a part costs up to hours of a core and parts
// accumulate over sessions on fresh checkouts); docs/results/images.md and images.json are written from whatever is there, with
// `digits_alone`, `digits_added`, `text_logits_identical` and `joint_max_gap` (null until
// measured). One JSON line is printed last.
//
//   npm run bench:images [-- --parts alone,added,joint --model runs/quickstart/model --steps 8000
//                            --joint-steps 4000 --children 8 --search-steps 1500 --patience 2 --seed 0]

import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../src/engine/index.js';
import type { ImageStem } from '../src/nn/index.js';
import { TaskModel, inLayout, loadModel, loadPretrained, specOf } from '../src/model/index.js';
import { loadBuiltinTask } from '../src/tasks/builtin/index.js';
import type { TaskData } from '../src/tasks/task.js';
import { isTextSequenceTask } from '../src/tasks/task.js';
import { lexicalDefaultsSchema } from '../src/tasks/ngrams.js';
import { taskProbabilities, trainMultiTask, type MultiTaskOptions } from '../src/train/multitask.js';
import { searchTask } from '../src/evolve/index.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { ROOT, benchSchedule, flag, log, measurePath } from './common.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : dflt;
};
const PARTS = arg('parts', 'alone,added,joint').split(',');
const BASE = arg('base', join(ROOT, 'models', 'base'));
const MODEL = arg('model', join(ROOT, 'runs', 'quickstart', 'model'));
const STEPS = flag('steps', 8000);
const JOINT_STEPS = flag('joint-steps', 4000);
const SEED = flag('seed', 0);
const RESULTS = arg('results', join(ROOT, 'docs', 'results', 'images'));
const OUT_MD = arg('md', join(ROOT, 'docs', 'results', 'images.md'));

/** bench:multitask's training settings, but for the image task's own learning rate (below). */
const TRAIN: Partial<MultiTaskOptions> = {
  batchSize: 32,
  lr: 5e-4,
  weightDecay: 0.01,
  clipNorm: 1,
  temperature: 3,
  evalExamples: 1000,
  lexicalLrScale: 100,
  naiveBayesPrior: true,
};
/** The learning rate of a run of image tasks only (digits alone); runs with text tasks use TRAIN.lr. */
const IMAGE_LR = Number(arg('image-lr', '1e-3'));

const pct = (x: number) => +(100 * x).toFixed(2);

function fromBase(tasks: TaskData[]): TaskModel {
  const pre = loadPretrained(BASE);
  if (!pre.tokenizer) throw new Error(`${BASE}: no tokenizer.json`);
  const sparse = { switch: null, skills: null };
  const rng = new Rng(1 + SEED);
  const lm = inLayout(pre, BASE, sparse, rng, 'bench:images');
  const model = TaskModel.fromEncoder(lm.encoder, pre.tokenizer, { sparse, rng, maxLen: 128 });
  const bag = lexicalDefaultsSchema.parse({});
  for (const t of tasks) model.addTask({ ...specOf(t), ...(isTextSequenceTask(t.type) ? { lexical: bag } : {}) });
  return model;
}

async function train(model: TaskModel, tasks: TaskData[], steps: number): Promise<Record<string, number>> {
  const imageOnly = tasks.every((t) => t.type === 'image_classification');
  await trainMultiTask(model, tasks, {
    ...TRAIN,
    lr: imageOnly ? IMAGE_LR : TRAIN.lr!,
    seed: SEED,
    ...benchSchedule(steps, 5),
  });
  const out: Record<string, number> = {};
  for (const t of tasks) out[t.name] = pct((await model.evaluate(t.name, t.test)).score);
  return out;
}

/** The SHA-256 of a task's test logits, in eval mode (bench/common.ts measurePath). */
async function logitsDigest(model: TaskModel, t: TaskData): Promise<string> {
  model.eval();
  return (await measurePath(model, t)).digest;
}

const save = (part: string, v: unknown) => {
  mkdirSync(RESULTS, { recursive: true });
  writeFileAtomic(join(RESULTS, `${part}.json`), JSON.stringify(v, null, 1) + '\n');
};
const saved = (part: string): Record<string, unknown> | null =>
  existsSync(join(RESULTS, `${part}.json`)) ? (JSON.parse(readFileSync(join(RESULTS, `${part}.json`), 'utf8')) as Record<string, unknown>) : null;

const digits = loadBuiltinTask('digits');

if (PARTS.includes('alone')) {
  const t0 = performance.now();
  const model = fromBase([digits]);
  const scores = await train(model, [digits], STEPS);
  const path = model.taskPath('digits');
  const stem = (path.embeddings as ImageStem).cfg;
  save(`alone-s${SEED}`, {
    digits: scores.digits,
    steps: STEPS,
    lr: IMAGE_LR,
    seed: SEED,
    stem,
    pooling: path.head.cfg.pooling,
    seconds: Math.round((performance.now() - t0) / 1000),
  });
  log(`alone: digits ${scores.digits}`);
}

if (PARTS.includes('added')) {
  const model = loadModel(MODEL);
  const text = [...model.tasks.values()].map((t) => {
    if (!t.source || !('builtin' in t.source)) throw new Error(`${MODEL}: task "${t.spec.name}" is not a built-in task; give a quickstart model`);
    return loadBuiltinTask(t.source.builtin);
  });
  const before: Record<string, string> = {};
  for (const t of text) before[t.name] = await logitsDigest(model, t);
  const t0 = performance.now();
  const search = { children: flag('children', 8), steps: flag('search-steps', 1500), patience: flag('patience', 2) };
  const res = await searchTask(
    model,
    digits,
    { builtin: 'digits' },
    {
      ...search,
      evalEvery: flag('eval-every', 250),
      seed: SEED,
      log,
    },
  );
  const identical: Record<string, boolean> = {};
  for (const t of text) identical[t.name] = (await logitsDigest(model, t)) === before[t.name];
  const acc = pct((await model.evaluate('digits', digits.test)).score);
  save('added', {
    digits: acc,
    identical,
    path: res.best.notes,
    added: res.best.added,
    stepsSpent: res.stepsSpent,
    search,
    seconds: Math.round((performance.now() - t0) / 1000),
  });
  log(`added: digits ${acc}; text logits identical: ${JSON.stringify(identical)}`);
}

if (PARTS.includes('joint')) {
  const model0 = loadModel(MODEL);
  const text = [...model0.tasks.values()].map((t) => loadBuiltinTask((t.source as { builtin: string }).builtin));
  const tasks = [...text, digits];
  const joint = await train(fromBase(tasks), tasks, JOINT_STEPS);
  const p = taskProbabilities(
    tasks.map((t) => t.train.length),
    TRAIN.temperature!,
  );
  const alone: Record<string, number> = {};
  for (const [i, t] of tasks.entries()) alone[t.name] = (await train(fromBase([t]), [t], Math.max(1, Math.round(p[i] * JOINT_STEPS))))[t.name];
  const gaps = Object.fromEntries(tasks.map((t) => [t.name, +(alone[t.name] - joint[t.name]).toFixed(2)]));
  save('joint', { joint, alone, gaps, steps: JOINT_STEPS, seed: SEED });
  log(`joint: ${JSON.stringify(joint)}; alone: ${JSON.stringify(alone)}`);
}

/** The search settings an `added` run recorded (runs before they were recorded: none). */
const searchOf = (r: Record<string, unknown>): string => {
  const s = r.search as { children: number; steps: number; patience: number } | undefined;
  return s ? `a search of ${s.children} children of up to ${s.steps} steps (patience ${s.patience}), ` : '';
};

// ------------------------------------------------------------------------------------ report
// `alone` runs once per seed (--seed); its figure is their mean, over runs made the same way.
const aloneRuns = (existsSync(RESULTS) ? readdirSync(RESULTS) : [])
  .filter((f) => /^alone-s\d+\.json$/.test(f))
  .map(
    (f) =>
      JSON.parse(readFileSync(join(RESULTS, f), 'utf8')) as {
        digits: number;
        seed: number;
        steps: number;
        lr: number;
        stem: unknown;
        pooling: string;
        seconds: number;
      },
  )
  .sort((x, y) => x.seed - y.seed);
// Keys sorted: the same stem written with its keys in another order is the same stem.
const sortedKeys = (_k: string, v: unknown) =>
  v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v;
const setting = (r: (typeof aloneRuns)[number]) => JSON.stringify([r.steps, r.lr, r.stem, r.pooling], sortedKeys);
if (new Set(aloneRuns.map(setting)).size > 1)
  throw new Error(
    `${RESULTS}: the alone-s<seed>.json runs differ in steps, lr, stem or pooling (${[...new Set(aloneRuns.map(setting))].join(' / ')}); rerun or remove the odd ones`,
  );
const a = aloneRuns[0] ?? null;
const aloneMean = aloneRuns.length ? +(aloneRuns.reduce((t, r) => t + r.digits, 0) / aloneRuns.length).toFixed(2) : null;
const d = saved('added');
const j = saved('joint');
const summary = {
  digits_alone: aloneMean,
  digits_alone_seeds: aloneRuns.map((r) => r.seed),
  digits_added: (d?.digits as number | undefined) ?? null,
  text_logits_identical: d ? Object.values(d.identical as Record<string, boolean>).every(Boolean) : null,
  joint_max_gap: j ? Math.max(...Object.values(j.gaps as Record<string, number>)) : null,
};
const md = [
  '# Images in the same model: the measurements',
  '',
  'Produced by `npm run bench:images` (`bench/images.ts`) from `docs/results/images/*.json`; `images.json` beside this page holds the summary.',
  '',
  '| measurement | figure | target |',
  '|---|---:|---|',
  `| \`digits\` trained alone, test accuracy${aloneRuns.length > 1 ? `, mean of ${aloneRuns.length} seeds` : ''} | ${summary.digits_alone ?? 'not run'} | ≥ 98 |`,
  `| \`digits\` added to the quickstart's text model by path search | ${summary.digits_added ?? 'not run'} | ≥ 97 |`,
  `| every text task's test logits bit for bit unchanged by the addition | ${summary.text_logits_identical ?? 'not run'} | true |`,
  `| text + image in one run: largest (alone − joint), points | ${summary.joint_max_gap ?? 'not run'} | ≤ 1 |`,
  '',
  ...(a
    ? [
        `Alone: ${a.steps} steps of 32, lr ${a.lr}; stem ${JSON.stringify(a.stem)}, ${a.pooling} pooling. Per seed: ${aloneRuns.map((r) => `seed ${r.seed} ${r.digits} (${r.seconds} s)`).join(', ')}.`,
      ]
    : []),
  ...(d
    ? [
        `Added: ${searchOf(d)}${d.stepsSpent} training steps over the search's children, ${d.added} parameters added, ${d.seconds} s; the chosen child: ${(d.path as string[]).join('; ')}.`,
      ]
    : []),
  ...(j
    ? [
        '',
        '| task | joint | alone | alone − joint |',
        '|---|---:|---:|---:|',
        ...Object.keys(j.joint as object).map(
          (t) => `| ${t} | ${(j.joint as Record<string, number>)[t]} | ${(j.alone as Record<string, number>)[t]} | ${(j.gaps as Record<string, number>)[t]} |`,
        ),
      ]
    : []),
  '',
];
mkdirSync(join(OUT_MD, '..'), { recursive: true });
writeFileAtomic(OUT_MD, md.join('\n'));
writeFileAtomic(OUT_MD.replace(/\.md$/, '.json'), JSON.stringify(summary, null, 1) + '\n');
console.log(JSON.stringify(summary));
