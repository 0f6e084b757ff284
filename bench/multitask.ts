// SkillNet's comparison on our six built-in tasks: one pretrained base, six ways to use it.
//   (1) task-specific fine-tuning, one model per task      (2) dense multi-task, one model
//   (3) Switch multi-task (base upcycled to 8 experts)      (4) SkillNet multi-task (skill table below)
//   (5) SkillNet after skill-aware pretraining              (6) task-specific training from scratch
// Every configuration gets the same budget, steps × tasks batches of 32 (--steps: batches per task
// on average), split across tasks the same way: the multi-task models draw each batch's task
// ∝ n^(1/2) (SkillNet's sampling), and a single-task model of task t trains for t's expected share
// of those batches, so a task sees as many examples alone as it does in a multi-task model. The
// same optimizer, learning rate and schedule, model selection on dev, and one score on test. Every
// configuration runs once per seed (--seeds; the seed draws the heads, the task sampling and the
// batches), and the report gives each task's mean and spread over the seeds and judges the floors
// on the mean. Every sequence task's head has a hashed n-gram bag beside the encoder (tasks/heads.ts;
// --lexical 0 for none), and every classification head a Naive Bayes prior fitted on dev after
// training (tasks/naive_bayes_prior.ts; --prior 0 for none). Results go to docs/results/multitask/c<N>-s<seed>.json (one per
// configuration and seed, so they can run separately or in parallel) and are assembled into
// docs/results/multitask.md and multitask.json (the figures, `floors_missed` among them).
//
//   npm run bench:multitask [-- --base models/base --steps 800 --configs 1,2,3,4,5,6 --seeds 0,1,2 --skill-steps 300 --lexical 1 --lexical-warmup 0 --prior 1]
//   npm run bench:multitask -- --report      (rewrite the Markdown and JSON from the saved results and the settings they record)
// Not in CI: at the default budget one seed of the six configurations takes 3.2-3.4 core-hours (run two at a time,
// one per core, with OPENBLAS_NUM_THREADS=1 and --configs N, (1)-(5) took 1 h 33 min to 1 h 41 min of wall clock).
// That was before the n-gram bags: with them, (2) alone took 64 min at one thread (3,865 s, on a shared
// machine; 26.1 min before), so budget about twice as much.
// test/integration/multitask.test.ts runs a reduced version.

import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Rng } from '../src/engine/index.js';
import { TransformerEncoder } from '../src/nn/index.js';
import { DEFAULT_SPARSE_SWITCH, account, type SparseConfig } from '../src/sparse/index.js';
import { loadBuiltinTask } from '../src/tasks/builtin/index.js';
import { TASK_FLOORS, floorOf } from '../src/tasks/builtin/floors.js';
import { BUILTIN_SKILLS as SKILLS } from '../src/tasks/builtin/skills.js';
import { TaskModel, inLayout, loadPretrained, specOf } from '../src/model/index.js';
import { lexicalDefaultsSchema, type LexicalConfig } from '../src/tasks/ngrams.js';
import { subsample, type TaskData } from '../src/tasks/task.js';
import { DEFAULT_MULTITASK, evaluateTask, taskProbabilities, trainMultiTask, type MultiTaskOptions } from '../src/train/multitask.js';
import { PRIOR_DEV_EXAMPLES } from '../src/train/fit_prior.js';
import { DEFAULT_PRETRAIN, type PretrainConfig } from '../src/train/pretrain_config.js';
import { pretrain } from '../src/train/pretrain.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { ROOT, benchFlags, benchSchedule, intList, log, meanSd, modelDigest, shapeDigest } from './common.js';

const opt = benchFlags({
  base: { type: 'string', default: join(ROOT, 'models', 'base') },
  steps: { type: 'number', default: 800, integer: true, min: 1 },
  'skill-steps': { type: 'number', default: 300, integer: true, min: 1 },
  configs: { type: 'string', default: '1,2,3,4,5,6' },
  seeds: { type: 'string', default: '0,1,2' },
  lexical: { type: 'string', default: '1', choices: ['0', '1'] },
  'lexical-warmup': { type: 'number', default: 0, integer: true, min: 0 },
  prior: { type: 'string', default: '1', choices: ['0', '1'] },
  results: { type: 'string', default: join(ROOT, 'docs', 'results', 'multitask') },
  work: { type: 'string', default: join(ROOT, 'runs', 'bench-multitask') },
  md: { type: 'string', default: join(ROOT, 'docs', 'results', 'multitask.md') },
  'embedding-lr-scale': { type: 'number', default: 3, above: 0 },
  subsample: { type: 'number', default: 0, integer: true, min: 0 },
  report: { type: 'boolean' },
});

