// Model folders: the one module that reads, recognises and writes them.
//
//   config.json        what the folder holds (below), with `format`, the folder format's version
//   model.safetensors  the parameters (F32, or F16 after `pathwise export`, or int8 with F32 scales
//                      after `pathwise quantize`: quantized_weights.ts)
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
import { Rng, serializeSafetensors, setInt8, type Tensor } from '../engine/index.js';
import type { EncoderConfig, Module } from '../nn/index.js';
import { validateSparseConfig, type SparseConfig } from '../sparse/index.js';
import { Tokenizer } from '../data/tokenizer/index.js';
import { writeDirAtomic } from '../util/atomic.js';
import { parseOrThrow, shown } from '../util/schema.js';
import { ComponentStore, buildModule, describeComponent, type BlockComponentConfig, type ComponentDescription, type ComponentKind } from './components.js';
import { TaskHead } from '../tasks/heads.js';
import { FOLDER_FORMAT, ModelFolderError, isObject, kindOfConfig, readFolderConfig } from './folder_config.js';
import { componentsFolderSchema } from './folder_schema.js';
import { HPARAM_NAMES, validateHParams } from './hparams.js';
import { pathComponents, type Path, type Root } from './path.js';
import type { TaskSpec } from './predictions.js';
import { loadPretrained } from './pretrained.js';
import { checkTaskEntry, type Fail } from './task_entry.js';
import { TaskModel, type TaskSource } from './task_model.js';
import { readModelWeights, withInt8, type ModelWeights } from './quantized_weights.js';
import { checkSizeAgainstWeights, checkSpecialTokens, checkVocabulary, checkedParameter, parameterCount, sizeKeys, valuesIn } from './weights_checks.js';

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
  return failWith(join(dir, 'config.json'));
}

/** Throws a ModelFolderError naming `file`. */
function failWith(file: string): Fail {
  return (msg: string): never => {
    throw new ModelFolderError(`${file}: ${msg}`, file);
  };
}

/** A pair is encoded [CLS] a [SEP] b [SEP]: found by fuzzing, a pair task under maxLen 3 failed at its first input. */
function checkRoomFor(spec: TaskSpec, maxLen: number, at: string, fail: (msg: string) => never): void {
  if (spec.type === 'pair_classification' && maxLen < 3) fail(`${at}: a pair task needs maxLen >= 3 ([CLS] a [SEP] b [SEP]), the folder's maxLen is ${maxLen}`);
}

function encoderModelFromConfig(dir: string, raw: Record<string, unknown>): TaskModel {
  const fail = failIn(dir);
  const pre = loadPretrained(dir);
  if (!pre.tokenizer) throw new ModelFolderError(`${dir}: no tokenizer.json`, join(dir, 'tokenizer.json'));
  const maxLen = raw.maxLen ?? pre.config.maxPositions;
  if (typeof maxLen !== 'number' || !Number.isInteger(maxLen) || maxLen < 2 || maxLen > pre.config.maxPositions)
    fail(`maxLen must be an integer in [2, ${pre.config.maxPositions}], got ${shown(raw.maxLen)}`);
  const model = TaskModel.fromEncoder(pre.model.encoder, pre.tokenizer, { sparse: pre.sparse, rng: new Rng(0), maxLen: maxLen as number });
  pre.tasks.forEach(({ spec }, i) => checkRoomFor(spec, maxLen as number, `tasks[${i}]`, fail));
  for (const { spec, source, head } of pre.tasks) model.addTask(spec, { source, head });
  return model;
}

function componentsFromConfig(dir: string, raw: Record<string, unknown>): TaskModel {
  const weightsFile = join(dir, 'model.safetensors');
  const tokFile = join(dir, 'tokenizer.json');
  return componentsModel(raw, {
    file: join(dir, 'config.json'),
    weightsFile,
    tokFile,
    weights: () => readModelWeights(weightsFile),
    tokenizer: () => {
      if (!existsSync(tokFile)) throw new ModelFolderError(`${dir}: no tokenizer.json`, tokFile);
      return Tokenizer.fromFile(tokFile);
    },
    adopt: false,
  });
}

/** Where a "components" model's parts come from: a folder's files, or memory (shared_model.ts). */
export interface ComponentsSource {
  /** The config's name in errors (a folder's config.json). */
  file: string;
  /** The weights' name in errors. */
  weightsFile: string;
  /** The tokenizer's name in errors. */
  tokFile: string;
  /** The parameters' values by name, and the int8 forms of quantized ones (quantized_weights.ts). */
  weights: () => ModelWeights;
  tokenizer: () => Tokenizer;
  /**
   * Whether each parameter takes the checked tensor's storage as its own (shared memory: no copy)
   * rather than a copy of its values (a file's: the file's buffer is let go).
   */
  adopt: boolean;
}

