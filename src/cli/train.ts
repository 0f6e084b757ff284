// `pathwise train --config FILE` and `pathwise eval <model> [--task T] [--split dev|test]` (any
// model folder with tasks: one `pathwise train` wrote, or one `pathwise add-task` has grown).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../engine/index.js';
import { DEFAULT_ENCODER, TransformerEncoder } from '../nn/index.js';
import { sparseFfnFactory, type SparseConfig } from '../sparse/index.js';
import { mergeSparse } from '../train/pretrain_config.js';
import { Tokenizer } from '../data/tokenizer/index.js';
import { loadBuiltinTask } from '../tasks/builtin/index.js';
import { TASK_FLOORS, floorOf } from '../tasks/builtin/floors.js';
import { loadTaskFromFiles } from '../tasks/from_files.js';
import type { TaskData } from '../tasks/task.js';
import { ConfigError, mergeConfig, parseOverrides } from '../train/config.js';
import { DEFAULT_MULTITASK, evaluateTask, trainMultiTask } from '../train/multitask.js';
import { TaskModel, folderKind, inLayout, loadModel, loadPretrained, saveModel, specOf, type TaskSource } from '../model/index.js';
import { UsageError } from './pretrain.js';

const DEFAULT_TRAIN = {
  /** A pretrained model folder (transfer learning), or null to train from scratch. */
  base: null as string | null,
  /** From scratch only: the encoder, and the tokenizer trained on the tasks' texts. */
  scratch: { dModel: 256, layers: 4, heads: 4, ffn: 1024, vocabSize: 8192 },
  maxLen: 128,
  train: {
    steps: DEFAULT_MULTITASK.steps, batchSize: DEFAULT_MULTITASK.batchSize, lr: DEFAULT_MULTITASK.lr, warmupSteps: DEFAULT_MULTITASK.warmupSteps,
    weightDecay: DEFAULT_MULTITASK.weightDecay, clipNorm: DEFAULT_MULTITASK.clipNorm, temperature: DEFAULT_MULTITASK.temperature, seed: 0,
    evalEvery: DEFAULT_MULTITASK.evalEvery, patience: DEFAULT_MULTITASK.patience, evalExamples: DEFAULT_MULTITASK.evalExamples,
    freezeEmbeddings: false, embeddingLrScale: DEFAULT_MULTITASK.embeddingLrScale, freezeLayers: 0, logEvery: 50, groupByLength: DEFAULT_MULTITASK.groupByLength,
  },
  out: 'runs/train',
};

interface TrainFile {
  tasks: (string | Record<string, unknown>)[];
  perTask?: Record<string, { lrScale?: number; steps?: number }>;
  [k: string]: unknown;
}

function loadTask(src: TaskSource): TaskData {
  return 'builtin' in src ? loadBuiltinTask(src.builtin) : loadTaskFromFiles(src.files);
}

/** Whether `dir` holds tasks on paths of their own (unreadable folders are reported by the loader). */
function isComponentsFolder(dir: string): boolean {
  try {
    return folderKind(dir) === 'components';
  } catch {
    return false;
  }
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
  const { overrides, rest, flags } = parseOverrides(argv, ['config']);
  if (rest.length || !flags.config) throw new UsageError('usage: pathwise train --config FILE [--KEY VALUE ...]');
  let raw: TrainFile;
  try {
    raw = JSON.parse(readFileSync(flags.config, 'utf8'));
  } catch (e) {
    throw new ConfigError(`cannot read config ${flags.config}: ${(e as Error).message}`);
  }
  const { tasks: taskList, perTask, sparse, ...restCfg } = raw;
  if (!Array.isArray(taskList) || taskList.length === 0) throw new ConfigError(`${flags.config}: "tasks" must list at least one task`);
  const cfg = mergeConfig(mergeConfig(DEFAULT_TRAIN, restCfg, flags.config), overrides, 'command-line flags');
  const g = cfg.train.groupByLength;
  if (!Number.isInteger(g) || g < 1) throw new ConfigError(`${flags.config}: train.groupByLength must be an integer >= 1 (1: no grouping), got ${g}`);
  const es = cfg.train.embeddingLrScale;
  if (!(typeof es === 'number' && es > 0)) throw new ConfigError(`${flags.config}: train.embeddingLrScale must be a number > 0 (1: the encoder's lr), got ${JSON.stringify(es)}`);
  const sources = taskList.map(sourceOf);
  const tasks = sources.map(loadTask); // validates every task's data before anything is written
  const log = (s: string) => process.stderr.write(s + '\n');

  let encoder: TransformerEncoder;
  let tokenizer: Tokenizer;
  // "sparse": the Switch / skill layout (as in pretraining's model.sparse). From a dense base it is
  // made by upcycling: each expert or skill starts as a copy of the base's FFN.
  let sp: SparseConfig = mergeSparse(sparse, flags.config);
  const rng = new Rng(cfg.train.seed);
  if (cfg.base) {
    if (isComponentsFolder(cfg.base)) {
      throw new ConfigError(`${flags.config}: base ${cfg.base} is a path system (made by pathwise add-task), whose tasks each run their own path; pathwise train starts from a pretrained model or a pathwise train folder. To add a task to it: pathwise add-task ${cfg.base} --task <task config>`);
    }
    let pre: ReturnType<typeof loadPretrained>;
    try {
      pre = loadPretrained(cfg.base);
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
  const model = TaskModel.fromEncoder(encoder, tokenizer, { sparse: sp, rng, maxLen: Math.min(cfg.maxLen, encoder.cfg.maxPositions) });
  tasks.forEach((t, i) => model.addTask(specOf(t), { source: sources[i] }));
  const t0 = performance.now();
  const res = await trainMultiTask(model, tasks, { ...cfg.train, perTask: perTask ?? {}, log, progress: process.stderr });
  saveModel(join(cfg.out, 'model'), model);
  const test: [string, Record<string, number | string>][] = [];
  for (const t of tasks) test.push([t.name, await evaluateTask(model, t, t.test)]);
  process.stdout.write(`best dev at step ${res.bestStep}; ${((performance.now() - t0) / 1000).toFixed(0)} s\n\ntest scores:\n${table(test)}\n\nsaved ${join(cfg.out, 'model')}\n`);
}

export async function evalCommand(argv: string[]): Promise<void> {
  const { rest, flags } = parseOverrides(argv, ['task', 'split']);
  if (rest.length !== 1) throw new UsageError('usage: pathwise eval <model folder> [--task T] [--split dev|test]');
  const split = (flags.split ?? 'test') as 'dev' | 'test';
  if (split !== 'dev' && split !== 'test') throw new UsageError('--split must be dev or test');
  const model = loadModel(rest[0]);
  const tasks = [...model.tasks.values()];
  const chosen = flags.task ? tasks.filter((t) => t.spec.name === flags.task) : tasks;
  if (chosen.length === 0) throw new UsageError(`no task "${flags.task}" in ${rest[0]} (it has: ${tasks.map((t) => t.spec.name).join(', ')})`);
  const rows: [string, Record<string, number | string>][] = [];
  for (const t of chosen) {
    if (!t.source) throw new UsageError(`task "${t.spec.name}" of ${rest[0]} was made in code and names no data to score it on`);
    rows.push([t.spec.name, await model.evaluate(t.spec.name, loadTask(t.source)[split])]);
  }
  process.stdout.write(`${split} scores:\n${table(rows)}\n`);
}
