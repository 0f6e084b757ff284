// Model folders: the one module that reads, recognises and writes them.
//
//   config.json        what the folder holds (below), with `format`, the folder format's version
//   model.safetensors  the parameters (F32, or F16 after `pathwise export`)
//   tokenizer.json     the tokenizer, Hugging Face format
//
// Kinds, told apart by config.json:
//   "base"        a pretrained encoder with its LM head (`pathwise pretrain`): architectures
//                 ["LanguageModel"], the encoder config and "sparse"; names "embeddings.*",
//                 "layers.<i>.*", "final_norm.*", "lm_head.*"
//   "bert"        a Hugging Face BERT folder (model_type "bert"), imported (nn/bert_import.ts)
//   "encoder"     a TaskModel whose tasks all run one encoder (`pathwise train`): a base's config
//                 plus "maxLen" and "tasks" [{name, type, labels, pooling, source}]; the base's
//                 names plus "heads.<task>.*". Any such folder is also a base for training.
//   "components"  any other TaskModel (`pathwise add-task`): "maxLen", "root", "components" [{id,
//                 kind, owner, locked, config}], "tasks" [{..., path}], and the root's "sparse"
//                 layout when it has one; names "components.<id>.<param>"
// Every kind loads as a TaskModel (a base or BERT folder as one with no task). saveModel writes
// the simplest kind that holds the model. Writes are atomic: a temporary sibling folder, then a
// rename over the old one. Loading validates everything and names the file and field at fault.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, readSafetensors, serializeSafetensors, type Tensor } from '../engine/index.js';
import { validateEncoderConfig, type EncoderConfig, type Module } from '../nn/index.js';
import { validateBlockSparse, validateSparseConfig, type SparseConfig } from '../sparse/index.js';
import { Tokenizer } from '../data/tokenizer/index.js';
import { TASK_TYPES, type TaskType } from '../tasks/task.js';
import type { HeadConfig } from '../tasks/heads.js';
import { InputError } from '../util/errors.js';
import { writeDirAtomic } from '../util/atomic.js';
import { COMPONENT_ID, COMPONENT_KINDS, ComponentStore, buildModule, describeComponent, type ComponentKind, type KindMap } from './components.js';
import { FOLDER_FORMAT, ModelFolderError, isObject, kindOfConfig, readFolderConfig } from './folder_config.js';
import { HPARAM_NAMES, validateHParams } from './hparams.js';
import { pathComponents, type Path, type Root } from './path.js';
import type { TaskSpec } from './predictions.js';
import { loadPretrained, type Pretrained } from './pretrained.js';
import { TaskModel, type TaskSource } from './task_model.js';
import { checkFinite, checkSizeAgainstWeights, checkVocabulary, minParameters, valuesIn } from './weights_checks.js';

// ----------------------------------------------------------------------------- loading

/**
 * Any model folder as a TaskModel, in inference mode, every component locked (its tasks are
 * finished: a later task may reuse them, never change them). A base or BERT folder gives a model
 * with no task, ready for add-task.
 */
export function loadModel(dir: string): TaskModel {
  const raw = readFolderConfig(dir);
  const file = join(dir, 'config.json');
  const model = kindOfConfig(raw, file) === 'components' ? componentsFromConfig(dir, raw) : encoderModelFromConfig(dir, raw);
  model.lockTasks();
  return model.eval();
}

/** Throws a ModelFolderError naming the folder's config.json. */
function failIn(dir: string): Fail {
  const file = join(dir, 'config.json');
  return (msg: string): never => {
    throw new ModelFolderError(`${file}: ${msg}`, file);
  };
}

