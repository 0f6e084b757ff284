// A path system's model folder, written atomically like every Pathwise model folder:
//   config.json        model_type "pathwise", architectures ["PathSystem"], pathSystemVersion,
//                      maxLen, root {embeddings, blocks, finalNorm}, components [{id, kind, owner,
//                      locked, config}], tasks [{name, type, labels, source, path {embeddings,
//                      blocks, adapters, finalNorm, head, hparams}}]
//   model.safetensors  every component's parameters, named "components.<id>.<param>" (F32)
//   tokenizer.json     the shared tokenizer
// Loading validates everything and names the file and field at fault. openModelFolder() also
// accepts a dense `pathwise train` folder (or a pretrained base with no tasks) and converts it;
// loadTaskModel() loads either kind as it is (for eval, predict and Pathwise.fromPretrained).

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, readSafetensors, type Tensor } from '../engine/index.js';
import { validateEncoderConfig, type EncoderConfig } from '../nn/index.js';
import { Tokenizer } from '../data/tokenizer/index.js';
import { TASK_TYPES, type Example, type TaskData, type TaskType } from '../tasks/task.js';
import type { HeadConfig } from '../tasks/heads.js';
import type { MultiTaskModel } from '../tasks/multitask_model.js';
import { evaluateTask, type TaskScore } from '../train/multitask.js';
import { loadMultiTask, type SavedTask, type TaskSource } from '../train/pretrained.js';
import { modelFiles } from '../train/checkpoint.js';
import { InputError } from '../util/errors.js';
import { writeDirAtomic } from '../util/atomic.js';
import { COMPONENT_ID, COMPONENT_KINDS, ComponentStore, ComponentsModule, buildModule, describeComponent, type ComponentDescription, type ComponentKind, type KindMap } from './components.js';
import { validateHParams } from './hparams.js';
import { pathComponents, type Path, type Root } from './path.js';
import { PathSystem, fromMultiTask } from './system.js';
import { evaluatePath } from './evaluate.js';

/** A path-system folder (or a model folder to convert) that cannot be used. */
export class PathSystemError extends InputError {}

export const PATH_SYSTEM_ARCHITECTURE = 'PathSystem';
export const PATH_SYSTEM_VERSION = 1;

type SavedComponent = ComponentDescription;

type SavedPath = Omit<Path, 'task'>;

interface SavedPathTask extends SavedTask {
  path: SavedPath;
}

export interface PathSystemConfig {
  model_type: 'pathwise';
  architectures: [typeof PATH_SYSTEM_ARCHITECTURE];
  pathSystemVersion: number;
  maxLen: number;
  root: Root;
  components: SavedComponent[];
  tasks: SavedPathTask[];
}

export function pathSystemConfig(system: PathSystem): PathSystemConfig {
  return {
    model_type: 'pathwise',
    architectures: [PATH_SYSTEM_ARCHITECTURE],
    pathSystemVersion: PATH_SYSTEM_VERSION,
    maxLen: system.maxLen,
    root: system.root,
    components: system.store.all().map(describeComponent),
    tasks: [...system.tasks.values()].map(({ spec, source, path }) => {
      const { task: _task, ...rest } = path;
      return { name: spec.name, type: spec.type, labels: spec.labels, source, path: rest };
    }),
  };
}

/** The folder's files (config.json, model.safetensors, tokenizer.json). */
export function pathSystemFiles(system: PathSystem): Record<string, string | Uint8Array> {
  return modelFiles(new ComponentsModule(system.store), { config: pathSystemConfig(system) as unknown as Record<string, unknown>, tokenizerJson: system.tokenizer.toJsonString() });
}

/**
 * Writes the folder atomically: a temporary sibling folder, then a rename over `dir`. `extra`
 * files (e.g. a README the user kept next to the model) are written along.
 */
export function savePathSystem(dir: string, system: PathSystem, extra: Record<string, Uint8Array> = {}): void {
  writeDirAtomic(dir, { ...extra, ...pathSystemFiles(system) });
}

/** Whether a model folder's config.json describes a path system. */
export function isPathSystemConfig(raw: unknown): boolean {
  return isObject(raw) && Array.isArray(raw.architectures) && raw.architectures.includes(PATH_SYSTEM_ARCHITECTURE);
}

/**
 * Whether `dir` holds a path system (by its config.json). False when config.json is missing or
 * is not JSON: the caller then goes on with the dense loader, whose message names the problem.
 */
