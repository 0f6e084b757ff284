// `pathwise add-task <model> --task <task config | built-in name> [--children N] [--steps N]
//  [--base X] [--seed S] [--batch-size N] [--eval-examples N] [--parallel N]`
//
// Adds one task to a model folder, in place, by μ2Net's search (src/evolve/search.ts). The folder
// may be a path system or a dense `pathwise train` folder (converted on the fly: its tasks share
// the encoder, each keeps its head, all locked). Everything is validated before anything is
// trained, and the folder is rewritten atomically (a temporary sibling, then a rename), so a
// failure at any point leaves it as it was. Earlier tasks' predictions do not change.
//
// A task config is a JSON file {name, type, train, dev?, test?, labels?, devFraction?, seed?,
// format?} (the keys of a task in `pathwise train`'s config); relative data paths are resolved
// against the task config's own folder and saved absolute, so the model folder can be used from
// anywhere.
//
// --parallel N trains N children at a time, each in a worker thread (search.ts). The search then
// runs in rounds, so its result depends on N as well as on the seed; the default, 1, is the
// sequential search.

import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { BUILTIN_TASK_NAMES, loadBuiltinTask } from '../tasks/builtin/index.js';
import { loadTaskFromFiles, TaskDataError, type TaskFileConfig } from '../tasks/from_files.js';
import type { TaskData } from '../tasks/task.js';
import { parseOverrides } from '../train/config.js';
import { activatedParameters, addedParameters, describePath, folderKind, loadModel, saveModel, type TaskSource } from '../model/index.js';
import { DEFAULT_SEARCH, searchTask, validateSearchOptions } from '../evolve/index.js';
import { InputError } from '../util/errors.js';
import { UsageError } from './pretrain.js';

const USAGE = 'usage: pathwise add-task <model folder> --task <task config .json | built-in task> [--children N] [--steps N] [--base X] [--seed S] [--batch-size N] [--eval-examples N] [--parallel N]';

const FLAGS = ['task', 'children', 'steps', 'base', 'seed', 'batch-size', 'eval-examples', 'parallel'];

const TASK_KEYS = ['name', 'type', 'labels', 'train', 'dev', 'test', 'devFraction', 'seed', 'format'];

/** A task named on the command line: a task config file, or a built-in task's name. */
export function resolveTaskArg(arg: string): { data: TaskData; source: TaskSource } {
  if (existsSync(arg) && statSync(arg).isFile()) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(arg, 'utf8'));
    } catch (e) {
      throw new InputError(`task config ${arg}: not valid JSON (${(e as Error).message})`, arg);
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new InputError(`task config ${arg}: expected a JSON object {name, type, train, ...}`, arg);
    const obj = raw as Record<string, unknown>;
    for (const k of Object.keys(obj)) if (!TASK_KEYS.includes(k)) throw new InputError(`task config ${arg}: unknown key "${k}" (known: ${TASK_KEYS.join(', ')})`, arg);
    const base = dirname(resolve(arg));
    const cfg = { ...obj } as unknown as TaskFileConfig;
    for (const k of ['train', 'dev', 'test'] as const) {
      const v = obj[k];
      if (typeof v === 'string' && v !== '' && !isAbsolute(v)) cfg[k] = join(base, v);
    }
    try {
      return { data: loadTaskFromFiles(cfg), source: { files: cfg } };
    } catch (e) {
      // Errors about the config itself are reported as "<config>"; name the actual file.
      if (e instanceof TaskDataError && e.file === '<config>') throw new InputError(`task config ${arg}: ${e.message.replace(/^task config: /, '')}`, arg);
      throw e;
    }
  }
  if (BUILTIN_TASK_NAMES.includes(arg)) return { data: loadBuiltinTask(arg), source: { builtin: arg } };
  throw new InputError(`task config file ${arg} not found (and "${arg}" is not a built-in task: ${BUILTIN_TASK_NAMES.join(', ')})`, arg);
}

function intFlag(flags: Record<string, string>, k: string, dflt: number, min: number): number {
  if (flags[k] === undefined) return dflt;
  const v = Number(flags[k]);
  if (!Number.isInteger(v) || v < min) throw new UsageError(`--${k} must be an integer >= ${min}, got ${JSON.stringify(flags[k])}`);
  return v;
}