const TASKS = ['sent', 'spam', 'sense', 'genre', 'pos', 'wic'];
const BASE = opt.base;
const STEPS = opt.steps;
const SKILL_STEPS = opt['skill-steps'];
const CONFIGS = intList('configs', opt.configs, 1);
const SEEDS = intList('seeds', opt.seeds, 0);
const LEXICAL = opt.lexical === '1';
/** Epochs each n-gram bag trains alone before the run (train.lexicalWarmupEpochs). */
const LEXICAL_WARMUP = opt['lexical-warmup'];
/** Whether classification heads get a Naive Bayes prior after training (train.naiveBayesPrior). */
const PRIOR = opt.prior === '1';
/** Each run's figures, one file per configuration and seed. Kept in the repository beside the
 *  report: a run costs an hour of a core, and seeds accumulate over sessions on fresh checkouts. */
const RESULTS = opt.results;
/** Scratch folders (skill-aware pretraining's checkpoints): not kept. */
const WORK = opt.work;
const OUT_MD = opt.md;
/** The embeddings' lr scale for models that start from the pretrained base (MultiTaskOptions.embeddingLrScale
 *  says why: about the ratio of the base's embedding RMS to a fresh one's); 1 for (6), whose
 *  embeddings are fresh. */
const EMB_LR_SCALE = opt['embedding-lr-scale'];

/** One set of training hyperparameters for every configuration (no per-configuration tuning); the seed is the run's. */
const TRAIN: Partial<MultiTaskOptions> = {
  batchSize: 32,
  lr: 5e-4,
  weightDecay: 0.01,
  clipNorm: 1,
  temperature: 2,
  patience: 0,
  evalExamples: 500,
  lexicalLrScale: 100,
  naiveBayesPrior: PRIOR,
};
/** A sequence task's n-gram bag, when --lexical is on: train_config.ts's defaults. */
const BAG = lexicalDefaultsSchema.parse({});
const specFor = (t: TaskData) => ({ ...specOf(t), ...(LEXICAL && t.type !== 'tagging' ? { lexical: BAG } : {}) });

const SWITCH: SparseConfig = { switch: { ...DEFAULT_SPARSE_SWITCH, experts: 8, topK: 1, every: 2 }, skills: null };

const NAMES: Record<number, string> = {
  1: 'task-specific fine-tuning (one model per task)',
  2: 'dense multi-task',
  3: 'Switch multi-task (8 experts, top-1, every other layer)',
  4: 'SkillNet multi-task',
  5: 'SkillNet multi-task, skill-aware pretraining',
  6: 'task-specific training from scratch (one model per task)',
};

interface TaskResult {
  test: number;
  metric: string;
  /** null in a reconstructed result (below). */
  dev: number | null;
  activated: number;
  /** null in a reconstructed result (below). */
  steps: number | null;
  trainSize: number;
}
interface ConfigResult {
  config: number;
  /** The run's seed; absent in results from before seeds: 0. */
  seed?: number;
  name: string;
  /** Set where this file was rebuilt from an earlier report, not written by the run: what it kept. */
  reconstructedFrom?: string;
  tasks: Record<string, TaskResult>;
  totalParams: number;
  trainSeconds: number;
  extraPretrainSeconds: number;
  /** How the configuration was run (the report reads these, not the current flags). */
  setup: {
    steps: number;
    threads: string | null;
    skillPretrain?: { steps: number; heldOut: unknown };
    /** Absent in results from before grouping existed: 1. */
    groupByLength?: number;
    /** SHA-256 (first 16 hex) of the base's model.safetensors; absent in older results. */
    baseDigest?: string;
    /** SHA-256 (first 16 hex) of the base's config.json and tokenizer.json, all (6) reads of the
     *  base, so (6) need not rerun when only the base's weights change; absent in older results. */
    shapeDigest?: string;
    /** The embeddings' lr scale this configuration trained with; absent in older results: 1. */
    embeddingLrScale?: number;
    /** How single-task models' steps were set: "share" (the task's expected share of the
     *  multi-task budget); absent in older results, where every task got `steps`. */
    singleTaskSteps?: 'share';
    /** The heads' n-gram bag, its lr scale and its warm-up epochs; absent: none. */
    lexical?: { bag: LexicalConfig; lrScale: number; warmupEpochs?: number } | null;
    /** Whether classification heads got a Naive Bayes prior; absent in older results: no. */
    prior?: boolean;
  };
}

