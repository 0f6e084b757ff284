// Pretrained encoders: the encoder (with its LM head) of a base, BERT or "encoder" folder, which
// pretraining continues from and training starts from, and that encoder in a sparse layout.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, setInt8 } from '../engine/index.js';
import { readModelWeights } from './quantized_weights.js';
import { LanguageModel, bertToPathwise, encoderConfigFromBert, type EncoderConfig } from '../nn/index.js';
import { savedEncoderFields } from '../nn/encoder_config.js';
import { sparseFfnFactory, upcycle, validateSparseConfig, type SparseConfig } from '../sparse/index.js';
import { Tokenizer } from '../data/tokenizer/index.js';
import { TaskHead } from '../tasks/heads.js';
import { parseOrThrow } from '../util/schema.js';
import { ModelFolderError, kindOfConfig, readFolderConfig } from './folder_config.js';
import { baseFolderSchema, encoderFolderSchema } from './folder_schema.js';
import type { TaskSpec } from './predictions.js';
import { checkTaskEntry } from './task_entry.js';
import { headConfigFor, type TaskSource } from './task_model.js';
import {
  checkSizeAgainstWeights,
  checkSpecialTokens,
  checkVocabulary,
  checkedParameter,
  languageModelParameters,
  parameterCount,
  sizeKeys,
  valuesIn,
} from './weights_checks.js';

export interface Pretrained {
  model: LanguageModel;
  config: EncoderConfig;
  sparse: SparseConfig;
  /** null only for a BERT folder without tokenizer.json (Hugging Face folders may ship vocab.txt instead). */
  tokenizer: Tokenizer | null;
  /** Parameters the checkpoint did not provide (left at their initial values): lm_head.* of a BertModel or an "encoder" folder. */
  missing: string[];
  /** An "encoder" folder's tasks, each with its head built and loaded (none for the other kinds). */
  tasks: PretrainedTask[];
}

export interface PretrainedTask {
  spec: TaskSpec;
  source: TaskSource | null;
  head: TaskHead;
}

/** The encoder's keys, in the order a folder's config.json lists them. */
const ENCODER_KEYS = Object.keys(savedEncoderFields) as (keyof EncoderConfig)[];

/**
 * The encoder (with an LM head) of a base, BERT or "encoder" folder: what pretraining continues
 * from, what training starts from, and what inspect reports on. A "components" folder has no
 * single encoder. Everything the folder holds is checked, whether or not the caller uses it: the
 * config against its schema (folder_schema.ts) and its size against the weights before anything
 * is allocated; every tensor present (a base folder's LM head too; a BERT or "encoder" folder has
 * none of its own to check), in its shape, finite, none extra; an "encoder" folder's task heads;
 * the tokenizer against the vocabulary. Errors are ModelFolderErrors naming the file and field.
 */