export function isPathSystemFolder(dir: string): boolean {
  const file = join(dir, 'config.json');
  if (!existsSync(file)) return false;
  try {
    return isPathSystemConfig(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    return false;
  }
}

/** A trained model folder as `pathwise eval` / `predict` and Pathwise.fromPretrained use it. */
export type TaskModelFolder =
  | { kind: 'multitask'; model: MultiTaskModel; tasks: SavedTask[] }
  | { kind: 'path_system'; system: PathSystem; tasks: SavedTask[] };

/**
 * Loads a `pathwise train` folder or a path-system folder (told apart by config.json), with its
 * tasks (spec and data source) in the order the folder lists them.
 */
export function loadTaskModel(dir: string): TaskModelFolder {
  if (isPathSystemFolder(dir)) {
    const system = loadPathSystem(dir);
    return { kind: 'path_system', system, tasks: [...system.tasks.values()].map(({ spec, source }) => ({ ...spec, source })) };
  }
  const { model, tasks } = loadMultiTask(dir);
  return { kind: 'multitask', model, tasks };
}

/** Scores one of the folder's tasks on examples: evaluateTask or evaluatePath (the same metrics). */
export function evaluateFolderTask(m: TaskModelFolder, task: TaskData, examples: readonly Example[]): Promise<TaskScore> {
  return m.kind === 'path_system' ? evaluatePath(m.system.model(task.name), task, examples) : evaluateTask(m.model, task, examples);
}

export function loadPathSystem(dir: string): PathSystem {
  const cfgFile = join(dir, 'config.json');
  const raw = readJson(cfgFile);
  return pathSystemFromConfig(dir, raw);
}

/**
 * Any Pathwise model folder as a path system: a path-system folder is loaded; a dense
 * `pathwise train` folder (or a pretrained base, with no tasks) is converted in memory.
 */
export function openModelFolder(dir: string): { system: PathSystem; converted: boolean } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new PathSystemError(`${dir}: no such model folder`, dir);
  const cfgFile = join(dir, 'config.json');
  if (!existsSync(cfgFile)) throw new PathSystemError(`${dir}: no config.json (is this a model folder?)`, cfgFile);
  const raw = readJson(cfgFile);
  if (isPathSystemConfig(raw)) return { system: pathSystemFromConfig(dir, raw), converted: false };
  const sparse = isObject(raw) && isObject(raw.sparse) ? raw.sparse : null;
  if (sparse && (sparse.switch || sparse.skills)) {
    throw new PathSystemError(`${cfgFile}: a sparse model (${sparse.switch ? 'Switch experts' : 'skills'}) cannot take evolutionary paths yet; use a dense base (no "sparse" block)`, cfgFile);
  }
  if (!existsSync(join(dir, 'tokenizer.json'))) throw new PathSystemError(`${dir}: no tokenizer.json`, dir);
  let loaded: ReturnType<typeof loadMultiTask>;
  try {
    loaded = loadMultiTask(dir);
  } catch (e) {
    if (e instanceof InputError) throw e;
    // fromPretrained's messages name the file and field; a folder it cannot read is bad input.
    throw new PathSystemError(`${dir}: cannot read the model: ${(e as Error).message}`, dir);
  }
  return { system: fromMultiTask(loaded.model, loaded.tasks), converted: true };
}

// ------------------------------------------------------------------------------ validation

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PathSystemError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, file);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new PathSystemError(`${file}: not valid JSON (${(e as Error).message})`, file);
  }
}