export async function addTaskCommand(argv: string[]): Promise<void> {
  const { overrides, rest, flags } = parseOverrides(argv, FLAGS);
  const unknown = Object.keys(overrides);
  if (unknown.length) throw new UsageError(`unknown option --${unknown[0]}\n${USAGE}`);
  if (rest.length !== 1 || !flags.task || flags.task === 'true') throw new UsageError(USAGE);
  const dir = rest[0];
  const base = flags.base === undefined ? DEFAULT_SEARCH.base : Number(flags.base);
  if (!(base > 0 && base <= 1)) throw new UsageError(`--base must be a number in (0, 1], got ${JSON.stringify(flags.base)}`);
  const opts = {
    children: intFlag(flags, 'children', DEFAULT_SEARCH.children, 1),
    steps: intFlag(flags, 'steps', DEFAULT_SEARCH.steps, 1),
    seed: intFlag(flags, 'seed', DEFAULT_SEARCH.seed, 0),
    batchSize: intFlag(flags, 'batch-size', DEFAULT_SEARCH.batchSize, 1),
    evalExamples: intFlag(flags, 'eval-examples', DEFAULT_SEARCH.evalExamples, 1),
    parallel: intFlag(flags, 'parallel', DEFAULT_SEARCH.parallel, 1),
    base,
  };
  validateSearchOptions({ ...DEFAULT_SEARCH, ...opts });

  // Validate everything before training: the folder, the task and its data, the name.
  const converted = folderKind(dir) !== 'components';
  const system = loadModel(dir);
  const { data, source } = resolveTaskArg(flags.task);
  if (system.tasks.has(data.name)) {
    throw new InputError(`task "${data.name}" is already in ${dir} (it has: ${[...system.tasks.keys()].join(', ')}); give the new task another name`, flags.task);
  }
  if (data.dev.length === 0) throw new InputError(`task "${data.name}" (${flags.task}) has no dev examples; the search scores children on dev: give "dev", or keep devFraction > 0`, flags.task);
  // The folder is replaced as a whole: keep the user's other files; refuse to drop subfolders.
  const extra: Record<string, Uint8Array> = {};
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (['config.json', 'model.safetensors', 'tokenizer.json'].includes(e.name)) continue;
    if (e.isFile()) extra[e.name] = readFileSync(join(dir, e.name));
    else throw new InputError(`${dir} holds "${e.name}", which is not a plain file; add-task rewrites the folder and would lose it (move it out first)`, dir);
  }

  const log = (s: string) => process.stderr.write(s + '\n');
  log(`${dir}: ${converted ? 'one encoder whose tasks each run all of it' : 'a model whose tasks run paths of their own'} with ${system.tasks.size} task(s), ${system.numParameters().toLocaleString('en-US')} parameters`);
  log(`searching a path for "${data.name}" (${data.type}, ${data.train.length} train / ${data.dev.length} dev): ${opts.children} children × ${opts.steps} steps${opts.parallel > 1 ? `, ${opts.parallel} at a time` : ''}`);
  const t0 = performance.now();
  const res = await searchTask(system, data, source, { ...opts, log });
  saveModel(dir, system, extra);

  const path = res.best.path;
  const test = data.test.length ? await system.evaluate(data.name, data.test) : null;
  process.stdout.write(
    `added task "${data.name}" to ${dir} in ${((performance.now() - t0) / 1000).toFixed(0)} s\n` +
    `path: ${describePath(path)}\n` +
    `hparams: ${Object.entries(path.hparams).map(([k, v]) => `${k} ${v}`).join(', ')}\n` +
    `dev ${res.best.dev.metric} ${res.best.dev.score.toFixed(4)}${test ? `; test ${test.metric} ${test.score.toFixed(4)}` : ' (no test set)'}\n` +
    `parameters: ${addedParameters(system.store, path).toLocaleString('en-US')} added, ${activatedParameters(system.store, path).toLocaleString('en-US')} activated; the model now has ${system.numParameters().toLocaleString('en-US')}\n`,
  );
}
