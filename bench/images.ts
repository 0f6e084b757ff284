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
//           --joint-model switch: the joint run and the alone runs in a Switch model (the base
//           upcycled, bench:multitask's configuration (3)) instead of a dense one;
//           joint-switch-s<seed>.json (run to close wic's gap: wic had scored 3 points higher in
//           the Switch model than in the dense one in bench:multitask; it did not, docs/images.md).
//           --joint-no-bag wic[,...] (default wic; '' for none): those tasks' heads get no n-gram
//           bag, in the joint run and alone (joint-nobag-wic-s<seed>.json; none: joint-s<seed>.json).
//           A task's alone run is shared by every setting of the same model that trains it the same
//           way (steps, rate, bag), so it runs once a seed. Every setting is reported;
//           images.json's joint_max_gap is the setting of the flags' defaults (JUDGED below).
//
// Each part writes docs/results/images/<part>.json when it finishes (alone and joint: alone-s<seed>.json
// and joint-s<seed>.json, one per --seed, their figures the means over the seeds run) (run parts separately with
// --parts; the files are kept in the repository, since a part costs up to hours of a core and parts
// accumulate over sessions on fresh checkouts); docs/results/images.md and images.json are written from whatever is there, with
// `digits_alone`, `digits_added`, `text_logits_identical` and `joint_max_gap` (null until
// measured). One JSON line is printed last.
//
//   npm run bench:images [-- --parts alone,added,joint --model runs/quickstart/model --steps 8000
//                            --joint-steps 4000 --joint-model dense --joint-no-bag wic --children 8
//                            --search-steps 1500 --patience 2 --seed 0]
//   npm run bench:images -- --parts ''      (rewrite images.md and images.json from the saved results)

import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../src/engine/index.js';
import type { ImageStem } from '../src/nn/index.js';
import { DEFAULT_SPARSE_SWITCH, type SparseConfig } from '../src/sparse/index.js';
import { TaskModel, inLayout, loadModel, loadPretrained, specOf } from '../src/model/index.js';
import { loadBuiltinTask } from '../src/tasks/builtin/index.js';
import type { TaskData } from '../src/tasks/task.js';
import { isTextSequenceTask } from '../src/tasks/task.js';
import { lexicalDefaultsSchema } from '../src/tasks/ngrams.js';
import { DEFAULT_MULTITASK, taskProbabilities, trainMultiTask, type MultiTaskOptions } from '../src/train/multitask.js';
import { searchTask } from '../src/evolve/index.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { ROOT, benchFlags, benchSchedule, log, measurePath } from './common.js';

// Flags (benchFlags: an unknown flag or a bad number stops the bench before it trains).
const JOINT_MODELS = ['dense', 'switch'] as const;
type JointModel = (typeof JOINT_MODELS)[number];
/** The joint setting the flags default to, which images.json judges. wic's bag brings it nothing and costs it 3 to 5 points at the end of a run (docs/images.md). */
const JUDGED = { model: 'dense' as JointModel, noBag: ['wic'] };
const opt = benchFlags({
  parts: { type: 'string', default: 'alone,added,joint' },
  base: { type: 'string', default: join(ROOT, 'models', 'base') },
  model: { type: 'string', default: join(ROOT, 'runs', 'quickstart', 'model') },
  steps: { type: 'number', default: 8000, integer: true, min: 1 },
  'joint-steps': { type: 'number', default: 4000, integer: true, min: 1 },
  'joint-model': { type: 'string', default: JUDGED.model, choices: JOINT_MODELS },
  'joint-no-bag': { type: 'string', default: JUDGED.noBag.join(',') },
  seed: { type: 'number', default: 0, integer: true, min: 0 },
  results: { type: 'string', default: join(ROOT, 'docs', 'results', 'images') },
  md: { type: 'string', default: join(ROOT, 'docs', 'results', 'images.md') },
  'image-lr': { type: 'number', default: 1e-3, above: 0 },
  children: { type: 'number', default: 8, integer: true, min: 1 },
  'search-steps': { type: 'number', default: 1500, integer: true, min: 1 },
  patience: { type: 'number', default: 2, integer: true, min: 0 },
  'eval-every': { type: 'number', default: 250, integer: true, min: 1 },
});
// `--parts ''` trains nothing and rewrites the report from the saved results.
const PARTS = opt.parts.split(',').filter((p) => p !== '');
for (const p of PARTS) if (!['alone', 'added', 'joint'].includes(p)) throw new Error(`--parts: "${p}" is not one of alone, added, joint`);
const BASE = opt.base;
const MODEL = opt.model;
const STEPS = opt.steps;
const JOINT_STEPS = opt['joint-steps'];
const SEED = opt.seed;
const JOINT_MODEL: JointModel = opt['joint-model'];
const JOINT_NO_BAG = opt['joint-no-bag'].split(',').filter((t) => t !== '');
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
/** Dev evaluations per run (its best kept; it stops after DEFAULT_MULTITASK.patience without a better one). */
const EVALS = 5;
/** The learning rate of a run of image tasks only (digits alone); runs with text tasks use TRAIN.lr. */
const IMAGE_LR = opt['image-lr'];