const count = (ps: { size: number }[]) => ps.reduce((s, p) => s + p.size, 0);

/** Dev evaluations per run: enough to catch a small task's best epoch, few enough to stay cheap. */
const EVALS = 8;

/** Single-task models' steps: each task's expected share of the multi-task budget of steps × tasks
 *  batches (at least one batch). The report recomputes them from the saved sizes and steps. */
function shares(trainSizes: number[], steps: number): number[] {
  return taskProbabilities(trainSizes, TRAIN.temperature!).map((p) => Math.max(1, Math.round(steps * trainSizes.length * p)));
}

/** Activated parameters for one task: the encoder's path (embeddings' rows excluded) plus its head (its n-gram bag's rows excluded alike). */
function activated(model: TaskModel, encoder: TransformerEncoder, task: string): number {
  const a = account(encoder, encoder, { task, skills: model.skills ? model.skills.skillsFor(task) : [] });
  const head = model.store.get(model.task(task).path.head, 'head').module;
  return a.activeParams + count(head.parameters()) - (head.bag ? head.bag.table.size : 0);
}

function baseEncoder(sparse: SparseConfig | null, rng: Rng, dir = BASE) {
  const pre = loadPretrained(dir);
  if (!pre.tokenizer) throw new Error(`${dir}: no tokenizer.json`);
  const lm = inLayout(pre, dir, sparse ?? { switch: null, skills: null }, rng, 'bench sparse layout');
  return { encoder: lm.encoder, tokenizer: pre.tokenizer, config: pre.config };
}

async function trainOne(
  model: TaskModel,
  tasks: TaskData[],
  steps: number,
  embeddingLrScale: number,
  seed: number,
): Promise<{ res: Awaited<ReturnType<typeof trainMultiTask>>; seconds: number }> {
  const t0 = performance.now();
  const res = await trainMultiTask(model, tasks, {
    ...TRAIN,
    seed,
    embeddingLrScale,
    lexicalWarmupEpochs: LEXICAL ? LEXICAL_WARMUP : 0,
    ...benchSchedule(steps, EVALS),
  });
  return { res, seconds: (performance.now() - t0) / 1000 };
}

