// `pathwise add-task <model> --task <task config | built-in name> [--children N] [--steps N]
//  [--base X] [--seed S] [--batch-size N] [--eval-examples N] [--parallel N] ...`: one flag per
//  key of the search's config (src/evolve/search_config.ts), in kebab case.
//
// Adds one task to a model folder, in place, by μ2Net's search (src/evolve/search.ts). Any folder
// `pathwise train` or `pathwise pretrain` writes (dense, Switch or skills), or one add-task has
// grown; its tasks' components are locked as it loads. Everything is validated before anything is
// trained, and the folder is rewritten atomically (a temporary sibling, then a rename), so a
// failure at any point leaves it as it was. Earlier tasks' predictions do not change.
//
// A task config is a JSON file {name, type, train, dev?, test?, labels?, devFraction?, seed?,
// format?; image tasks also width, height, channels, flips?} (src/tasks/task_config.ts, the same
// schema as a task in `pathwise train`'s config), checked before any data is read; relative data
// paths (files or, for image tasks, folders) are resolved against the task config's own folder
// and saved absolute, so the model folder can be used from anywhere.
//
// --parallel N trains N children at a time, each in a worker thread (search.ts). The search then
// runs in rounds, so its result depends on N as well as on the seed; the default, 1, is the
// sequential search.

import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { BUILTIN_TASK_NAMES, loadBuiltinTask } from '../tasks/builtin/index.js';
import { loadTaskFromFiles } from '../tasks/from_files.js';
import { parseTaskConfig } from '../tasks/task_config.js';
import { whyUntrainable, type TaskData } from '../tasks/task.js';
import { activatedParameters, addedParameters, describePath, folderKind, loadModel, saveModel, type TaskSource } from '../model/index.js';
import { DEFAULT_SEARCH_CONFIG, searchConfigSchema, searchTask } from '../evolve/index.js';
import { InputError } from '../util/errors.js';
import { checkWritableFolder } from '../util/writable.js';
import { configFlags, configOfFlags, parseCommandLine, UsageError } from './args.js';

/** add-task's search flags: the search config's keys, in kebab case (batchSize: --batch-size). */
const SEARCH_FLAGS = configFlags(Object.keys(searchConfigSchema.shape));

const USAGE = `usage: pathwise add-task <model folder> --task <task config .json | built-in task> ${[...SEARCH_FLAGS]
  .map(([flag, key]) => `[--${flag} ${DEFAULT_SEARCH_CONFIG[key as keyof typeof DEFAULT_SEARCH_CONFIG] ?? '…'}]`)
  .join(' ')}`;

/** The search config the flags spell; a bad value is a UsageError naming the flag and its text. */
function searchConfigOf(flags: Record<string, string | boolean | undefined>) {
  return configOfFlags(searchConfigSchema, SEARCH_FLAGS, flags);
}

/** A task named on the command line: a task config file, or a built-in task's name. */
export async function resolveTaskArg(arg: string): Promise<{ data: TaskData; source: TaskSource }> {
  if (existsSync(arg) && statSync(arg).isFile()) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(arg, 'utf8'));
    } catch (e) {
      throw new InputError(`task config ${arg}: not valid JSON (${(e as Error).message})`, arg);
    }
    const cfg = parseTaskConfig(raw, `task config ${arg}`, InputError, arg);
    const base = dirname(resolve(arg));
    for (const k of ['train', 'dev', 'test'] as const) {
      const v = cfg[k];
      if (v !== undefined && !isAbsolute(v)) cfg[k] = join(base, v);
    }
    return { data: await loadTaskFromFiles(cfg), source: { files: cfg } };
  }
  if (BUILTIN_TASK_NAMES.includes(arg)) return { data: loadBuiltinTask(arg), source: { builtin: arg } };
  throw new InputError(`task config file ${arg} not found (and "${arg}" is not a built-in task: ${BUILTIN_TASK_NAMES.join(', ')})`, arg);
}