function pathSystemFromConfig(dir: string, raw: unknown): PathSystem {
  const file = join(dir, 'config.json');
  const fail = (msg: string): never => {
    throw new PathSystemError(`${file}: ${msg}`, file);
  };
  if (!isObject(raw)) return fail('expected a JSON object');
  if (raw.pathSystemVersion !== PATH_SYSTEM_VERSION) fail(`pathSystemVersion must be ${PATH_SYSTEM_VERSION}, got ${JSON.stringify(raw.pathSystemVersion)}`);
  const maxLen = raw.maxLen;
  if (typeof maxLen !== 'number' || !Number.isInteger(maxLen) || maxLen < 2) fail(`maxLen must be an integer >= 2, got ${JSON.stringify(maxLen)}`);
  if (!Array.isArray(raw.components) || raw.components.length === 0) fail('"components" must be a non-empty array');

  const weightsFile = join(dir, 'model.safetensors');
  let tensors: Map<string, Tensor>;
  try {
    tensors = readSafetensors(weightsFile).tensors;
  } catch (e) {
    throw new PathSystemError((e as Error).message, weightsFile);
  }
  const used = new Set<string>();
  const store = new ComponentStore();
  (raw.components as unknown[]).forEach((c, i) => {
    const at = `components[${i}]`;
    if (!isObject(c)) fail(`${at} must be an object`);
    const comp = c as Record<string, unknown>;
    if (typeof comp.id !== 'string' || !COMPONENT_ID.test(comp.id)) fail(`${at}.id must be a string matching ${COMPONENT_ID}, got ${JSON.stringify(comp.id)}`);
    const id = comp.id as string;
    if (store.has(id)) fail(`${at}.id "${id}" is used twice`);
    if (!COMPONENT_KINDS.includes(comp.kind as ComponentKind)) fail(`${at}.kind must be one of ${COMPONENT_KINDS.join(', ')}, got ${JSON.stringify(comp.kind)}`);
    const kind = comp.kind as ComponentKind;
    if (comp.owner !== null && typeof comp.owner !== 'string') fail(`${at}.owner must be a task name or null`);
    if (typeof comp.locked !== 'boolean') fail(`${at}.locked must be true or false`);
    const config = checkComponentConfig(kind, comp.config, `${at}.config`, fail);
    const module = buildModule(kind, config, new Rng(i));
    for (const [name, p] of module.namedParameters()) {
      const key = `components.${id}.${name}`;
      const t = tensors.get(key);
      if (!t) throw new PathSystemError(`${weightsFile}: missing parameter "${key}"`, weightsFile);
      if (t.shape.join() !== p.shape.join()) throw new PathSystemError(`${weightsFile}: "${key}" has shape [${t.shape}], ${file} ${at} implies [${p.shape}]`, weightsFile);
      p.f32.set(t.f32);
      used.add(key);
    }
    store.add(kind, config as never, module.eval() as never, comp.owner as string | null, comp.locked as boolean, id);
  });
  for (const k of tensors.keys()) if (!used.has(k)) throw new PathSystemError(`${weightsFile}: tensor "${k}" belongs to no component of ${file}`, weightsFile);

  if (!isObject(raw.root)) fail('"root" must be an object');
  const r = raw.root as Record<string, unknown>;
  if (!Array.isArray(r.blocks) || r.blocks.length === 0 || !r.blocks.every((b) => typeof b === 'string')) fail('root.blocks must be a non-empty array of component ids');
  const root: Root = { embeddings: r.embeddings as string, blocks: r.blocks as string[], finalNorm: (r.finalNorm ?? null) as string | null };
  const expectKind = (id: unknown, kind: ComponentKind, where: string) => {
    if (typeof id !== 'string' || !store.has(id)) fail(`${where}: no component ${JSON.stringify(id)}`);
    const c = store.get(id as string);
    if (c.kind !== kind) fail(`${where}: component "${c.id}" is a ${c.kind}, expected a ${kind}`);
  };
  expectKind(root.embeddings, 'embeddings', 'root.embeddings');
  root.blocks.forEach((b, i) => expectKind(b, 'block', `root.blocks[${i}]`));
  if (root.finalNorm !== null) expectKind(root.finalNorm, 'final_norm', 'root.finalNorm');

  const tokFile = join(dir, 'tokenizer.json');
  if (!existsSync(tokFile)) throw new PathSystemError(`${dir}: no tokenizer.json`, dir);
  const system = new PathSystem(store, root, Tokenizer.fromFile(tokFile), maxLen as number);

  if (!Array.isArray(raw.tasks)) fail('"tasks" must be an array');
  (raw.tasks as unknown[]).forEach((t, i) => {
    const at = `tasks[${i}]`;
    if (!isObject(t)) fail(`${at} must be an object`);
    const task = t as Record<string, unknown>;
    if (typeof task.name !== 'string' || task.name === '') fail(`${at}.name must be a non-empty string`);
    const name = task.name as string;
    if (system.tasks.has(name)) fail(`${at}.name "${name}" is used twice`);
    if (!TASK_TYPES.includes(task.type as TaskType)) fail(`${at}.type must be one of ${TASK_TYPES.join(', ')}`);
    if (!Array.isArray(task.labels) || !task.labels.every((l) => typeof l === 'string')) fail(`${at}.labels must be an array of strings`);
    const src = task.source;
    if (!isObject(src) || !(typeof src.builtin === 'string' || isObject(src.files))) fail(`${at}.source must be {"builtin": NAME} or {"files": {...}}`);
    if (!isObject(task.path)) fail(`${at}.path must be an object`);
    const p = task.path as Record<string, unknown>;
    const hparams = validateHParams(p.hparams, system.depth, file, `${at}.path.hparams`, PathSystemError);
    if (!Array.isArray(p.blocks) || !Array.isArray(p.adapters)) fail(`${at}.path.blocks and .adapters must be arrays`);
    const path: Path = {
      task: name, embeddings: p.embeddings as string, blocks: p.blocks as string[], adapters: (p.adapters as unknown[]).map((a) => (a ?? null) as string | null),
      finalNorm: (p.finalNorm ?? null) as string | null, head: p.head as string, hparams,
    };
    expectKind(path.embeddings, 'embeddings', `${at}.path.embeddings`);
    path.blocks.forEach((b, j) => expectKind(b, 'block', `${at}.path.blocks[${j}]`));
    path.adapters.forEach((a, j) => a !== null && expectKind(a, 'adapter', `${at}.path.adapters[${j}]`));
    if (path.finalNorm !== null) expectKind(path.finalNorm, 'final_norm', `${at}.path.finalNorm`);
    expectKind(path.head, 'head', `${at}.path.head`);
    const head = store.get(path.head, 'head').config;
    if (head.type !== task.type || head.classes !== Math.max(1, (task.labels as string[]).length)) {
      fail(`${at}.path.head: head "${path.head}" is a ${head.type} head with ${head.classes} outputs, the task is ${task.type} with ${(task.labels as string[]).length} labels`);
    }
    for (const id of pathComponents(path)) if (!store.get(id).locked) fail(`${at}: component "${id}" is on a finished task's path but not locked`);
    try {
      system.addTask({ name, type: task.type as TaskType, labels: task.labels as string[] }, src as TaskSource, path);
    } catch (e) {
      fail(`${at}.path: ${(e as Error).message}`);
    }
  });
  return system;
}

