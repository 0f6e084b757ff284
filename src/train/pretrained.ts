// fromPretrained: a model folder (config.json, model.safetensors, tokenizer.json) -> a model.
// Reads Pathwise folders and Hugging Face BERT folders (model_type "bert").

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, readSafetensors } from '../engine/index.js';
import { LanguageModel, bertToPathwise, encoderConfigFromBert, validateEncoderConfig, type EncoderConfig } from '../nn/index.js';
import { sparseFfnFactory, upcycle, validateSparseConfig, type SparseConfig } from '../sparse/index.js';
import { Tokenizer } from '../data/tokenizer/index.js';
import { SkillTable } from '../sparse/index.js';
import { MultiTaskModel, type TaskSpec } from '../tasks/multitask_model.js';
import type { TaskFileConfig } from '../tasks/from_files.js';
import { saveModelDir } from './checkpoint.js';

export interface Pretrained {
  model: LanguageModel;
  config: EncoderConfig;
  sparse: SparseConfig;
  /** null when the folder has no tokenizer.json. */
  tokenizer: Tokenizer | null;
  /** Parameters the checkpoint did not provide (left at their initial values), e.g. lm_head.* of a BertModel. */
  missing: string[];
}

const ENCODER_KEYS: (keyof EncoderConfig)[] = [
  'vocabSize', 'maxPositions', 'typeVocabSize', 'dModel', 'layers', 'heads', 'ffn', 'activation', 'dropout',
  'attentionDropout', 'layerNormEps', 'initStd', 'normPlacement',
];

export function fromPretrained(dir: string, opts: { seed?: number } = {}): Pretrained {
  const cfgFile = join(dir, 'config.json');
  if (!existsSync(cfgFile)) throw new Error(`${dir}: no config.json (is this a model folder?)`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(cfgFile, 'utf8'));
  } catch (e) {
    throw new Error(`${cfgFile}: not valid JSON (${(e as Error).message})`);
  }
  const weightsFile = join(dir, 'model.safetensors');
  const { tensors } = readSafetensors(weightsFile);
  let config: EncoderConfig;
  let values: Map<string, Float32Array>;
  const sparse: SparseConfig = (raw.sparse as SparseConfig | undefined) ?? { switch: null, skills: null };
  if (raw.model_type === 'bert') {
    config = encoderConfigFromBert(raw, cfgFile);
    values = bertToPathwise(tensors, config.layers, weightsFile);
  } else if (raw.model_type === 'pathwise') {
    const missingKey = ENCODER_KEYS.find((k) => !(k in raw));
    if (missingKey) throw new Error(`${cfgFile}: missing "${missingKey}"`);
    config = Object.fromEntries(ENCODER_KEYS.map((k) => [k, raw[k]])) as unknown as EncoderConfig;
    values = new Map([...tensors].map(([k, t]) => [k, t.f32]));
  } else {
    throw new Error(`${cfgFile}: unsupported model_type ${JSON.stringify(raw.model_type)} (expected "pathwise" or "bert")`);
  }
  validateEncoderConfig(config, cfgFile);
  validateSparseConfig(sparse, config.layers, `${cfgFile}: sparse`);
  const rng = new Rng(opts.seed ?? 0);
  const model = new LanguageModel(config, rng, sparseFfnFactory(config, sparse, rng));
  const missing: string[] = [];
  for (const [name, p] of model.namedParameters()) {
    const v = values.get(name);
    if (!v) {
      if (name.startsWith('lm_head.')) {
        missing.push(name);
        continue;
      }
      throw new Error(`${weightsFile}: missing parameter "${name}"`);
    }
    if (v.length !== p.size) throw new Error(`${weightsFile}: "${name}" has ${v.length} values, the config implies shape [${p.shape}]`);
    p.f32.set(v);
  }
  const tokFile = join(dir, 'tokenizer.json');
  const tokenizer = existsSync(tokFile) ? Tokenizer.fromFile(tokFile) : null;
  return { model: model.eval(), config, sparse, tokenizer, missing };
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

// ------------------------------------------------------------------------ multi-task models


/** Where a task's data comes from: a built-in name, or data files. */
export type TaskSource = { builtin: string } | { files: TaskFileConfig };

export interface SavedTask extends TaskSpec {
  source: TaskSource;
}

/** A multi-task model folder: config.json lists the tasks; heads are "heads.<task>.*". */
export function loadMultiTask(dir: string): { model: MultiTaskModel; tasks: SavedTask[] } {
  const pre = fromPretrained(dir);
  if (!pre.tokenizer) throw new Error(`${dir}: no tokenizer.json`);
  const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { tasks?: SavedTask[]; maxLen?: number };
  const tasks = raw.tasks ?? [];
  const model = new MultiTaskModel(pre.model.encoder, pre.tokenizer, pre.sparse.skills ? new SkillTable(pre.sparse.skills) : null, new Rng(0), raw.maxLen ?? pre.config.maxPositions);
  for (const t of tasks) model.addTask(t);
  const file = join(dir, 'model.safetensors');
  const { tensors } = readSafetensors(file);
  for (const [name, p] of model.heads.namedParameters('heads.')) {
    const t = tensors.get(name);
    if (!t || t.size !== p.size) throw new Error(`${file}: missing or mis-shaped head parameter "${name}"`);
    p.f32.set(t.f32);
  }
  return { model: model.eval(), tasks };
}

export function saveMultiTask(dir: string, model: MultiTaskModel, tasks: SavedTask[], sparse: SparseConfig): void {
  const config = { model_type: 'pathwise', architectures: ['MultiTaskModel'], ...model.encoder.cfg, sparse, maxLen: model.maxLen, tasks };
  saveModelDir(dir, model, { config, tokenizerJson: model.tokenizer.toJsonString() });
}