function encoderModelFromConfig(dir: string, raw: Record<string, unknown>): TaskModel {
  const fail = failIn(dir);
  let pre: Pretrained;
  try {
    pre = loadPretrained(dir);
  } catch (e) {
    if (e instanceof InputError) throw e;
    // The loader's messages name the file and field; a folder it cannot read is bad input.
    throw new ModelFolderError(`${dir}: cannot read the model: ${(e as Error).message}`, dir);
  }
  if (!pre.tokenizer) throw new ModelFolderError(`${dir}: no tokenizer.json`, dir);
  const maxLen = raw.maxLen ?? pre.config.maxPositions;
  if (typeof maxLen !== 'number' || !Number.isInteger(maxLen) || maxLen < 2 || maxLen > pre.config.maxPositions)
    fail(`maxLen must be an integer in [2, ${pre.config.maxPositions}], got ${JSON.stringify(raw.maxLen)}`);
  const model = TaskModel.fromEncoder(pre.model.encoder, pre.tokenizer, { sparse: pre.sparse, rng: new Rng(0), maxLen: maxLen as number });
  const tasks = raw.tasks ?? [];
  if (!Array.isArray(tasks)) fail('"tasks" must be an array');
  const weightsFile = join(dir, 'model.safetensors');
  const tensors = (tasks as unknown[]).length ? readSafetensors(weightsFile).tensors : new Map<string, Tensor>();
  (tasks as unknown[]).forEach((t, i) => {
    const { spec, source } = checkTask(t, `tasks[${i}]`, model, fail);
    if (model.skills && !model.skills.cfg.table[spec.name]) fail(`tasks[${i}]: the skill table (sparse.skills.table) has no row for "${spec.name}"`);
    const head = model.addTask(spec, { source }).head;
    for (const [name, p] of head.namedParameters(`heads.${spec.name}.`)) {
      const v = tensors.get(name);
      if (!v || v.shape.join() !== p.shape.join()) throw new ModelFolderError(`${weightsFile}: missing or mis-shaped head parameter "${name}"`, weightsFile);
      checkFinite(v.f32, name, weightsFile);
      p.f32.set(v.f32);
    }
  });
  return model;
}

/** A task entry's name, type, labels, pooling and source; the message names the entry. */
function checkTask(t: unknown, at: string, model: TaskModel, fail: Fail): { spec: TaskSpec; source: TaskSource | null } {
  if (!isObject(t)) fail(`${at} must be an object`);
  const task = t as Record<string, unknown>;
  if (typeof task.name !== 'string' || task.name === '') fail(`${at}.name must be a non-empty string`);
  const name = task.name as string;
  if (model.tasks.has(name)) fail(`${at}.name "${name}" is used twice`);
  if (!TASK_TYPES.includes(task.type as TaskType)) fail(`${at}.type must be one of ${TASK_TYPES.join(', ')}`);
  if (!Array.isArray(task.labels) || !task.labels.every((l) => typeof l === 'string')) fail(`${at}.labels must be an array of strings`);
  if (task.pooling !== undefined && task.pooling !== 'cls' && task.pooling !== 'mean')
    fail(`${at}.pooling must be "cls" or "mean", got ${JSON.stringify(task.pooling)}`);
  const src = task.source ?? null;
  if (src !== null && (!isObject(src) || !(typeof src.builtin === 'string' || isObject(src.files))))
    fail(`${at}.source must be {"builtin": NAME}, {"files": {...}} or null`);
  const spec: TaskSpec = { name, type: task.type as TaskType, labels: task.labels as string[] };
  if (task.pooling !== undefined) spec.pooling = task.pooling as 'cls' | 'mean';
  return { spec, source: src as TaskSource | null };
}