const pct = (x: number) => +(100 * x).toFixed(2);

/** The sparse layout of each joint model: the Switch one is bench:multitask's configuration (3). */
const SPARSE: Record<JointModel, SparseConfig> = {
  dense: { switch: null, skills: null },
  switch: { switch: { ...DEFAULT_SPARSE_SWITCH, experts: 8, topK: 1, every: 2 }, skills: null },
};

/** Whether task `t`'s head gets an n-gram bag: every text sequence task's does, but those in `noBag`. */
const bagged = (t: Pick<TaskData, 'name' | 'type'>, noBag: readonly string[]) => isTextSequenceTask(t.type) && !noBag.includes(t.name);

function fromBase(tasks: TaskData[], kind: JointModel = 'dense', noBag: readonly string[] = []): TaskModel {
  const pre = loadPretrained(BASE);
  if (!pre.tokenizer) throw new Error(`${BASE}: no tokenizer.json`);
  const sparse = SPARSE[kind];
  const rng = new Rng(1 + SEED);
  const lm = inLayout(pre, BASE, sparse, rng, 'bench:images');
  const model = TaskModel.fromEncoder(lm.encoder, pre.tokenizer, { sparse, rng, maxLen: 128 });
  const bag = lexicalDefaultsSchema.parse({});
  for (const t of tasks) model.addTask({ ...specOf(t), ...(bagged(t, noBag) ? { lexical: bag } : {}) });
  return model;
}

