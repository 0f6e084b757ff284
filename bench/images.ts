// Images in the same model (docs/images.md): the three measurements the images issue asks for.
//
//   alone   `digits` trained alone from the pretrained base (a stem and a head in front of the
//           base's blocks, everything trained), --steps batches of 32; test accuracy.
//   added   `digits` added by μ2Net path search (`pathwise add-task`) to a trained text model
//           (--model, a `pathwise train` folder: the quickstart's); test accuracy, and whether every
//           text task's test logits are bit for bit the same after (SHA-256 of the raw float32s).
//   joint   one `pathwise train` run of the text model's tasks and `digits` together (--joint-steps
//           batches, tasks drawn ∝ n^(1/T)), against each task trained alone on its expected share
//           of those batches at the same learning rate (bench:multitask's rule: every setting the
//           same but the other tasks); per task, alone − joint in points, and the largest of its
//           means over the seeds run (one --seed per run; joint-s<seed>.json, resumable).
//
// Each part writes docs/results/images/<part>.json when it finishes (alone and joint: alone-s<seed>.json
// and joint-s<seed>.json, one per --seed, their figures the means over the seeds run) (run parts separately with
// --parts; the files are kept in the repository, since a part costs up to hours of a core and parts
// accumulate over sessions on fresh checkouts); docs/results/images.md and images.json are written from whatever is there, with
// `digits_alone`, `digits_added`, `text_logits_identical` and `joint_max_gap` (null until
// measured). One JSON line is printed last.
//
//   npm run bench:images [-- --parts alone,added,joint --model runs/quickstart/model --steps 8000
//                            --joint-steps 4000 --children 8 --search-steps 1500 --patience 2 --seed 0]
//   npm run bench:images -- --parts ''      (rewrite images.md and images.json from the saved results)

import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
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
import { ROOT, benchSchedule, log, measurePath } from './common.js';

