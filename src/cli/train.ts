// `pathwise train --config FILE` and `pathwise eval <model> [--task T] [--split dev|test]` (any
// model folder with tasks: one `pathwise train` wrote, or one `pathwise add-task` has grown).

import { join, resolve } from 'node:path';
import { Rng } from '../engine/index.js';
import { DEFAULT_ENCODER, TransformerEncoder, type LanguageModel } from '../nn/index.js';
import { sparseFfnFactory, type SparseConfig } from '../sparse/index.js';
import { Tokenizer } from '../data/tokenizer/index.js';
import { loadBuiltinTask } from '../tasks/builtin/index.js';
import { TASK_FLOORS, floorOf } from '../tasks/builtin/floors.js';
import { loadTaskFromFiles } from '../tasks/from_files.js';
import { whyUntrainable, type TaskData } from '../tasks/task.js';
import { ConfigError } from '../train/config.js';
import { lexicalFor, loadTrainConfig, trainConfigSchema, type TrainConfig } from '../train/train_config.js';
import { TrainingDiverged } from '../train/step.js';
import type { PriorFit } from '../train/fit_prior.js';
import { evaluateTask, trainMultiTask } from '../train/multitask.js';
import { TaskModel, folderKind, inLayout, loadModel, loadPretrained, saveModel, specOf, type TaskSource } from '../model/index.js';
import { UsageError } from './pretrain.js';
import { parseCommandLine } from './args.js';
import { keyPaths } from '../util/schema.js';
import { writeFileAtomic } from '../util/atomic.js';
import { checkWritableFolder } from '../util/writable.js';

const TRAIN_USAGE = 'usage: pathwise train --config FILE [--KEY VALUE ...]   (FILE: docs/schemas/train.schema.json)';

async function loadTask(src: TaskSource): Promise<TaskData> {
  return 'builtin' in src ? loadBuiltinTask(src.builtin) : loadTaskFromFiles(src.files);
}

/**
 * What can be known to fail before any training: per-task settings for tasks the config does not
 * list, tasks too small to train and score, an output folder that cannot be written.
 */
function checkTrainable(file: string, cfg: TrainConfig, tasks: TaskData[]): void {
  const names = tasks.map((t) => t.name);
  for (const k of Object.keys(cfg.perTask ?? {})) {
    if (!names.includes(k)) throw new ConfigError(`${file}: perTask.${k}: no task "${k}" in "tasks" (${names.join(', ')})`, file);
  }
  for (const t of tasks) {
    const why = whyUntrainable(t);
    if (why) throw new ConfigError(`${file}: ${why}`, file);
  }
  checkWritableFolder(cfg.out, `${file}: out`, file);
}

/** Whether `dir` holds tasks on paths of their own (unreadable folders are reported by the loader). */
function isComponentsFolder(dir: string): boolean {
  try {
    return folderKind(dir) === 'components';
  } catch {
    return false;
  }
}

/**
 * Where a task of the config comes from. Data paths are read from the working directory, as every
 * path of the config is, and saved absolute, so that the model folder can be evaluated from anywhere.
 */
function sourceOf(t: TrainConfig['tasks'][number]): TaskSource {
  if (typeof t === 'string') return { builtin: t };
  const files = { ...t };
  for (const k of ['train', 'dev', 'test'] as const) if (files[k] !== undefined) files[k] = resolve(files[k]);
  return { files };
}

type Scores = [string, Record<string, number | string>][];

/** Each built-in task's floor (the baseline it must beat) and whether its score beat it. */
function floorsOf(rows: Scores): Record<string, { floor: number; baseline: string; beaten: boolean }> {
  const floors: Record<string, { floor: number; baseline: string; beaten: boolean }> = {};
  for (const [name, s] of rows) {
    const floor = floorOf(name);
    if (floor !== null) floors[name] = { floor, baseline: TASK_FLOORS[name].baseline, beaten: (s.score as number) > floor };
  }
  return floors;
}