/** Trains `tasks` for `steps` batches at `lr` (default: IMAGE_LR for image tasks only, else TRAIN.lr); test scores in %. */
async function train(model: TaskModel, tasks: TaskData[], steps: number, lr?: number, curve?: CurvePoint[]): Promise<Record<string, number>> {
  const imageOnly = tasks.every((t) => t.type === 'image_classification');
  await trainMultiTask(model, tasks, {
    ...TRAIN,
    lr: lr ?? (imageOnly ? IMAGE_LR : TRAIN.lr!),
    seed: SEED,
    ...benchSchedule(steps, EVALS),
    // With `curve`: every task's dev and test score at each evaluation, a record of when each task
    // peaks (the run's choice of checkpoint is its own, by the dev average, as always).
    onEvaluate: curve
      ? async ({ step, dev }) => {
          const test: Record<string, number> = {};
          for (const t of tasks) test[t.name] = pct((await model.evaluate(t.name, t.test)).score);
          curve.push({ step, dev: Object.fromEntries(tasks.map((t) => [t.name, pct(dev[t.name].score)])), test });
        }
      : undefined,
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
/** One evaluation of a joint run: each task's dev score (the run's sample) and test score, in %. */
interface CurvePoint {
  step: number;
  dev: Record<string, number>;
  test: Record<string, number>;
}
/** One seed of one joint setting (joint[-switch][-nobag-<tasks>]-s<seed>.json): the joint run's test scores and each task's alone run. */
interface JointRun {
  steps: number;
  lr: number;
  seed: number;
  /** Absent in the dense runs written before Switch runs existed. */
  model?: JointModel;
  /** Tasks whose heads have no n-gram bag (absent: none). */
  noBag?: string[];
  joint: Record<string, number> | null;
  /** The joint run's scores at each evaluation (runs before it was recorded: absent). */
  curve?: CurvePoint[];
  /** Where a curve added later came from (a rerun of the same joint run). */
  curveFrom?: string;
  /**
   * `lexical`: whether the head had an n-gram bag (absent in runs before it was recorded: every
   * text sequence task's had); `curve`: its scores at each evaluation (absent in older runs).
   */
  alone: Record<string, { score: number; steps: number; lr: number; lexical?: boolean; curve?: CurvePoint[] }>;
}
/** alone − joint per task, in points (tasks measured both ways). */
const gapsOf = (r: JointRun): Record<string, number> =>
  Object.fromEntries(
    Object.entries(r.alone)
      .filter(([t]) => r.joint?.[t] !== undefined)
      .map(([t, a]) => [t, +(a.score - r.joint![t]).toFixed(2)]),
  );
/** A joint setting: the model, and the tasks whose heads have no n-gram bag. */
interface JointSetting {
  model: JointModel;
  noBag: string[];
}
const settingOf = (r: JointRun): JointSetting => ({ model: r.model ?? 'dense', noBag: r.noBag ?? [] });
/** The setting's files' name up to the seed (the plain dense setting's name predates the others). */
const jointPrefix = (s: JointSetting) =>
  ['joint', ...(s.model === 'dense' ? [] : [s.model]), ...(s.noBag.length ? [`nobag-${s.noBag.join('+')}`] : []), 's'].join('-');
const labelOf = (s: JointSetting) => `${s.model} model${s.noBag.length ? `, no n-gram bag on ${s.noBag.join(', ')}` : ''}`;
/** Every joint file in RESULTS: its name up to the seed, its seed, its run. */
function jointFiles(): { prefix: string; seed: number; run: JointRun }[] {
  return (existsSync(RESULTS) ? readdirSync(RESULTS) : []).sort().flatMap((f) => {
    const m = /^(joint-(?:.+-)?s)(\d+)\.json$/.exec(f);
    if (!m) return [];
    const run = JSON.parse(readFileSync(join(RESULTS, f), 'utf8')) as JointRun;
    if (jointPrefix(settingOf(run)) !== m[1]) throw new Error(`${join(RESULTS, f)}: its model and noBag say ${jointPrefix(settingOf(run))}<seed>.json`);
    return [{ prefix: m[1], seed: Number(m[2]), run }];
  });
}
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
  const search = { children: opt.children, steps: opt['search-steps'], patience: opt.patience };
  const res = await searchTask(
    model,
    digits,
    { builtin: 'digits' },
    {
      ...search,
      evalEvery: opt['eval-every'],
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
  for (const n of JOINT_NO_BAG)
    if (!tasks.some((t) => t.name === n && isTextSequenceTask(t.type)))
      throw new Error(
        `--joint-no-bag: "${n}" is not one of the joint run's text sequence tasks (${tasks
          .filter((t) => isTextSequenceTask(t.type))
          .map((t) => t.name)
          .join(', ')})`,
      );
  const here: JointSetting = { model: JOINT_MODEL, noBag: JOINT_NO_BAG };
  const part = `${jointPrefix(here)}${SEED}`;
  const file = join(RESULTS, `${part}.json`);
  const prev = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as JointRun) : null;
  const same = prev !== null && prev.steps === JOINT_STEPS && prev.lr === TRAIN.lr && prev.seed === SEED;
  const run: JointRun = same
    ? prev
    : { steps: JOINT_STEPS, lr: TRAIN.lr!, seed: SEED, model: JOINT_MODEL, ...(JOINT_NO_BAG.length ? { noBag: JOINT_NO_BAG } : {}), joint: null, alone: {} };
  const keep = () => save(part, { ...run, gaps: gapsOf(run) });
  // This seed's alone runs in the other settings' files of the same model: a task trained alone
  // the same way (steps, rate, bag) is the same run whatever the other tasks' heads were.
  const others = jointFiles()
    .filter((j) => j.seed === SEED && j.prefix !== jointPrefix(here) && settingOf(j.run).model === JOINT_MODEL)
    .map((j) => j.run);
  if (!run.joint) {
    const curve: CurvePoint[] = [];
    run.joint = await train(fromBase(tasks, JOINT_MODEL, JOINT_NO_BAG), tasks, JOINT_STEPS, undefined, curve);
    run.curve = curve;
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
    const lexical = bagged(t, JOINT_NO_BAG);
    const sameRun = (a: JointRun['alone'][string] | undefined) =>
      a !== undefined && a.steps === steps && a.lr === TRAIN.lr && (a.lexical ?? isTextSequenceTask(t.type)) === lexical;
    if (sameRun(run.alone[t.name])) continue;
    const shared = others.map((r) => r.alone[t.name]).find(sameRun);
    if (shared) run.alone[t.name] = { ...shared, lexical };
    else {
      const curve: CurvePoint[] = [];
      const score = (await train(fromBase([t], JOINT_MODEL, JOINT_NO_BAG), [t], steps, TRAIN.lr, curve))[t.name];
      run.alone[t.name] = { score, steps, lr: TRAIN.lr!, lexical, curve };
    }
    keep();
  }
  log(
    `joint, ${labelOf(here)} (seed ${SEED}): ${JSON.stringify(run.joint)}; alone: ${JSON.stringify(Object.fromEntries(Object.entries(run.alone).map(([k, v]) => [k, v.score])))}`,
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
// The joint part's seeds that finished (the joint run and every task alone), per setting, with the same steps and rate.
const meanOf = (xs: number[]) => +(xs.reduce((t, x) => t + x, 0) / xs.length).toFixed(2);
function jointOf(setting: JointSetting, all: JointRun[]) {
  const label = labelOf(setting);
  const runs = all.filter((r) => r.joint && Object.keys(r.joint).every((t) => r.alone[t]));
  // Seeds whose joint run finished but not every alone run: reported, not counted.
  const partial = all.filter((r) => r.joint && !runs.includes(r));
  if (new Set(runs.map((r) => `${r.steps}/${r.lr}`)).size > 1)
    throw new Error(`${RESULTS}: the ${jointPrefix(setting)}<seed>.json runs differ in steps or lr; rerun or remove the odd ones`);
  const tasks = runs.length ? Object.keys(runs[0].joint!) : [];
  const mean = Object.fromEntries(
    tasks.map((t) => [
      t,
      {
        joint: meanOf(runs.map((r) => r.joint![t])),
        alone: meanOf(runs.map((r) => r.alone[t].score)),
        gap: meanOf(runs.map((r) => gapsOf(r)[t])),
      },
    ]),
  );
  return { setting, label, runs, partial, tasks, mean, maxGap: runs.length ? Math.max(...tasks.map((t) => mean[t].gap)) : null };
}
// Every setting with a file, the judged one first, then by name.
const byPrefix = new Map<string, JointRun[]>([[jointPrefix(JUDGED), []]]);
for (const j of jointFiles()) byPrefix.set(j.prefix, [...(byPrefix.get(j.prefix) ?? []), j.run]);
const joints = [...byPrefix.values()].map((all, i) =>
  jointOf(
    i === 0 ? JUDGED : settingOf(all[0]),
    all.sort((x, y) => x.seed - y.seed),
  ),
);
const judged = joints[0];
const summary = {
  digits_alone: aloneMean,
  digits_alone_seeds: aloneRuns.map((r) => r.seed),
  digits_added: (d?.digits as number | undefined) ?? null,
  text_logits_identical: d ? Object.values(d.identical as Record<string, boolean>).every(Boolean) : null,
  joint_max_gap: judged.maxGap,
  joint_setting: judged.label,
  joint_seeds: judged.runs.map((r) => r.seed),
  joint_max_gap_by_setting: Object.fromEntries(joints.map((j) => [j.label, j.maxGap])),
  joint_seeds_by_setting: Object.fromEntries(joints.map((j) => [j.label, j.runs.map((r) => r.seed)])),
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
  ...joints.map(
    (j) =>
      `| text + image in one run, ${j.label}${j === judged ? ' (judged)' : ''}: largest (alone − joint), points${j.runs.length ? `, mean of ${j.runs.length} seed${j.runs.length > 1 ? 's' : ''}` : ''} | ${j.maxGap ?? 'not run'} | ≤ 1 |`,
  ),
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
  ...joints.flatMap((j) =>
    j.runs.length
      ? [
          '',
          `Joint, ${j.label}${j.setting.model === 'switch' ? ` (the base upcycled: ${SPARSE.switch.switch!.experts} experts, top-${SPARSE.switch.switch!.topK}, every ${SPARSE.switch.switch!.every === 2 ? 'other' : `${SPARSE.switch.switch!.every}th`} layer; each task alone in the same Switch model)` : ''}: one run of every task for ${j.runs[0].steps} batches of 32 at lr ${j.runs[0].lr} (tasks drawn ∝ n^(1/${TRAIN.temperature})); alone: each task by itself for its expected share of those batches, at the same rate. Every run scores its dev sample ${EVALS} times, keeps the evaluation with the best dev average and stops after ${DEFAULT_MULTITASK.patience} evaluations without a better one. Test %, mean over seeds ${j.runs.map((r) => r.seed).join(', ')}; per seed: alone − joint.`,
          '',
          `| task | joint | alone | alone − joint | ${j.runs.map((r) => `seed ${r.seed}`).join(' | ')} |`,
          `|---|---:|---:|---:|${j.runs.map(() => '---:|').join('')}`,
          ...j.tasks.map((t) => `| ${t} | ${j.mean[t].joint} | ${j.mean[t].alone} | ${j.mean[t].gap} | ${j.runs.map((r) => gapsOf(r)[t]).join(' | ')} |`),
        ]
      : [],
  ),
  // Each recorded curve: the joint run's test scores at every evaluation, beside its dev average
  // (the run keeps the evaluation whose dev average is highest).
  ...joints.flatMap((j) =>
    [...j.runs, ...j.partial]
      .filter((r) => r.curve?.length)
      .flatMap((r) => {
        const names = Object.keys(r.curve![0].test);
        const avg = (c: CurvePoint) => (names.reduce((t, n) => t + c.dev[n], 0) / names.length).toFixed(2);
        return [
          '',
          `Joint, ${j.label}, seed ${r.seed}: test % at each evaluation, before the Naive Bayes priors (fitted after training), and the dev average the run keeps its best evaluation by${r.curveFrom ? ` (${r.curveFrom})` : ''}.`,
          '',
          `| step | ${names.join(' | ')} | dev average |`,
          `|---:|${names.map(() => '---:|').join('')}---:|`,
          ...r.curve!.map((c) => `| ${c.step} | ${names.map((n) => c.test[n]).join(' | ')} | ${avg(c)} |`),
        ];
      }),
  ),
  ...joints.flatMap((j) =>
    j.partial.length
      ? [
          '',
          `Joint, ${j.label}, unfinished seeds (the joint run made, not every task alone; not counted above): ${j.partial.map((r) => `seed ${r.seed} ${JSON.stringify(r.joint)}`).join('; ')}.`,
        ]
      : [],
  ),
  '',
];
mkdirSync(join(OUT_MD, '..'), { recursive: true });
writeFileAtomic(OUT_MD, md.join('\n'));
writeFileAtomic(OUT_MD.replace(/\.md$/, '.json'), JSON.stringify(summary, null, 1) + '\n');
console.log(JSON.stringify(summary));