/** @internal A "components" config, checked whole, with its weights and tokenizer, as a TaskModel. */
export function componentsModel(raw: Record<string, unknown>, src: ComponentsSource): TaskModel {
  const { file, weightsFile, tokFile } = src;
  const fail = failWith(file);
  if (raw.format === undefined && raw.pathSystemVersion !== 1) fail(`pathSystemVersion must be 1, got ${shown(raw.pathSystemVersion)}`);
  // The whole config against its schema, every component's config by its kind's, before the
  // weights are read or anything is built (folder_schema.ts).
  const c = parseOrThrow(componentsFolderSchema, raw, { source: file, Err: ModelFolderError, file });
  const maxLen = c.maxLen;
  const entries = c.components as unknown as ComponentDescription[];
  const ids = new Set<string>();
  entries.forEach((c, i) => {
    if (ids.has(c.id)) fail(`components[${i}].id "${c.id}" is used twice`);
    ids.add(c.id);
    if (c.kind === 'embeddings' && maxLen > (c.config as EncoderConfig).maxPositions)
      fail(`maxLen (${maxLen}) exceeds components[${i}].config.maxPositions (${(c.config as EncoderConfig).maxPositions})`);
  });

  const { tensors, int8 } = src.weights();
  // The size check, before anything is allocated (weights_checks.ts).
  const sizes = entries.map((c) => parameterCount(c.kind, c.config));
  const big = sizes.indexOf(Math.max(...sizes));
  const { kind, config } = entries[big];
  const what = `${file} components (the largest, components[${big}], a ${kind}: ${sizeKeys(config, (config as BlockComponentConfig).sparse)})`;
  checkSizeAgainstWeights(
    sizes.reduce((a, b) => a + b, 0),
    valuesIn(tensors),
    what,
    file,
    weightsFile,
  );

  const used = new Set<string>();
  const store = new ComponentStore();
  entries.forEach((c, i) => {
    const module = buildModule(c.kind, c.config, new Rng(i));
    for (const [name, p] of module.namedParameters()) {
      const key = `components.${c.id}.${name}`;
      const values = checkedParameter(tensors.get(key), key, p.shape, weightsFile, `${file} components[${i}] implies`);
      if (src.adopt) p.adoptStorage(values);
      else p.f32.set(values);
      const form = int8.get(key);
      if (form) setInt8(p, form);
      used.add(key);
    }
    if (module instanceof TaskHead) {
      const fail = (msg: string): never => {
        throw new ModelFolderError(`${weightsFile}: components[${i}] (head "${c.id}"): ${msg}`, weightsFile);
      };
      for (const name of module.loadPrior(tensors, `components.${c.id}.`, fail)) used.add(name);
    }
    store.add(c.kind, c.config as never, module.eval() as never, c.owner, c.locked, c.id);
  });
  for (const k of tensors.keys()) if (!used.has(k)) throw new ModelFolderError(`${weightsFile}: tensor "${k}" belongs to no component of ${file}`, weightsFile);

  const root: Root = { embeddings: c.root.embeddings, blocks: c.root.blocks, finalNorm: c.root.finalNorm ?? null };
  const expectKind = (id: unknown, kind: ComponentKind, where: string) => {
    if (typeof id !== 'string' || !store.has(id)) fail(`${where}: no component ${shown(id)}`);
    const c = store.get(id as string);
    if (c.kind !== kind) fail(`${where}: component "${c.id}" is a ${c.kind}, expected a ${kind}`);
  };
  expectKind(root.embeddings, 'embeddings', 'root.embeddings');
  root.blocks.forEach((b, i) => expectKind(b, 'block', `root.blocks[${i}]`));
  if (root.finalNorm !== null) expectKind(root.finalNorm, 'final_norm', 'root.finalNorm');

  let layout: { sparse: SparseConfig } | null = null;
  if (c.sparse !== undefined) {
    const sp = c.sparse;
    try {
      validateSparseConfig(sp, root.blocks.length, 'sparse');
    } catch (e) {
      fail((e as Error).message);
    }
    layout = { sparse: sp };
  }
  const tokenizer = src.tokenizer();
  checkSpecialTokens(tokenizer, tokFile);
  entries.forEach((c, i) => {
    if (c.kind === 'embeddings') checkVocabulary(tokenizer, c.config as EncoderConfig, tokFile, `${file} components[${i}].config`);
  });
  const system = new TaskModel(store, root, tokenizer, maxLen, layout);

  c.tasks.forEach((t, i) => {
    const at = `tasks[${i}]`;
    const { spec, source } = checkTaskEntry(t, at, system.tasks, fail);
    checkRoomFor(spec, maxLen, at, fail);
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
    if (p.embeddingLora !== undefined) {
      if (typeof p.embeddingLora !== 'string') fail(`${at}.path.embeddingLora must be a component id`);
      path.embeddingLora = p.embeddingLora as string;
    }
    if (p.loras !== undefined) {
      if (!Array.isArray(p.loras)) fail(`${at}.path.loras must be an array (one entry per block, null where none)`);
      path.loras = (p.loras as unknown[]).map((l) => (l ?? null) as string | null);
    }
    if (p.skills !== undefined) {
      if (!Array.isArray(p.skills) || p.skills.length === 0 || !p.skills.every((x) => typeof x === 'string'))
        fail(`${at}.path.skills must be a non-empty array of skill names`);
      path.skills = [...(p.skills as string[])];
    }
    expectKind(path.embeddings, spec.type === 'image_classification' ? 'image_stem' : 'embeddings', `${at}.path.embeddings`);
    if (spec.image) {
      const s = store.get(path.embeddings, 'image_stem').config;
      if (s.width !== spec.image.width || s.height !== spec.image.height || s.channels !== spec.image.channels)
        fail(
          `${at}.path.embeddings: stem "${path.embeddings}" reads ${s.width}×${s.height}×${s.channels} images, the task's are ${spec.image.width}×${spec.image.height}×${spec.image.channels}`,
        );
    }
    if (path.embeddingLora !== undefined) expectKind(path.embeddingLora, 'embedding_lora', `${at}.path.embeddingLora`);
    path.blocks.forEach((b, j) => expectKind(b, 'block', `${at}.path.blocks[${j}]`));
    path.adapters.forEach((a, j) => a !== null && expectKind(a, 'adapter', `${at}.path.adapters[${j}]`));
    path.loras?.forEach((l, j) => l !== null && expectKind(l, 'lora', `${at}.path.loras[${j}]`));
    if (path.finalNorm !== null) expectKind(path.finalNorm, 'final_norm', `${at}.path.finalNorm`);
    expectKind(path.head, 'head', `${at}.path.head`);
    const head = store.get(path.head, 'head').config;
    if (head.type !== spec.type || head.classes !== Math.max(1, spec.labels.length)) {
      fail(
        `${at}.path.head: head "${path.head}" is a ${head.type} head with ${head.classes} outputs, the task is ${spec.type} with ${spec.labels.length} labels`,
      );
    }
    if (JSON.stringify(head.lexical ?? null) !== JSON.stringify(spec.lexical ?? null))
      fail(`${at}.lexical must equal its head "${path.head}"'s lexical (${JSON.stringify(head.lexical ?? null)})`);
    for (const id of pathComponents(path)) if (!store.get(id).locked) fail(`${at}: component "${id}" is on a finished task's path but not locked`);
    try {
      system.addTaskPath(spec, source, path);
    } catch (e) {
      fail(`${at}.path: ${(e as Error).message}`);
    }
  });
  return system;
}