export async function addTaskCommand(argv: string[]): Promise<void> {
  const spec = { task: 'string', ...Object.fromEntries([...SEARCH_FLAGS.keys()].map((f) => [f, 'string'])) } as Record<string, 'string'>;
  const { rest, flags } = parseCommandLine(argv, spec, USAGE);
  if (rest.length !== 1 || !flags.task) throw new UsageError(USAGE);
  const dir = rest[0];
  const opts = searchConfigOf(flags);

  // Validate everything before training: the folder, the task and its data, the name.
  const converted = folderKind(dir) !== 'components';
  const system = loadModel(dir);
  const { data, source } = await resolveTaskArg(flags.task);
  if (system.tasks.has(data.name)) {
    throw new InputError(
      `task "${data.name}" is already in ${dir} (it has: ${[...system.tasks.keys()].join(', ')}); give the new task another name`,
      flags.task,
    );
  }
  const why = whyUntrainable(data);
  if (why) throw new InputError(`${flags.task}: ${why}`, flags.task);
  if (data.dev.length === 0)
    throw new InputError(
      `task "${data.name}" (${flags.task}) has no dev examples; the search scores children on dev: give "dev", or keep devFraction > 0`,
      flags.task,
    );
  // The folder is replaced as a whole: keep the user's other files; refuse to drop subfolders.
  const extra: Record<string, Uint8Array> = {};
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (['config.json', 'model.safetensors', 'tokenizer.json'].includes(e.name)) continue;
    if (e.isFile()) extra[e.name] = readFileSync(join(dir, e.name));
    else throw new InputError(`${dir} holds "${e.name}", which is not a plain file; add-task rewrites the folder and would lose it (move it out first)`, dir);
  }

  // The folder is rewritten through siblings in its parent (util/atomic.ts): that must be writable.
  checkWritableFolder(dirname(resolve(dir)), dir, dir);

  const log = (s: string) => process.stderr.write(s + '\n');
  log(
    `${dir}: ${converted ? 'one encoder whose tasks each run all of it' : 'a model whose tasks run paths of their own'} with ${system.tasks.size} task(s), ${system.numParameters().toLocaleString('en-US')} parameters`,
  );
  log(
    `searching a path for "${data.name}" (${data.type}, ${data.train.length} train / ${data.dev.length} dev): ${opts.children} children × ${opts.patience > 0 ? `at most ${opts.steps} steps (until dev stops rising for ${opts.patience} evaluations)` : `${opts.steps} steps`}${opts.parallel > 1 ? `, ${opts.parallel} at a time` : ''}${opts.budget > 0 ? `, at most ${opts.budget} steps in all` : ''}`,
  );
  const t0 = performance.now();
  const res = await searchTask(system, data, source, { ...opts, log });
  saveModel(dir, system, extra);

  const path = res.best.path;
  const test = data.test.length ? await system.evaluate(data.name, data.test) : null;
  process.stdout.write(
    `added task "${data.name}" to ${dir} in ${((performance.now() - t0) / 1000).toFixed(0)} s\n` +
      `path: ${describePath(path)}\n` +
      `hparams: ${Object.entries(path.hparams)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}\n` +
      `dev ${res.best.dev.metric} ${res.best.dev.score.toFixed(4)}${test ? `; test ${test.metric} ${test.score.toFixed(4)}` : ' (no test set)'}\n` +
      `search: ${res.candidates.length} children in ${res.generations} generations, ${res.stepsSpent.toLocaleString('en-US')} training steps; stopped: ${res.stopped}\n` +
      (res.prior
        ? `Naive Bayes prior: ${res.prior.weight > 0 ? `weight ${res.prior.weight}, ${system.taskPath(data.name).head.prior!.size.toLocaleString('en-US')} numbers stored` : 'not used'} (dev ${res.prior.devWithout.toFixed(4)} -> ${res.prior.devWith.toFixed(4)})\n`
        : '') +
      `parameters: ${addedParameters(system.store, path).toLocaleString('en-US')} added, ${activatedParameters(system.store, path).toLocaleString('en-US')} activated; the model now has ${system.numParameters().toLocaleString('en-US')}\n`,
  );
}