/** One line per task: its metrics, and for a built-in task the floor it must beat. */
function table(rows: Scores): string {
  const floors = floorsOf(rows);
  return rows
    .map(([name, s]) => {
      const metrics = Object.entries(s)
        .filter(([, v]) => typeof v === 'number')
        .map(([k, v]) => `${k} ${(v as number).toFixed(4)}`)
        .join('  ');
      const f = floors[name];
      const vs = f ? `   floor ${f.floor.toFixed(3)} (${f.baseline}) ${f.beaten ? 'beaten' : 'NOT beaten'}` : '';
      return `${name.padEnd(14)}${metrics}${vs}`;
    })
    .join('\n');
}

export async function trainCommand(argv: string[]): Promise<void> {
  const { overrides, rest, flags } = parseCommandLine(argv, { config: 'string' }, TRAIN_USAGE, keyPaths(trainConfigSchema));
  if (rest.length || !flags.config) throw new UsageError(TRAIN_USAGE);
  const cfg = loadTrainConfig(flags.config, overrides);
  const { tasks: taskList, perTask, sparse } = cfg;
  const sources = taskList.map(sourceOf);
  // Validates every task's data before anything is written; one at a time, so the first bad task is the one reported.
  const tasks: TaskData[] = [];
  for (const src of sources) tasks.push(await loadTask(src));
  checkTrainable(flags.config, cfg, tasks);
  const log = (s: string) => process.stderr.write(s + '\n');

  let encoder: TransformerEncoder;
  let tokenizer: Tokenizer;
  // "sparse": the Switch / skill layout (as in pretraining's model.sparse). From a dense base it is
  // made by upcycling: each expert or skill starts as a copy of the base's FFN.
  let sp: SparseConfig = sparse ?? { switch: null, skills: null };
  const rng = new Rng(cfg.train.seed);
  if (cfg.base) {
    if (isComponentsFolder(cfg.base)) {
      throw new ConfigError(
        `${flags.config}: base ${cfg.base} is a path system (made by pathwise add-task), whose tasks each run their own path; pathwise train starts from a pretrained model or a pathwise train folder. To add a task to it: pathwise add-task ${cfg.base} --task <task config>`,
      );
    }
    let pre: ReturnType<typeof loadPretrained>;
    try {
      pre = loadPretrained(cfg.base);
    } catch (e) {
      throw new ConfigError(`${flags.config}: base: ${(e as Error).message}`);
    }
    if (!pre.tokenizer) throw new ConfigError(`${cfg.base}: no tokenizer.json`);
    if (sparse === undefined) sp = pre.sparse;
    let lm: LanguageModel;
    try {
      lm = inLayout(pre, cfg.base, sp, rng, `${flags.config}: sparse`);
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
    if (lm !== pre.model)
      log(
        `upcycled the dense base to ${sp.switch ? `Switch (${sp.switch.experts} experts, top-${sp.switch.topK}, every ${sp.switch.every})` : ''}${sp.skills ? `skills (${sp.skills.skills.join(', ')})` : ''}`,
      );
    encoder = lm.encoder;
    tokenizer = pre.tokenizer;
    log(`base: ${cfg.base} (${encoder.numParameters().toLocaleString('en-US')} encoder parameters)`);
  } else {
    tokenizer = Tokenizer.train(
      tasks.flatMap((t) => t.train.map((e) => e.text + (e.textPair ? `\n${e.textPair}` : ''))),
      { vocabSize: cfg.scratch.vocabSize },
    );
    const c = {
      ...DEFAULT_ENCODER,
      dModel: cfg.scratch.dModel,
      layers: cfg.scratch.layers,
      heads: cfg.scratch.heads,
      ffn: cfg.scratch.ffn,
      vocabSize: tokenizer.vocabSize,
      maxPositions: cfg.maxLen,
    };
    encoder = new TransformerEncoder(c, rng, sparseFfnFactory(c, sp, rng));
    log(`from scratch: ${encoder.numParameters().toLocaleString('en-US')} encoder parameters`);
  }
  if (cfg.train.freezeLayers > encoder.cfg.layers) {
    throw new ConfigError(`${flags.config}: train.freezeLayers is ${cfg.train.freezeLayers}, but the model has ${encoder.cfg.layers} layers`, flags.config);
  }
  const model = TaskModel.fromEncoder(encoder, tokenizer, { sparse: sp, rng, maxLen: Math.min(cfg.maxLen, encoder.cfg.maxPositions) });
  tasks.forEach((t, i) => {
    const lexical = lexicalFor(cfg, t);
    model.addTask({ ...specOf(t), ...(lexical ? { lexical } : {}) }, { source: sources[i] });
  });
  const t0 = performance.now();
  let res: Awaited<ReturnType<typeof trainMultiTask>>;
  try {
    res = await trainMultiTask(model, tasks, { ...cfg.train, perTask, log, progress: process.stderr });
  } catch (e) {
    if (e instanceof TrainingDiverged) throw new TrainingDiverged(`${e.message}; nothing was saved (a lower train.lr may help)`, flags.config);
    throw e;
  }
  saveModel(join(cfg.out, 'model'), model);
  const seconds = (performance.now() - t0) / 1000;
  const test: Scores = [];
  for (const t of tasks) test.push([t.name, await evaluateTask(model, t, t.test)]);
  const report = scoresReport(test, res.bestStep, seconds, res.priors);
  writeFileAtomic(join(cfg.out, 'scores.json'), `${JSON.stringify(report, null, 2)}\n`);
  const missed = report.floors_missed.length ? `floors missed: ${report.floors_missed.join(', ')}` : 'every floor beaten';
  process.stdout.write(
    `best dev at step ${res.bestStep}; ${seconds.toFixed(0)} s\n\ntest scores:\n${table(test)}\n${missed}\n\nsaved ${join(cfg.out, 'model')} and ${join(cfg.out, 'scores.json')}\n`,
  );
}

/**
 * What `pathwise train` writes beside the model (scores.json): each task's test metrics, each
 * built-in task's floor (the baseline it must beat) and whether it was beaten, and floors_missed,
 * the tasks whose floor was not beaten (empty when all were); with train.naiveBayesPrior, each
 * classification task's prior weight and the dev scores it was chosen on.
 */
export function scoresReport(test: Scores, bestStep: number, seconds: number, priors?: Record<string, PriorFit>) {
  const floors = floorsOf(test);
  return {
    best_step: bestStep,
    seconds: Math.round(seconds),
    ...(priors ? { priors } : {}),
    test: Object.fromEntries(test),
    floors,
    floors_missed: Object.entries(floors)
      .filter(([, f]) => !f.beaten)
      .map(([name]) => name),
  };
}

export async function evalCommand(argv: string[]): Promise<void> {
  const { rest, flags } = parseCommandLine(argv, { task: 'string', split: 'string' }, 'usage: pathwise eval <model folder> [--task T] [--split dev|test]');
  if (rest.length !== 1) throw new UsageError('usage: pathwise eval <model folder> [--task T] [--split dev|test]');
  const split = (flags.split ?? 'test') as 'dev' | 'test';
  if (split !== 'dev' && split !== 'test') throw new UsageError('--split must be dev or test');
  const model = loadModel(rest[0]);
  const tasks = [...model.tasks.values()];
  const chosen = flags.task ? tasks.filter((t) => t.spec.name === flags.task) : tasks;
  if (chosen.length === 0) throw new UsageError(`no task "${flags.task}" in ${rest[0]} (it has: ${tasks.map((t) => t.spec.name).join(', ')})`);
  const rows: Scores = [];
  for (const t of chosen) {
    if (!t.source) throw new UsageError(`task "${t.spec.name}" of ${rest[0]} was made in code and names no data to score it on`);
    rows.push([t.spec.name, await model.evaluate(t.spec.name, (await loadTask(t.source))[split])]);
  }
  process.stdout.write(`${split} scores:\n${table(rows)}\n`);
}