async function runConfig(n: number, seed: number, data: TaskData[]): Promise<ConfigResult> {
  const embeddingLrScale = n === 6 ? 1 : EMB_LR_SCALE;
  // Seed 0 draws as every run before seeds did: heads from Rng(1), sampling and batches from seed 0.
  const heads = 1 + seed;
  const out: ConfigResult = {
    config: n,
    seed,
    name: NAMES[n],
    tasks: {},
    totalParams: 0,
    trainSeconds: 0,
    extraPretrainSeconds: 0,
    setup: {
      steps: STEPS,
      threads: process.env.OPENBLAS_NUM_THREADS ?? null,
      groupByLength: DEFAULT_MULTITASK.groupByLength,
      baseDigest: modelDigest(BASE),
      shapeDigest: shapeDigest(BASE),
      singleTaskSteps: 'share',
      embeddingLrScale,
      lexical: LEXICAL ? { bag: BAG, lrScale: TRAIN.lexicalLrScale!, warmupEpochs: LEXICAL_WARMUP } : null,
      prior: PRIOR,
    },
  };
  const score = async (model: TaskModel, encoder: TransformerEncoder, t: TaskData, dev: number, steps: number) => {
    const s = await evaluateTask(model, t, t.test);
    out.tasks[t.name] = { test: s.score, metric: s.metric, dev, activated: activated(model, encoder, t.name), steps, trainSize: t.train.length };
    log(`  ${NAMES[n]}: ${t.name} test ${s.metric} ${s.score.toFixed(4)}`);
  };
  if (n === 1 || n === 6) {
    const steps = shares(
      data.map((t) => t.train.length),
      STEPS,
    );
    for (const [i, t] of data.entries()) {
      const rng = new Rng(heads);
      const b = baseEncoder(null, rng);
      // From scratch: the base's shape and tokenizer, fresh random weights.
      const encoder = n === 1 ? b.encoder : new TransformerEncoder(b.config, rng);
      const model = TaskModel.fromEncoder(encoder, b.tokenizer, { sparse: { switch: null, skills: null }, rng, maxLen: 128 });
      model.addTask(specFor(t));
      log(`config ${n}, seed ${seed}: ${t.name}`);
      const { res, seconds } = await trainOne(model, [t], steps[i], embeddingLrScale, seed);
      out.trainSeconds += seconds;
      out.totalParams += model.numParameters();
      await score(model, encoder, t, res.dev[t.name].score, res.stepsPerTask[t.name]);
    }
    return out;
  }
  const rng = new Rng(heads);
  let dir = BASE;
  if (n === 5) {
    // Skill-aware pretraining: the dense base upcycled to the skill model, then masked LM where
    // each step activates one task's row of the skill table (so each skill learns the language
    // its tasks will see it with, before any task data).
    const cfg: PretrainConfig = {
      ...DEFAULT_PRETRAIN,
      init: BASE,
      model: { ...DEFAULT_PRETRAIN.model, sparse: { switch: null, skills: SKILLS } },
      objective: { kind: 'mlm', maskProb: 0.15, skillRows: TASKS },
      train: {
        ...DEFAULT_PRETRAIN.train,
        steps: SKILL_STEPS,
        seed,
        lr: 3e-4,
        warmupSteps: Math.round(SKILL_STEPS / 10),
        evalEvery: Math.max(1, Math.round(SKILL_STEPS / 4)),
        checkpointEvery: 100,
      },
      out: join(WORK, `skill-pretrain-s${seed}`),
    };
    // A fresh run: pretrain() resumes from a folder's checkpoints, and a leftover folder from an
    // earlier run would hand back its model with none of the time it cost.
    rmSync(cfg.out, { recursive: true, force: true });
    const t0 = performance.now();
    const r = await pretrain(cfg, { log });
    out.extraPretrainSeconds = (performance.now() - t0) / 1000;
    out.setup.skillPretrain = { steps: SKILL_STEPS, heldOut: r.heldOut };
    dir = join(cfg.out, 'model');
  }
  const sparse: SparseConfig | null = n === 3 ? SWITCH : n === 4 || n === 5 ? { switch: null, skills: SKILLS } : null;
  const b = baseEncoder(sparse, rng, dir);
  const model = TaskModel.fromEncoder(b.encoder, b.tokenizer, { sparse: sparse ?? { switch: null, skills: null }, rng, maxLen: 128 });
  for (const t of data) model.addTask(specFor(t));
  log(`config ${n}, seed ${seed}: ${NAMES[n]}, ${model.numParameters().toLocaleString('en-US')} parameters`);
  const { res, seconds } = await trainOne(model, data, STEPS * data.length, embeddingLrScale, seed);
  out.trainSeconds = seconds;
  out.totalParams = model.numParameters();
  for (const t of data) await score(model, b.encoder, t, res.dev[t.name].score, res.stepsPerTask[t.name]);
  return out;
}

// ------------------------------------------------------------------------------------ report

const pct = (x: number) => (100 * x).toFixed(1);
const mparams = (x: number) => `${(x / 1e6).toFixed(2)}M`;

/** One configuration over its seeds: each task's test scores, their mean and spread; the floors judged on the means. */
interface ConfigSummary {
  config: number;
  seeds: number[];
  tasks: Record<string, { scores: number[]; mean: number; sd: number; floor: number }>;
  average: { mean: number; sd: number };
  floors_missed: string[];
}

