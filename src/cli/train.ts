// `pathwise train --config FILE`, `pathwise eval <model> [--task T] [--split dev|test]`,
// `pathwise predict <model> --task T "text" ...`. eval and predict take a `pathwise train` folder
// or a path system (a folder `pathwise add-task` has written), with the same output.

import { join } from 'node:path';
import { Rng } from '../engine/index.js';
import { DEFAULT_ENCODER, TransformerEncoder } from '../nn/index.js';
import { SkillTable, sparseFfnFactory, type SparseConfig } from '../sparse/index.js';
import { Tokenizer } from '../data/tokenizer/index.js';
import { loadBuiltinTask } from '../tasks/builtin/index.js';
import { TASK_FLOORS, floorOf } from '../tasks/builtin/floors.js';
import { loadTaskFromFiles } from '../tasks/from_files.js';
import { MultiTaskModel, specOf } from '../tasks/multitask_model.js';
import type { TaskData } from '../tasks/task.js';
import { ConfigError } from '../train/config.js';
import { loadTrainConfig, trainConfigSchema } from '../train/train_config.js';
import { evaluateTask, trainMultiTask } from '../train/multitask.js';
import { fromPretrained, inLayout, saveMultiTask, type SavedTask, type TaskSource } from '../train/pretrained.js';
import { evaluateFolderTask, isPathSystemFolder, loadTaskModel } from '../evolve/index.js';
import { UsageError } from './pretrain.js';
import { parseCommandLine } from './args.js';
import { keyPaths } from '../util/schema.js';

const TRAIN_USAGE = 'usage: pathwise train --config FILE [--KEY VALUE ...]   (FILE: docs/schemas/train.schema.json)';

function loadTask(src: TaskSource): TaskData {
  return 'builtin' in src ? loadBuiltinTask(src.builtin) : loadTaskFromFiles(src.files);
}

function sourceOf(t: string | Record<string, unknown>): TaskSource {
  return typeof t === 'string' ? { builtin: t } : { files: t as never };
}

/** One line per task: its metrics, and for a built-in task the floor it must beat. */
function table(rows: [string, Record<string, number | string>][]): string {
  return rows.map(([name, s]) => {
    const metrics = Object.entries(s).filter(([, v]) => typeof v === 'number').map(([k, v]) => `${k} ${(v as number).toFixed(4)}`).join('  ');
    const floor = floorOf(name);
    const vs = floor === null ? '' : `   floor ${floor.toFixed(3)} (${TASK_FLOORS[name].baseline}) ${(s.score as number) > floor ? 'beaten' : 'NOT beaten'}`;
    return `${name.padEnd(14)}${metrics}${vs}`;
  }).join('\n');
}