// Flags (node:util parseArgs; an unknown flag or a bad number stops the bench before it trains).
const { values: opt } = parseArgs({
  options: {
    parts: { type: 'string', default: 'alone,added,joint' },
    base: { type: 'string', default: join(ROOT, 'models', 'base') },
    model: { type: 'string', default: join(ROOT, 'runs', 'quickstart', 'model') },
    steps: { type: 'string', default: '8000' },
    'joint-steps': { type: 'string', default: '4000' },
    seed: { type: 'string', default: '0' },
    results: { type: 'string', default: join(ROOT, 'docs', 'results', 'images') },
    md: { type: 'string', default: join(ROOT, 'docs', 'results', 'images.md') },
    'image-lr': { type: 'string', default: '1e-3' },
    children: { type: 'string', default: '8' },
    'search-steps': { type: 'string', default: '1500' },
    patience: { type: 'string', default: '2' },
    'eval-every': { type: 'string', default: '250' },
  },
  strict: true,
});
const int = (name: keyof typeof opt, min: number): number => {
  const v = Number(opt[name]);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(opt[name])}`);
  return v;
};
// `--parts ''` trains nothing and rewrites the report from the saved results.
const PARTS = opt.parts.split(',').filter((p) => p !== '');
for (const p of PARTS) if (!['alone', 'added', 'joint'].includes(p)) throw new Error(`--parts: "${p}" is not one of alone, added, joint`);
const BASE = opt.base;
const MODEL = opt.model;
const STEPS = int('steps', 1);
const JOINT_STEPS = int('joint-steps', 1);
const SEED = int('seed', 0);
const RESULTS = opt.results;
const OUT_MD = opt.md;

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
const IMAGE_LR = Number(opt['image-lr']);
if (!(IMAGE_LR > 0)) throw new Error(`--image-lr must be a number > 0, got ${JSON.stringify(opt['image-lr'])}`);

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

/** Trains `tasks` for `steps` batches at `lr` (default: IMAGE_LR for image tasks only, else TRAIN.lr); test scores in %. */
async function train(model: TaskModel, tasks: TaskData[], steps: number, lr?: number): Promise<Record<string, number>> {
  const imageOnly = tasks.every((t) => t.type === 'image_classification');
  await trainMultiTask(model, tasks, {
    ...TRAIN,
    lr: lr ?? (imageOnly ? IMAGE_LR : TRAIN.lr!),
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
/** One seed of the joint part (joint-s<seed>.json): the joint run's test scores and each task's alone run. */
interface JointRun {
  steps: number;
  lr: number;
  seed: number;
  joint: Record<string, number> | null;
  alone: Record<string, { score: number; steps: number; lr: number }>;
}
/** alone − joint per task, in points (tasks measured both ways). */
const gapsOf = (r: JointRun): Record<string, number> =>
  Object.fromEntries(
    Object.entries(r.alone)
      .filter(([t]) => r.joint?.[t] !== undefined)
      .map(([t, a]) => [t, +(a.score - r.joint![t]).toFixed(2)]),
  );
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
  const search = { children: int('children', 1), steps: int('search-steps', 1), patience: int('patience', 0) };
  const res = await searchTask(
    model,
    digits,
    { builtin: 'digits' },
    {
      ...search,
      evalEvery: int('eval-every', 1),
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
  // Resumable, per seed: the joint run's scores are kept once measured, and each task trained
  // alone is kept with the settings it was trained with, so a rerun trains only what is missing
  // or was trained otherwise (a part costs an hour of a core).
  const file = join(RESULTS, `joint-s${SEED}.json`);
  const prev = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as JointRun) : null;
  const same = prev !== null && prev.steps === JOINT_STEPS && prev.lr === TRAIN.lr && prev.seed === SEED;
  const run: JointRun = same ? prev : { steps: JOINT_STEPS, lr: TRAIN.lr!, seed: SEED, joint: null, alone: {} };
  const keep = () => save(`joint-s${SEED}`, { ...run, gaps: gapsOf(run) });
  if (!run.joint) {
    run.joint = await train(fromBase(tasks), tasks, JOINT_STEPS);
    keep();
  }
  const p = taskProbabilities(
    tasks.map((t) => t.train.length),
    TRAIN.temperature!,
  );
  for (const [i, t] of tasks.entries()) {
    // The same task alone: its expected share of the joint run's batches, at the joint run's
    // learning rate (every setting the same but the other tasks).
    const steps = Math.max(1, Math.round(p[i] * JOINT_STEPS));
    const had = run.alone[t.name];
    if (had && had.steps === steps && had.lr === TRAIN.lr) continue;
    run.alone[t.name] = { score: (await train(fromBase([t]), [t], steps, TRAIN.lr))[t.name], steps, lr: TRAIN.lr! };
    keep();
  }
  log(
    `joint (seed ${SEED}): ${JSON.stringify(run.joint)}; alone: ${JSON.stringify(Object.fromEntries(Object.entries(run.alone).map(([k, v]) => [k, v.score])))}`,
  );
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
// The joint part's seeds that finished (the joint run and every task alone), with the same steps and rate.
const jointRuns = (existsSync(RESULTS) ? readdirSync(RESULTS) : [])
  .filter((f) => /^joint-s\d+\.json$/.test(f))
  .map((f) => JSON.parse(readFileSync(join(RESULTS, f), 'utf8')) as JointRun)
  .filter((r) => r.joint && Object.keys(r.joint).every((t) => r.alone[t]))
  .sort((x, y) => x.seed - y.seed);
if (new Set(jointRuns.map((r) => `${r.steps}/${r.lr}`)).size > 1)
  throw new Error(`${RESULTS}: the joint-s<seed>.json runs differ in steps or lr; rerun or remove the odd ones`);
const jointTasks = jointRuns.length ? Object.keys(jointRuns[0].joint!) : [];
const meanOf = (xs: number[]) => +(xs.reduce((t, x) => t + x, 0) / xs.length).toFixed(2);
const jointMean = Object.fromEntries(
  jointTasks.map((t) => [
    t,
    {
      joint: meanOf(jointRuns.map((r) => r.joint![t])),
      alone: meanOf(jointRuns.map((r) => r.alone[t].score)),
      gap: meanOf(jointRuns.map((r) => gapsOf(r)[t])),
    },
  ]),
);
const summary = {
  digits_alone: aloneMean,
  digits_alone_seeds: aloneRuns.map((r) => r.seed),
  digits_added: (d?.digits as number | undefined) ?? null,
  text_logits_identical: d ? Object.values(d.identical as Record<string, boolean>).every(Boolean) : null,
  joint_max_gap: jointRuns.length ? Math.max(...jointTasks.map((t) => jointMean[t].gap)) : null,
  joint_seeds: jointRuns.map((r) => r.seed),
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
  `| text + image in one run: largest (alone − joint), points${jointRuns.length ? `, mean of ${jointRuns.length} seed${jointRuns.length > 1 ? 's' : ''}` : ''} | ${summary.joint_max_gap ?? 'not run'} | ≤ 1 |`,
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
  ...(jointRuns.length
    ? [
        '',
        `Joint: one run of every task for ${jointRuns[0].steps} batches of 32 at lr ${jointRuns[0].lr} (tasks drawn ∝ n^(1/${TRAIN.temperature})); alone: each task by itself for its expected share of those batches, at the same rate. Test %, mean over seeds ${jointRuns.map((r) => r.seed).join(', ')}; per seed: alone − joint.`,
        '',
        `| task | joint | alone | alone − joint | ${jointRuns.map((r) => `seed ${r.seed}`).join(' | ')} |`,
        `|---|---:|---:|---:|${jointRuns.map(() => '---:|').join('')}`,
        ...jointTasks.map(
          (t) => `| ${t} | ${jointMean[t].joint} | ${jointMean[t].alone} | ${jointMean[t].gap} | ${jointRuns.map((r) => gapsOf(r)[t]).join(' | ')} |`,
        ),
      ]
    : []),
  '',
];
mkdirSync(join(OUT_MD, '..'), { recursive: true });
writeFileAtomic(OUT_MD, md.join('\n'));
writeFileAtomic(OUT_MD.replace(/\.md$/, '.json'), JSON.stringify(summary, null, 1) + '\n');
console.log(JSON.stringify(summary));