function summarise(runs: ConfigResult[]): ConfigSummary {
  const avgOf = (r: ConfigResult) => TASKS.reduce((s, t) => s + r.tasks[t].test, 0) / TASKS.length;
  const tasks = Object.fromEntries(
    TASKS.map((t) => {
      const scores = runs.map((r) => r.tasks[t].test);
      return [t, { scores, ...meanSd(scores), floor: floorOf(t)! }];
    }),
  );
  return {
    config: runs[0].config,
    seeds: runs.map((r) => r.seed ?? 0),
    tasks,
    average: meanSd(runs.map(avgOf)),
    floors_missed: TASKS.filter((t) => !(tasks[t].mean > tasks[t].floor)),
  };
}

/** The configurations' results, each the mean of its seeds' runs (`results` holds every run). */
function report(results: ConfigResult[]): string {
  const byConfig = new Map<number, ConfigResult[]>();
  for (const r of [...results].sort((a, b) => a.config - b.config || (a.seed ?? 0) - (b.seed ?? 0))) {
    if (!byConfig.has(r.config)) byConfig.set(r.config, []);
    byConfig.get(r.config)!.push(r);
  }
  const rows = [...byConfig.values()].map((runs) => runs[0]);
  const summary = new Map([...byConfig].map(([n, runs]) => [n, summarise(runs)]));
  const seedSets = new Set([...summary.values()].map((s) => s.seeds.join(',')));
  const meanOf = (r: ConfigResult, t: string) => summary.get(r.config)!.tasks[t];
  const cell = (x: { mean: number; sd: number }, n: number) => (n > 1 ? `${pct(x.mean)} ± ${pct(x.sd)}` : pct(x.mean));
  const floorRow = TASKS.map((t) => pct(floorOf(t)!));
  const steps = rows[0].setup.steps;
  if (results.some((r) => r.setup.steps !== steps)) throw new Error('results under docs/results/multitask come from different --steps; rerun them alike');
  const lexicals = new Set(results.map((r) => JSON.stringify(r.setup.lexical ?? null)));
  if (lexicals.size > 1) throw new Error('results under docs/results/multitask differ in their lexical heads; rerun them alike');
  const lexical = rows[0].setup.lexical ?? null;
  if (new Set(results.map((r) => r.setup.prior ?? false)).size > 1)
    throw new Error('results under docs/results/multitask differ in their Naive Bayes priors; rerun them alike');
  const prior = rows[0].setup.prior ?? false;
  const threads = rows[0].setup.threads;
  // (1)-(5) read the base's weights and must share them; (6) reads only its config and tokenizer,
  // so it must share those (or, in results from before they were recorded, the weights too).
  const pretrainedRows = rows.filter((r) => r.config !== 6);
  const digests = new Set((pretrainedRows.length > 0 ? pretrainedRows : rows).map((r) => r.setup.baseDigest ?? 'unrecorded'));
  if (digests.size > 1) throw new Error(`results under docs/results/multitask come from different bases (${[...digests].join(', ')}); rerun them alike`);
  const scratch = rows.find((r) => r.config === 6);
  if (scratch && pretrainedRows.length > 0) {
    const shapes = new Set(rows.map((r) => r.setup.shapeDigest ?? 'unrecorded'));
    const sameShape = shapes.size === 1 && !shapes.has('unrecorded');
    const sameWeights = digests.has(scratch.setup.baseDigest ?? 'unrecorded');
    if (!sameShape && !sameWeights) {
      throw new Error(
        `(6) in docs/results/multitask comes from a base with a different config or tokenizer than (1)-(5) (${[...shapes].join(', ')}); rerun it`,
      );
    }
  }
  const groups = new Set(rows.map((r) => r.setup.groupByLength ?? 1));
  if (groups.size > 1) throw new Error('results under docs/results/multitask come from different groupByLength; rerun them alike');
  if (new Set(rows.map((r) => r.setup.singleTaskSteps ?? 'equal')).size > 1)
    throw new Error('results under docs/results/multitask split single-task budgets differently; rerun them alike');
  const shared = rows[0].setup.singleTaskSteps === 'share';
  const embScale = (r: ConfigResult) => r.setup.embeddingLrScale ?? 1;
  const pretrainedScales = new Set(rows.filter((r) => r.config !== 6).map(embScale));
  if (pretrainedScales.size > 1) throw new Error('results under docs/results/multitask used different embedding lr scales; rerun them alike');
  const embLines = [
    ...[...pretrainedScales].map((x) => `×${x} in (1)–(5), whose embeddings are pretrained`),
    ...(scratch ? [`×${embScale(scratch)} in (6), whose embeddings are fresh`] : []),
  ];
  const single = shared
    ? shares(
        TASKS.map((t) => rows[0].tasks[t].trainSize),
        steps,
      )
    : TASKS.map(() => steps);
  const stepsOf = (t: string) => single[TASKS.indexOf(t)];
  const skill = rows.find((r) => r.setup.skillPretrain)?.setup.skillPretrain;
  const rebuilt = results.filter((r) => r.reconstructedFrom);
  const lines = [
    '# Multi-task learning on the six built-in tasks: the SkillNet comparison',
    '',
    'Produced by `npm run bench:multitask` (`bench/multitask.ts`); every figure below is read from',
    '`docs/results/multitask/c<N>-s<seed>.json`; `multitask.json` beside this page holds the same figures.',
    `Test scores in %: accuracy, except pos (token accuracy); the mean ± standard deviation over seeds ${[...seedSets].join(' / ')}${seedSets.size > 1 ? ' (configurations differ in their seeds)' : ''}.`,
    ...rebuilt.map((r) => `Run (${r.config}), seed ${r.seed ?? 0}: rebuilt from ${r.reconstructedFrom}.`),
    '',
    ...(rows.length < 6
      ? [
          `**Incomplete:** configuration${6 - rows.length > 1 ? 's' : ''} ${[1, 2, 3, 4, 5, 6]
            .filter((n) => !rows.some((r) => r.config === n))
            .map((n) => `(${n})`)
            .join(', ')} not run yet.`,
          '',
        ]
      : []),
    `| configuration | ${TASKS.join(' | ')} | average | total params | activated params per task | training time |`,
    `|---|${TASKS.map(() => '---:').join('|')}|---:|---:|---:|---:|`,
    ...rows.map((r) => {
      const act = TASKS.map((t) => r.tasks[t].activated);
      const lo = Math.min(...act);
      const hi = Math.max(...act);
      const runs = byConfig.get(r.config)!;
      const train = meanSd(runs.map((x) => x.trainSeconds)).mean;
      const extra = meanSd(runs.map((x) => x.extraPretrainSeconds)).mean;
      const time = extra ? `${(train / 60).toFixed(1)} min (+${(extra / 60).toFixed(1)} min skill pretraining)` : `${(train / 60).toFixed(1)} min`;
      const s = summary.get(r.config)!;
      return `| (${r.config}) ${r.name} | ${TASKS.map((t) => cell(meanOf(r, t), s.seeds.length)).join(' | ')} | **${cell(s.average, s.seeds.length)}** | ${mparams(r.totalParams)} | ${lo === hi ? mparams(lo) : `${mparams(lo)}–${mparams(hi)}`} | ${time} |`;
    }),
    `| floor (data-sources.md; genre: our document split) | ${floorRow.join(' | ')} | | | | |`,
    `| baseline measured on our test split | ${TASKS.map((t) => pct(TASK_FLOORS[t].measured)).join(' | ')} | | | | |`,
    '',
    '## Floors (judged on the mean over seeds)',
    '',
    ...rows.map((r) => {
      const missed = summary.get(r.config)!.floors_missed;
      return `- (${r.config}): ${missed.length === 0 ? 'beats every floor' : `**below the floor on ${missed.join(', ')}**`}.`;
    }),
    '',
    '## Activated parameters per task',
    '',
    `| configuration | ${TASKS.join(' | ')} |`,
    `|---|${TASKS.map(() => '---:').join('|')}|`,
    ...rows.map((r) => `| (${r.config}) | ${TASKS.map((t) => mparams(r.tasks[t].activated)).join(' | ')} |`),
    '',
    'Activated: the parameters one forward pass of that task reads (embedding rows excluded, as in',
    '`pathwise inspect`): attention, norms, the dense FFNs, the router and one expert of a Switch',
    "layer, the active skills of a skill layer, and the task's head (its n-gram bag's rows excluded like the embeddings').",
    '',
    '## Setup',
    '',
    `- Base: \`${BASE.startsWith(ROOT) ? BASE.slice(ROOT.length + 1) : BASE}\` (see its README for how it was pretrained); model.safetensors SHA-256 ${[...digests][0]}.`,
    shared
      ? `- Budget: ${steps * TASKS.length} batches of 32 in all (${steps} per task on average), split alike in every configuration. Multi-task models: ${steps * TASKS.length} steps, each one batch of one task, tasks drawn ∝ n^(1/2) (SkillNet's sampling). Single-task models: each task's expected share of those steps (${TASKS.map((t) => `${t} ${stepsOf(t)}`).join(', ')}), so a task sees as many examples on its own as in a multi-task model.`
      : `- Budget: ${steps} batches of 32 per task. Single-task models: ${steps} steps each. Multi-task models: ${steps * TASKS.length} steps, each one batch of one task, tasks drawn ∝ n^(1/2) (SkillNet's sampling), so large tasks get more than ${steps} batches and small ones fewer (steps per task are in the JSON).`,
    `- The same hyperparameters everywhere, but for the embeddings' learning rate (next line): AdamW lr ${TRAIN.lr}, weight decay ${TRAIN.weightDecay}, linear warmup (10%) and decay, clip ${TRAIN.clipNorm}, dropout 0.1, max length 128, batches grouped by length (${[...groups][0]} batches' worth sorted together; 1 = none); dev evaluated ${shared ? EVALS : 4} times (≤ ${TRAIN.evalExamples} examples per task), the best average kept; test scored once.`,
    `- The embeddings' learning rate (\`embeddingLrScale\`, [docs/multitask.md](../multitask.md) says why): ${embLines.join('; ')}.`,
    lexical
      ? `- Lexical heads: every sequence task's head adds the logits of a hashed n-gram bag (fastText; ${lexical.bag.buckets.toLocaleString('en-US')} buckets × ${lexical.bag.dim}, words and word ${lexical.bag.ngrams >= 2 ? 'n-grams up to ' + lexical.bag.ngrams : 'alone'}) trained at ×${lexical.lrScale} the learning rate${lexical.warmupEpochs ? `, after ${lexical.warmupEpochs} epoch(s) of training alone (\`lexicalWarmupEpochs\`)` : ''}; pos (tagging) has none.`
      : '- No lexical heads.',
    prior
      ? `- Naive Bayes priors: after training, each classification head adds w × a multinomial Naive Bayes log posterior over hashed words, counted on its training set, w fitted on ${PRIOR_DEV_EXAMPLES.toLocaleString('en-US')} dev examples (0: none; tasks/naive_bayes_prior.ts).`
      : '- No Naive Bayes priors.',
    `- Seeds: each configuration ran once per seed; a seed draws the heads' initial weights, the task sampling and the batches (and (5)'s skill pretraining).`,
    `- Threads: ${threads ? `OPENBLAS_NUM_THREADS=${threads} (configurations were run two at a time, one per core, so times are single-core times)` : 'OpenBLAS default, one configuration at a time'}.`,
    '- (3) Switch: the dense base upcycled (each expert a copy of the FFN it replaces), 8 experts, top-1, capacity 1.25, load-balancing and z losses.',
    '- (4), (5) SkillNet: skill layers at layers 1 and 3, each skill a copy of the base FFN; the task → skills table is `BUILTIN_SKILLS` in `src/tasks/builtin/skills.ts`, with why each skill exists:',
    '',
    '  | task | skills |',
    '  |---|---|',
    ...TASKS.map((t) => `  | ${t} | ${['general', ...SKILLS.table[t]].join(', ')} |`),
    '',
    `- (5) adds skill-aware pretraining before (4)'s training: ${skill ? skill.steps : '`--skill-steps`'} masked-LM steps on the pretraining corpus, each step activating one task's row of the table. It therefore gets that much more pretraining than (1)–(4).`,
    `- (6): the base's shape and tokenizer, random weights${scratch?.setup.shapeDigest ? ` (config.json and tokenizer.json SHA-256 ${scratch.setup.shapeDigest}; (6) was run ${scratch.setup.baseDigest === [...digests][0] ? 'with the same base' : `with another version of the base, ${scratch.setup.baseDigest}, whose weights it does not read`})` : ''}.`,
    `- Epochs of each training set the single-task runs saw (steps × 32 / training examples): ${TASKS.map((t) => `${t} ${((stepsOf(t) * 32) / rows[0].tasks[t].trainSize).toFixed(2)}`).join(', ')}. Below one epoch the table compares the configurations at this budget; it does not say what each reaches at convergence.`,
  ];
  return lines.join('\n') + '\n';
}