// ----------------------------------------------------------------------------- saving

export interface SavedModel {
  config: Record<string, unknown>;
  tokenizerJson: string;
}

/** The files of a model folder (model.safetensors, config.json, tokenizer.json) from named parameters. */
export function folderFiles(params: Iterable<[string, Tensor]>, saved: SavedModel): Record<string, Uint8Array | string> {
  return {
    'model.safetensors': serializeSafetensors(new Map(withInt8(params)), { format: 'pt', producer: 'pathwise' }),
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
    if (
      path.embeddings !== want.embeddings ||
      path.embeddingLora !== undefined ||
      !same(path.blocks, want.blocks) ||
      !same(path.adapters, want.adapters) ||
      (path.loras ?? []).some((l) => l !== null) ||
      path.finalNorm !== want.finalNorm
    )
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
      ...[...m.tasks.values()].flatMap((t) => m.store.get(t.path.head).module.namedState(`heads.${t.spec.name}.`)),
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
  return folderFiles(m.namedState(), { config: componentsConfig(m), tokenizerJson });
}

/** The config.json of the "components" kind, which holds any TaskModel (its parameters named "components.<id>.<param>"). */
export function componentsConfig(m: TaskModel): Record<string, unknown> {
  // A saved task is a finished task: what its path uses is saved locked, as loading requires
  // (a jointly trained model with an image stem saves as this kind straight from training).
  const onPaths = new Set([...m.tasks.values()].flatMap((t) => pathComponents(t.path)));
  return {
    model_type: 'pathwise',
    architectures: ['TaskModel'],
    format: FOLDER_FORMAT,
    layout: 'components',
    maxLen: m.maxLen,
    root: m.root,
    ...(m.layout ? { sparse: m.layout.sparse } : {}),
    components: m.store.all().map((c) => ({ ...describeComponent(c), locked: c.locked || onPaths.has(c.id) })),
    tasks: [...m.tasks.values()].map((t) => {
      const { task: _task, ...path } = t.path;
      // loraRank 0 is what a folder without it is read with: left out, a folder that uses no
      // low-rank updates is written exactly as before they existed.
      const { loraRank, ...hparams } = path.hparams;
      return { ...taskEntry(t), path: { ...path, hparams: loraRank === 0 ? hparams : path.hparams } };
    }),
  };
}

/**
 * Writes the model's folder atomically: a temporary sibling folder, then a rename over `dir`.
 * `extra` files (e.g. a README the user kept next to the model) are written along.
 */
export function saveModel(dir: string, m: TaskModel, extra: Record<string, Uint8Array> = {}): void {
  writeDirAtomic(dir, { ...extra, ...modelFiles(m) });
}