function componentsFromConfig(dir: string, raw: Record<string, unknown>): TaskModel {
  const file = join(dir, 'config.json');
  const fail = failIn(dir);
  if (raw.format === undefined && raw.pathSystemVersion !== 1) fail(`pathSystemVersion must be 1, got ${JSON.stringify(raw.pathSystemVersion)}`);
  const maxLen = raw.maxLen;
  if (typeof maxLen !== 'number' || !Number.isInteger(maxLen) || maxLen < 2) fail(`maxLen must be an integer >= 2, got ${JSON.stringify(maxLen)}`);
  if (!Array.isArray(raw.components) || raw.components.length === 0) fail('"components" must be a non-empty array');

  const weightsFile = join(dir, 'model.safetensors');
  let tensors: Map<string, Tensor>;
  try {
    tensors = readSafetensors(weightsFile).tensors;
  } catch (e) {
    throw new ModelFolderError((e as Error).message, weightsFile);
  }
  const used = new Set<string>();
  const store = new ComponentStore();
  const have = valuesIn(tensors);
  let need = 0;
  (raw.components as unknown[]).forEach((c, i) => {
    const at = `components[${i}]`;
    if (!isObject(c)) fail(`${at} must be an object`);
    const comp = c as Record<string, unknown>;
    if (typeof comp.id !== 'string' || !COMPONENT_ID.test(comp.id)) fail(`${at}.id must be a string matching ${COMPONENT_ID}, got ${JSON.stringify(comp.id)}`);
    const id = comp.id as string;
    if (store.has(id)) fail(`${at}.id "${id}" is used twice`);
    if (!COMPONENT_KINDS.includes(comp.kind as ComponentKind))
      fail(`${at}.kind must be one of ${COMPONENT_KINDS.join(', ')}, got ${JSON.stringify(comp.kind)}`);
    const kind = comp.kind as ComponentKind;
    if (comp.owner !== null && typeof comp.owner !== 'string') fail(`${at}.owner must be a task name or null`);
    if (typeof comp.locked !== 'boolean') fail(`${at}.locked must be true or false`);
    const config = checkComponentConfig(kind, comp.config, `${at}.config`, fail);
    // Checked before each component is built, so that no config allocates more than the file holds.
    need += minParameters(kind, config);
    checkSizeAgainstWeights(need, have, `${file} ${at}`, weightsFile);
    const module = buildModule(kind, config, new Rng(i));
    for (const [name, p] of module.namedParameters()) {
      const key = `components.${id}.${name}`;
      const t = tensors.get(key);
      if (!t) throw new ModelFolderError(`${weightsFile}: missing parameter "${key}"`, weightsFile);
      if (t.shape.join() !== p.shape.join())
        throw new ModelFolderError(`${weightsFile}: "${key}" has shape [${t.shape}], ${file} ${at} implies [${p.shape}]`, weightsFile);
      checkFinite(t.f32, key, weightsFile);
      p.f32.set(t.f32);
      used.add(key);
    }
    store.add(kind, config as never, module.eval() as never, comp.owner as string | null, comp.locked as boolean, id);
  });
  for (const k of tensors.keys()) if (!used.has(k)) throw new ModelFolderError(`${weightsFile}: tensor "${k}" belongs to no component of ${file}`, weightsFile);

  if (!isObject(raw.root)) fail('"root" must be an object');
  const r = raw.root as Record<string, unknown>;
  if (!Array.isArray(r.blocks) || r.blocks.length === 0 || !r.blocks.every((b) => typeof b === 'string'))
    fail('root.blocks must be a non-empty array of component ids');
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
  if (!existsSync(tokFile)) throw new ModelFolderError(`${dir}: no tokenizer.json`, dir);
  let layout: { sparse: SparseConfig } | null = null;
  if (raw.sparse !== undefined) {
    const sp = raw.sparse as SparseConfig;
    try {
      if (!isObject(sp)) throw new RangeError('must be an object');
      validateSparseConfig(sp, root.blocks.length, 'sparse');
    } catch (e) {
      fail(`sparse: ${(e as Error).message}`);
    }
    layout = { sparse: sp };
  }
  const tokenizer = Tokenizer.fromFile(tokFile);
  for (const c of store.all()) if (c.kind === 'embeddings') checkVocabulary(tokenizer, c.config.vocabSize, tokFile, `${file} component ${c.id}`);
  const system = new TaskModel(store, root, tokenizer, maxLen as number, layout);

  if (!Array.isArray(raw.tasks)) fail('"tasks" must be an array');
  (raw.tasks as unknown[]).forEach((t, i) => {
    const at = `tasks[${i}]`;
    const { spec, source } = checkTask(t, at, system, fail);
    const task = t as Record<string, unknown>;
    const name = spec.name;
    if (!isObject(task.path)) fail(`${at}.path must be an object`);
    const p = task.path as Record<string, unknown>;
    const hparams = validateHParams(p.hparams, system.depth, file, `${at}.path.hparams`, ModelFolderError);
    if (!Array.isArray(p.blocks) || !Array.isArray(p.adapters)) fail(`${at}.path.blocks and .adapters must be arrays`);
    const path: Path = {
      task: name,
      embeddings: p.embeddings as string,
      blocks: p.blocks as string[],
      adapters: (p.adapters as unknown[]).map((a) => (a ?? null) as string | null),
      finalNorm: (p.finalNorm ?? null) as string | null,
      head: p.head as string,
      hparams,
    };
    if (p.skills !== undefined) {
      if (!Array.isArray(p.skills) || p.skills.length === 0 || !p.skills.every((x) => typeof x === 'string'))
        fail(`${at}.path.skills must be a non-empty array of skill names`);
      path.skills = [...(p.skills as string[])];
    }
    expectKind(path.embeddings, 'embeddings', `${at}.path.embeddings`);
    path.blocks.forEach((b, j) => expectKind(b, 'block', `${at}.path.blocks[${j}]`));
    path.adapters.forEach((a, j) => a !== null && expectKind(a, 'adapter', `${at}.path.adapters[${j}]`));
    if (path.finalNorm !== null) expectKind(path.finalNorm, 'final_norm', `${at}.path.finalNorm`);
    expectKind(path.head, 'head', `${at}.path.head`);
    const head = store.get(path.head, 'head').config;
    if (head.type !== task.type || head.classes !== Math.max(1, (task.labels as string[]).length)) {
      fail(
        `${at}.path.head: head "${path.head}" is a ${head.type} head with ${head.classes} outputs, the task is ${task.type} with ${(task.labels as string[]).length} labels`,
      );
    }
    for (const id of pathComponents(path)) if (!store.get(id).locked) fail(`${at}: component "${id}" is on a finished task's path but not locked`);
    try {
      system.addTaskPath(spec, source, path);
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
    case 'block': {
      const { sparse, ...enc } = c;
      if (kind === 'embeddings' && sparse !== undefined) fail(`${where}.sparse: embeddings have no FFN`);
      try {
        validateEncoderConfig(enc as unknown as EncoderConfig, where);
        if (sparse !== undefined) validateBlockSparse(sparse, `${where}.sparse`);
      } catch (e) {
        fail((e as Error).message);
      }
      return { ...(c as unknown as EncoderConfig) };
    }
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
      if (c.pooling !== undefined && c.pooling !== 'cls' && c.pooling !== 'mean')
        fail(`${where}.pooling must be "cls" or "mean", got ${JSON.stringify(c.pooling)}`);
      const h: HeadConfig = {
        type: c.type as TaskType,
        dModel: c.dModel as number,
        classes: c.classes as number,
        dropout: d as number,
        initStd: c.initStd as number,
      };
      if (c.pooling !== undefined) h.pooling = c.pooling as 'cls' | 'mean';
      return h;
    }
  }
}

// ----------------------------------------------------------------------------- saving

export interface SavedModel {
  config: Record<string, unknown>;
  tokenizerJson: string;
}

/** The files of a model folder (model.safetensors, config.json, tokenizer.json) from named parameters. */
export function folderFiles(params: Iterable<[string, Tensor]>, saved: SavedModel): Record<string, Uint8Array | string> {
  return {
    'model.safetensors': serializeSafetensors(new Map(params), { format: 'pt', producer: 'pathwise' }),
    'config.json': JSON.stringify(saved.config, null, 2) + '\n',
    'tokenizer.json': saved.tokenizerJson,
  };
}

/** A module's folder (a pretrained base, a checkpoint), written atomically. */
export function saveModuleFolder(dir: string, model: Module, saved: SavedModel): void {
  writeDirAtomic(dir, folderFiles(model.namedParameters(), saved));
}

/**
 * Whether every task runs exactly the root and a head of its own, with its default
 * hyperparameters and its skill-table row, and the store holds nothing else: then the model is
 * one encoder with heads, and saves as the "encoder" kind.
 */
function isEncoderModel(m: TaskModel): boolean {
  if (!m.layout) return false;
  const root = [m.root.embeddings, ...m.root.blocks, ...(m.root.finalNorm ? [m.root.finalNorm] : [])];
  if (m.store.size !== root.length + m.tasks.size) return false;
  const same = (a: readonly unknown[], b: readonly unknown[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  for (const { spec, path } of m.tasks.values()) {
    if (m.store.get(path.head).owner !== spec.name || root.includes(path.head)) return false;
    const want = m.rootPath(spec.name);
    const h = HPARAM_NAMES.map((k) => path.hparams[k]);
    if (path.embeddings !== want.embeddings || !same(path.blocks, want.blocks) || !same(path.adapters, want.adapters) || path.finalNorm !== want.finalNorm)
      return false;
    if (
      !same(path.skills ?? [], want.skills ?? []) ||
      !same(
        h,
        HPARAM_NAMES.map((k) => want.hparams[k]),
      )
    )
      return false;
  }
  return true;
}

function taskEntry(t: { spec: TaskSpec; source: TaskSource | null }): Record<string, unknown> {
  return { ...t.spec, source: t.source };
}

/** The folder's files: the "encoder" kind when the model is one, else the "components" kind. */
export function modelFiles(m: TaskModel): Record<string, Uint8Array | string> {
  const tokenizerJson = m.tokenizer.toJsonString();
  if (isEncoderModel(m)) {
    const enc = m.store.get(m.root.embeddings, 'embeddings').config;
    const names: [string, Tensor][] = [
      ...m.store.get(m.root.embeddings).module.namedParameters('embeddings.'),
      ...m.root.blocks.flatMap((id, i) => m.store.get(id).module.namedParameters(`layers.${i}.`)),
      ...(m.root.finalNorm ? m.store.get(m.root.finalNorm).module.namedParameters('final_norm.') : []),
      ...[...m.tasks.values()].flatMap((t) => m.store.get(t.path.head).module.namedParameters(`heads.${t.spec.name}.`)),
    ];
    const config = {
      model_type: 'pathwise',
      architectures: ['TaskModel'],
      format: FOLDER_FORMAT,
      layout: 'encoder',
      ...enc,
      sparse: m.layout!.sparse,
      maxLen: m.maxLen,
      tasks: [...m.tasks.values()].map(taskEntry),
    };
    return folderFiles(names, { config, tokenizerJson });
  }
  const config = {
    model_type: 'pathwise',
    architectures: ['TaskModel'],
    format: FOLDER_FORMAT,
    layout: 'components',
    maxLen: m.maxLen,
    root: m.root,
    ...(m.layout ? { sparse: m.layout.sparse } : {}),
    components: m.store.all().map(describeComponent),
    tasks: [...m.tasks.values()].map((t) => {
      const { task: _task, ...path } = t.path;
      return { ...taskEntry(t), path };
    }),
  };
  return folderFiles(m.namedParameters(), { config, tokenizerJson });
}

/**
 * Writes the model's folder atomically: a temporary sibling folder, then a rename over `dir`.
 * `extra` files (e.g. a README the user kept next to the model) are written along.
 */
export function saveModel(dir: string, m: TaskModel, extra: Record<string, Uint8Array> = {}): void {
  writeDirAtomic(dir, { ...extra, ...modelFiles(m) });
}