// ------------------------------------------------------------------------------------ main

const resultFile = (n: number, seed: number) => join(RESULTS, `c${n}-s${seed}.json`);

/** The figures the JSON beside the Markdown holds: per configuration, each task's scores over seeds. */
function figures(results: ConfigResult[]) {
  const configs = [...new Set(results.map((r) => r.config))].sort((a, b) => a - b);
  const out = configs.map((n) => summarise(results.filter((r) => r.config === n).sort((a, b) => (a.seed ?? 0) - (b.seed ?? 0))));
  return {
    configs: Object.fromEntries(
      out.map((s) => [
        `c${s.config}`,
        {
          name: NAMES[s.config],
          seeds: s.seeds,
          average: +s.average.mean.toFixed(4),
          average_sd: +s.average.sd.toFixed(4),
          tasks: Object.fromEntries(
            TASKS.map((t) => [
              t,
              {
                mean: +s.tasks[t].mean.toFixed(4),
                sd: +s.tasks[t].sd.toFixed(4),
                scores: s.tasks[t].scores.map((x) => +x.toFixed(4)),
                floor: s.tasks[t].floor,
              },
            ]),
          ),
          floors_missed: s.floors_missed,
        },
      ]),
    ),
    // What the floors are judged on: the configurations that start from the pretrained base,
    // (1)-(5); "c<N>:<task>" for each floor a configuration's mean missed.
    floors_missed: out.filter((s) => s.config !== 6).flatMap((s) => s.floors_missed.map((t) => `c${s.config}:${t}`)),
  };
}