type Fail = (msg: string) => never;

function checkComponentConfig(kind: ComponentKind, c: unknown, where: string, fail: Fail): KindMap[ComponentKind]['config'] {
  if (!isObject(c)) return fail(`${where} must be an object`);
  const int = (k: string, min = 1) => {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(`${where}.${k} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  };
  const pos = (k: string) => {
    const v = c[k];
    if (typeof v !== 'number' || !(v > 0)) fail(`${where}.${k} must be a number > 0, got ${JSON.stringify(v)}`);
  };
  switch (kind) {
    case 'embeddings':
    case 'block':
      try {
        validateEncoderConfig(c as unknown as EncoderConfig, where);
      } catch (e) {
        fail((e as Error).message);
      }
      return { ...(c as unknown as EncoderConfig) };
    case 'final_norm':
      int('dModel');
      pos('layerNormEps');
      return { dModel: c.dModel as number, layerNormEps: c.layerNormEps as number };
    case 'adapter':
      int('dModel');
      int('size');
      pos('layerNormEps');
      pos('initStd');
      return { dModel: c.dModel as number, size: c.size as number, layerNormEps: c.layerNormEps as number, initStd: c.initStd as number };
    case 'head': {
      if (!TASK_TYPES.includes(c.type as TaskType)) fail(`${where}.type must be one of ${TASK_TYPES.join(', ')}`);
      int('dModel');
      int('classes');
      pos('initStd');
      const d = c.dropout;
      if (typeof d !== 'number' || !(d >= 0 && d < 1)) fail(`${where}.dropout must be in [0, 1), got ${JSON.stringify(d)}`);
      if (c.pooling !== undefined && c.pooling !== 'cls' && c.pooling !== 'mean') fail(`${where}.pooling must be "cls" or "mean", got ${JSON.stringify(c.pooling)}`);
      const h: HeadConfig = { type: c.type as TaskType, dModel: c.dModel as number, classes: c.classes as number, dropout: d as number, initStd: c.initStd as number };
      if (c.pooling !== undefined) h.pooling = c.pooling as 'cls' | 'mean';
      return h;
    }
  }
}