export async function trainCommand(argv: string[]): Promise<void> {
  const { overrides, rest, flags } = parseCommandLine(argv, { config: 'string' }, TRAIN_USAGE, keyPaths(trainConfigSchema));
  if (rest.length || !flags.config) throw new UsageError(TRAIN_USAGE);
  const cfg = loadTrainConfig(flags.config, overrides);
  const { tasks: taskList, perTask, sparse } = cfg;
  const sources = taskList.map(sourceOf);
  const tasks = sources.map(loadTask); // validates every task's data before anything is written
  const log = (s: string) => process.stderr.write(s + '\n');

  let encoder: TransformerEncoder;
  let tokenizer: Tokenizer;
  // "sparse": the Switch / skill layout (as in pretraining's model.sparse). From a dense base it is
  // made by upcycling: each expert or skill starts as a copy of the base's FFN.
  let sp: SparseConfig = sparse ?? { switch: null, skills: null };
  const rng = new Rng(cfg.train.seed);
  if (cfg.base) {
    if (isPathSystemFolder(cfg.base)) {
      throw new ConfigError(`${flags.config}: base ${cfg.base} is a path system (made by pathwise add-task), whose tasks each run their own path; pathwise train starts from a pretrained model or a pathwise train folder. To add a task to it: pathwise add-task ${cfg.base} --task <task config>`);
    }
    let pre: ReturnType<typeof fromPretrained>;
    try {
      pre = fromPretrained(cfg.base);
    } catch (e) {
      throw new ConfigError(`${flags.config}: base: ${(e as Error).message}`);
    }
    if (!pre.tokenizer) throw new ConfigError(`${cfg.base}: no tokenizer.json`);
    if (sparse === undefined) sp = pre.sparse;
    let lm;
    try {
      lm = inLayout(pre, cfg.base, sp, rng, `${flags.config}: sparse`);
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
    if (lm !== pre.model) log(`upcycled the dense base to ${sp.switch ? `Switch (${sp.switch.experts} experts, top-${sp.switch.topK}, every ${sp.switch.every})` : ''}${sp.skills ? `skills (${sp.skills.skills.join(', ')})` : ''}`);
    encoder = lm.encoder;
    tokenizer = pre.tokenizer;
    log(`base: ${cfg.base} (${encoder.numParameters().toLocaleString('en-US')} encoder parameters)`);
  } else {
    tokenizer = Tokenizer.train(tasks.flatMap((t) => t.train.map((e) => e.text + (e.textPair ? `\n${e.textPair}` : ''))), { vocabSize: cfg.scratch.vocabSize });
    const c = { ...DEFAULT_ENCODER, dModel: cfg.scratch.dModel, layers: cfg.scratch.layers, heads: cfg.scratch.heads, ffn: cfg.scratch.ffn, vocabSize: tokenizer.vocabSize, maxPositions: cfg.maxLen };
    encoder = new TransformerEncoder(c, rng, sparseFfnFactory(c, sp, rng));
    log(`from scratch: ${encoder.numParameters().toLocaleString('en-US')} encoder parameters`);
  }
  const model = new MultiTaskModel(encoder, tokenizer, sp.skills ? new SkillTable(sp.skills) : null, rng, Math.min(cfg.maxLen, encoder.cfg.maxPositions));
  for (const t of tasks) model.addTask(specOf(t));
  const t0 = performance.now();
  const res = await trainMultiTask(model, tasks, { ...cfg.train, perTask, log, progress: process.stderr });
  const saved: SavedTask[] = tasks.map((t, i) => ({ ...specOf(t), source: sources[i] }));
  saveMultiTask(join(cfg.out, 'model'), model, saved, sp);
  const test: [string, Record<string, number | string>][] = [];
  for (const t of tasks) test.push([t.name, await evaluateTask(model, t, t.test)]);
  process.stdout.write(`best dev at step ${res.bestStep}; ${((performance.now() - t0) / 1000).toFixed(0)} s\n\ntest scores:\n${table(test)}\n\nsaved ${join(cfg.out, 'model')}\n`);
}

export async function evalCommand(argv: string[]): Promise<void> {
  const { rest, flags } = parseCommandLine(argv, { task: 'string', split: 'string' }, 'usage: pathwise eval <model folder> [--task T] [--split dev|test]');
  if (rest.length !== 1) throw new UsageError('usage: pathwise eval <model folder> [--task T] [--split dev|test]');
  const split = (flags.split ?? 'test') as 'dev' | 'test';
  if (split !== 'dev' && split !== 'test') throw new UsageError('--split must be dev or test');
  // A `pathwise train` folder or a path system (pathwise add-task): the same table either way.
  const folder = loadTaskModel(rest[0]);
  const tasks = folder.tasks;
  const chosen = flags.task ? tasks.filter((t) => t.name === flags.task) : tasks;
  if (chosen.length === 0) throw new UsageError(`no task "${flags.task}" in ${rest[0]} (it has: ${tasks.map((t) => t.name).join(', ')})`);
  const rows: [string, Record<string, number | string>][] = [];
  for (const t of chosen) {
    const data = loadTask(t.source);
    rows.push([t.name, await evaluateFolderTask(folder, { ...data, name: t.name }, data[split])]);
  }
  process.stdout.write(`${split} scores:\n${table(rows)}\n`);
}

export async function predictCommand(argv: string[]): Promise<void> {
  const { rest, flags } = parseCommandLine(argv, { task: 'string' }, 'usage: pathwise predict <model folder> --task T "text" ["text" ...]');
  if (rest.length < 2 || !flags.task) throw new UsageError('usage: pathwise predict <model folder> --task T "text" ["text" ...]');
  const folder = loadTaskModel(rest[0]);
  const model = folder.kind === 'path_system' ? folder.system : folder.model;
  if (!model.tasks.has(flags.task)) throw new UsageError(`no task "${flags.task}" in ${rest[0]} (it has: ${[...model.tasks.keys()].join(', ')})`);
  const out = await model.predict(flags.task, rest.slice(1));
  for (const p of out) process.stdout.write((typeof p === 'string' ? p : JSON.stringify(p)) + '\n');
}