async function main(): Promise<void> {
  mkdirSync(RESULTS, { recursive: true });
  if (!opt.report) {
    if (!existsSync(join(BASE, 'config.json'))) throw new Error(`no base model at ${BASE} (--base DIR)`);
    // --subsample N: at most N examples per split (a quick check of the harness, not a result).
    const cap = opt.subsample;
    const data = TASKS.map(loadBuiltinTask).map((t) => (cap > 0 ? subsample(t, { train: cap, dev: cap, test: cap }) : t));
    for (const n of CONFIGS) if (!NAMES[n]) throw new Error(`--configs: no configuration ${n} (1-6)`);
    for (const n of CONFIGS) {
      for (const seed of SEEDS) {
        const r = await runConfig(n, seed, data);
        writeFileAtomic(resultFile(n, seed), JSON.stringify(r, null, 1));
      }
    }
  }
  const results = readdirSync(RESULTS)
    .filter((f) => /^c[1-6]-s\d+\.json$/.test(f))
    .map((f) => JSON.parse(readFileSync(join(RESULTS, f), 'utf8')) as ConfigResult);
  const fig = figures(results);
  if (results.length) {
    mkdirSync(dirname(OUT_MD), { recursive: true });
    writeFileAtomic(OUT_MD, report(results));
    writeFileAtomic(OUT_MD.replace(/\.md$/, '.json'), JSON.stringify(fig, null, 1) + '\n');
    log(`wrote ${OUT_MD} and its JSON`);
  }
  process.stdout.write(
    JSON.stringify({
      ...Object.fromEntries(
        Object.entries(fig.configs).map(([k, c]) => [
          k,
          { average: c.average, ...Object.fromEntries(TASKS.map((t) => [t, c.tasks[t].mean])), seeds: c.seeds.length },
        ]),
      ),
      floors_missed: fig.floors_missed,
    }) + '\n',
  );
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exitCode = 1;
});