export function loadPretrained(dir: string, opts: { seed?: number } = {}): Pretrained {
  const cfgFile = join(dir, 'config.json');
  const raw = readFolderConfig(dir);
  const kind = kindOfConfig(raw, cfgFile);
  if (kind === 'components') throw new ModelFolderError(`${dir} holds tasks on paths of their own (made by pathwise add-task), not one encoder`, cfgFile);
  const fail = (msg: string): never => {
    throw new ModelFolderError(`${cfgFile}: ${msg}`, cfgFile);
  };
  let config: EncoderConfig;
  let sparse: SparseConfig = { switch: null, skills: null };
  const tasks: { spec: TaskSpec; source: TaskSource | null }[] = [];
  if (kind === 'bert') config = encoderConfigFromBert(raw, cfgFile);
  else {
    const c: Record<string, unknown> = parseOrThrow(kind === 'base' ? baseFolderSchema : encoderFolderSchema, raw, {
      source: cfgFile,
      Err: ModelFolderError,
      file: cfgFile,
    });
    config = Object.fromEntries(ENCODER_KEYS.map((k) => [k, c[k]])) as unknown as EncoderConfig;
    if (c.sparse !== undefined) sparse = c.sparse as SparseConfig;
    try {
      validateSparseConfig(sparse, config.layers, 'sparse');
    } catch (e) {
      fail((e as Error).message);
    }
    const names = new Set<string>();
    ((c.tasks ?? []) as unknown[]).forEach((t, i) => {
      const task = checkTaskEntry(t, `tasks[${i}]`, names, fail);
      if (sparse.skills && !sparse.skills.table[task.spec.name]) fail(`tasks[${i}]: the skill table (sparse.skills.table) has no row for "${task.spec.name}"`);
      names.add(task.spec.name);
      tasks.push(task);
    });
  }
  const weightsFile = join(dir, 'model.safetensors');
  const { tensors, int8 } = readModelWeights(weightsFile);

  // The size check, before anything is allocated (weights_checks.ts): the LM head is built even
  // for a folder that lacks one (BERT's, an "encoder" folder's).
  const lm = languageModelParameters(config, sparse);
  const heads = tasks.reduce((n, t) => n + parameterCount('head', headConfigFor(t.spec, config)), 0);
  const what = `${cfgFile} (${sizeKeys(config, sparse)}${tasks.length ? `; ${tasks.length} tasks' labels` : ''})`;
  checkSizeAgainstWeights(lm.encoder + lm.lmHead + heads, valuesIn(tensors), what, cfgFile, weightsFile);

  const values = kind === 'bert' ? bertToPathwise(tensors, config.layers, weightsFile) : tensors;
  const rng = new Rng(opts.seed ?? 0);
  const model = new LanguageModel(config, rng, sparseFfnFactory(config, sparse, rng));
  const missing: string[] = [];
  for (const [name, p] of model.namedParameters()) {
    const t = values.get(name);
    // Only a folder written without an LM head may lack one: a base folder without it is damaged.
    if (!t && kind !== 'base' && name.startsWith('lm_head.')) {
      missing.push(name);
      continue;
    }
    p.f32.set(checkedParameter(t, name, p.shape, weightsFile, `${cfgFile} implies`));
    const form = int8.get(name);
    if (form) setInt8(p, form);
  }
  const loadedTasks = tasks.map(({ spec, source }) => {
    const head = new TaskHead(headConfigFor(spec, config), rng);
    for (const [name, p] of head.namedParameters(`heads.${spec.name}.`)) {
      p.f32.set(checkedParameter(tensors.get(name), name, p.shape, weightsFile, `${cfgFile} implies`));
      const form = int8.get(name);
      if (form) setInt8(p, form);
    }
    head.loadPrior(tensors, `heads.${spec.name}.`, (msg): never => {
      throw new ModelFolderError(`${weightsFile}: task "${spec.name}": ${msg}`, weightsFile);
    });
    return { spec, source, head: head.eval() };
  });
  // Every tensor of a Pathwise file is a parameter of the model or of a task's head.
  if (kind !== 'bert') {
    const own = new Set([...model.namedParameters(), ...loadedTasks.flatMap((t) => t.head.namedState(`heads.${t.spec.name}.`))].map(([n]) => n));
    const extra = [...tensors.keys()].find((k) => !own.has(k));
    if (extra !== undefined) throw new ModelFolderError(`${weightsFile}: tensor "${extra}" is no parameter of the model ${cfgFile} describes`, weightsFile);
  }
  const tokFile = join(dir, 'tokenizer.json');
  let tokenizer: Tokenizer | null = null;
  if (existsSync(tokFile)) {
    tokenizer = Tokenizer.fromFile(tokFile);
    checkVocabulary(tokenizer, config, tokFile, cfgFile);
    checkSpecialTokens(tokenizer, tokFile);
  } else if (kind !== 'bert') throw new ModelFolderError(`${dir}: no tokenizer.json`, tokFile);
  return { model: model.eval(), config, sparse, tokenizer, missing, tasks: loadedTasks };
}

/**
 * A pretrained model in the sparse layout `sparse`: a dense model is upcycled (each expert or skill
 * a copy of the FFN it replaces); a sparse model keeps its own layout, so asking for another is an
 * error. `where` names the setting in the message.
 */
export function inLayout(pre: Pretrained, dir: string, sparse: SparseConfig, rng: Rng, where: string): LanguageModel {
  const dense = !pre.sparse.switch && !pre.sparse.skills;
  const wanted = !!(sparse.switch || sparse.skills);
  if (dense && wanted) {
    validateSparseConfig(sparse, pre.config.layers, where);
    return upcycle(pre.model, sparse, rng);
  }
  if (JSON.stringify(pre.sparse) !== JSON.stringify(sparse)) {
    throw new RangeError(`${where} differs from the layout of ${dir} (a sparse model keeps its own layout)`);
  }
  return pre.model;
}
