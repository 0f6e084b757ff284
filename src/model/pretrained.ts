// Pretrained encoders: the encoder (with its LM head) of a base, BERT or "encoder" folder, which
// pretraining continues from and training starts from, and that encoder in a sparse layout.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, readSafetensors } from '../engine/index.js';
import { LanguageModel, bertToPathwise, encoderConfigFromBert, validateEncoderConfig, type EncoderConfig } from '../nn/index.js';
import { sparseFfnFactory, upcycle, validateSparseConfig, type SparseConfig } from '../sparse/index.js';
import { Tokenizer } from '../data/tokenizer/index.js';
import { ModelFolderError, isObject, kindOfConfig, readFolderConfig } from './folder_config.js';
import { checkFinite, checkSizeAgainstWeights, checkVocabulary, minParameters, valuesIn } from './weights_checks.js';

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
  'vocabSize',
  'maxPositions',
  'typeVocabSize',
  'dModel',
  'layers',
  'heads',
  'ffn',
  'activation',
  'dropout',
  'attentionDropout',
  'layerNormEps',
  'initStd',
  'normPlacement',
];

/**
 * The encoder (with an LM head) of a base, BERT or "encoder" folder: what pretraining continues
 * from and what training starts from. A "components" folder has no single encoder.
 */
export function loadPretrained(dir: string, opts: { seed?: number } = {}): Pretrained {
  const cfgFile = join(dir, 'config.json');
  const raw = readFolderConfig(dir);
  const kind = kindOfConfig(raw, cfgFile);
  if (kind === 'components') throw new ModelFolderError(`${dir} holds tasks on paths of their own (made by pathwise add-task), not one encoder`, cfgFile);
  const weightsFile = join(dir, 'model.safetensors');
  const { tensors } = readSafetensors(weightsFile);
  let config: EncoderConfig;
  let values: Map<string, Float32Array>;
  const sparse: SparseConfig = (raw.sparse as SparseConfig | undefined) ?? { switch: null, skills: null };
  if (kind === 'bert') {
    config = encoderConfigFromBert(raw, cfgFile);
    values = bertToPathwise(tensors, config.layers, weightsFile);
  } else {
    const missingKey = ENCODER_KEYS.find((k) => !(k in raw));
    if (missingKey) throw new ModelFolderError(`${cfgFile}: missing "${missingKey}"`, cfgFile);
    config = Object.fromEntries(ENCODER_KEYS.map((k) => [k, raw[k]])) as unknown as EncoderConfig;
    values = new Map([...tensors].map(([k, t]) => [k, t.f32]));
  }
  validateEncoderConfig(config, cfgFile);
  validateSparseConfig(sparse, config.layers, `${cfgFile}: sparse`);
  checkSizeAgainstWeights(minParameters('block', config) * config.layers + minParameters('embeddings', config), valuesIn(tensors), cfgFile, weightsFile);
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
      throw new ModelFolderError(`${weightsFile}: missing parameter "${name}"`, weightsFile);
    }
    if (v.length !== p.size) throw new ModelFolderError(`${weightsFile}: "${name}" has ${v.length} values, the config implies shape [${p.shape}]`, weightsFile);
    // A Pathwise file stores each parameter in its own shape: the same count in another shape
    // (a transposed matrix) is a wrong file, not a reshape. BERT's are mapped by bertToPathwise.
    const t = kind === 'bert' ? null : tensors.get(name)!;
    if (t && t.shape.join() !== p.shape.join())
      throw new ModelFolderError(`${weightsFile}: "${name}" has shape [${t.shape}], the config implies [${p.shape}]`, weightsFile);
    checkFinite(v, name, weightsFile);
    p.f32.set(v);
  }
  // Every tensor of a Pathwise file is a parameter of the model, or a head of one of its tasks.
  if (kind !== 'bert') {
    const own = new Set(model.namedParameters().map(([n]) => n));
    const taskNames = Array.isArray(raw.tasks) ? raw.tasks.map((t) => (isObject(t) ? t.name : null)) : [];
    const extra = [...tensors.keys()].find((k) => !own.has(k) && !taskNames.some((n) => typeof n === 'string' && k.startsWith(`heads.${n}.`)));
    if (extra !== undefined) throw new ModelFolderError(`${weightsFile}: tensor "${extra}" is no parameter of the model ${cfgFile} describes`, weightsFile);
  }
  const tokFile = join(dir, 'tokenizer.json');
  const tokenizer = existsSync(tokFile) ? Tokenizer.fromFile(tokFile) : null;
  if (tokenizer) checkVocabulary(tokenizer, config.vocabSize, tokFile, cfgFile);
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
