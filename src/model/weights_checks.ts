// What a model folder's weights must satisfy before and while they are loaded: a config no
// larger than its weights (counted from the config, before anything is allocated), finite values
// in range, a tokenizer whose ids fit the vocabulary.

import type { Tensor } from '../engine/index.js';
import type { Tokenizer } from '../data/tokenizer/index.js';
import { loraTargets, stemParameters, type EmbeddingLoraConfig, type EncoderConfig, type ImageStemConfig, type LoraConfig } from '../nn/index.js';
import { blockSparseOf, type BlockSparse, type SparseConfig } from '../sparse/index.js';
import type { HeadConfig } from '../tasks/heads.js';
import type { AdapterComponentConfig, BlockComponentConfig, ComponentKind, KindMap, NormConfig } from './components.js';
import { ModelFolderError } from './folder_config.js';

const linear = (inF: number, outF: number) => inF * outF + outF;
const norm = (d: number) => 2 * d;

/** Parameters of one block's FFN slot: a dense FFN, a Switch layer (router and experts), or skills of either. */
function ffnParameters(c: EncoderConfig, b: BlockSparse | null | undefined): number {
  const dense = linear(c.dModel, c.ffn) + linear(c.ffn, c.dModel);
  const one = b?.switch ? b.switch.experts * (c.dModel + dense) : dense;
  return b?.skills ? b.skills.length * one : one;
}

/**
 * The parameters a component of `kind` built from `config` has (buildModule's modules, counted
 * from the config alone): what a config is checked against before anything is allocated for it.
 * Plain arithmetic on validated bounds, so it cannot overflow a double's exact integers.
 */
export function parameterCount(kind: ComponentKind, config: KindMap[ComponentKind]['config']): number {
  switch (kind) {
    case 'embeddings': {
      const c = config as EncoderConfig;
      return (c.vocabSize + c.maxPositions + c.typeVocabSize) * c.dModel + (c.normPlacement === 'post' ? norm(c.dModel) : 0);
    }
    case 'block': {
      const c = config as BlockComponentConfig;
      return 2 * norm(c.dModel) + linear(c.dModel, 3 * c.dModel) + linear(c.dModel, c.dModel) + ffnParameters(c, c.sparse);
    }
    case 'image_stem':
      return stemParameters(config as ImageStemConfig);
    case 'final_norm':
      return norm((config as NormConfig).dModel);
    case 'adapter': {
      const c = config as AdapterComponentConfig;
      return norm(c.dModel) + linear(c.dModel, c.size) + linear(c.size, c.dModel);
    }
    case 'lora':
      return loraTargets(config as LoraConfig).reduce((n, [, inF, outF]) => n + (config as LoraConfig).rank * (inF + outF), 0);
    case 'embedding_lora': {
      const c = config as EmbeddingLoraConfig;
      return c.rank * (c.vocabSize + c.dModel);
    }
    case 'head': {
      const c = config as HeadConfig;
      const outputs = c.type === 'regression' ? 1 : c.classes;
      const bag = c.lexical ? c.lexical.buckets * c.lexical.dim + linear(c.lexical.dim, outputs) : 0;
      return (c.type === 'tagging' ? 0 : linear(c.dModel, c.dModel)) + linear(c.dModel, outputs) + bag;
    }
  }
}

/** Parameters of a LanguageModel (nn/language_model.ts) of `config` in the layout `sparse`: the encoder's, and its LM head's. */
export function languageModelParameters(config: EncoderConfig, sparse: SparseConfig): { encoder: number; lmHead: number } {
  let encoder = parameterCount('embeddings', config) + (config.normPlacement === 'pre' ? norm(config.dModel) : 0);
  for (let i = 0; i < config.layers; i++) encoder += parameterCount('block', { ...config, sparse: blockSparseOf(sparse, i) });
  return { encoder, lmHead: linear(config.dModel, config.dModel) + norm(config.dModel) + config.vocabSize };
}

/** The keys a component's size comes from, with their values: "dModel 32, ffn 64, ...", for messages. */
export function sizeKeys(config: object, sparse?: SparseConfig | BlockSparse | null): string {
  const c = config as Record<string, unknown>;
  const keys = ['vocabSize', 'maxPositions', 'typeVocabSize', 'dModel', 'layers', 'ffn', 'size', 'classes'].filter((k) => typeof c[k] === 'number');
  const parts = keys.map((k) => `${k} ${c[k]}`);
  const sw = sparse?.switch;
  if (sw) parts.push(`sparse.switch.experts ${sw.experts}`);
  const skills = sparse?.skills;
  if (skills) parts.push(`sparse.skills ${Array.isArray(skills) ? skills.length : skills.skills.length}`);
  return parts.join(', ');
}

/** A loaded parameter: present, in the model's shape, floats, finite and in range; its values. */
export function checkedParameter(t: Tensor | undefined, name: string, shape: readonly number[], file: string, implied: string): Float32Array {
  if (!t) throw new ModelFolderError(`${file}: missing parameter "${name}"`, file);
  if (t.shape.join() !== shape.join()) throw new ModelFolderError(`${file}: "${name}" has shape [${t.shape}], ${implied} [${shape}]`, file);
  const v = floatValues(t, name, file);
  checkFinite(v, name, file);
  return v;
}

/** The values a weights file holds (what checkSizeAgainstWeights compares a config with). */
export function valuesIn(tensors: Map<string, Tensor>): number {
  let n = 0;
  for (const t of tensors.values()) n += t.size;
  return n;
}

/**
 * How many parameters a load may build per value the weights file holds. A config that describes
 * more is refused before anything is allocated for it, so the file's size bounds the memory a
 * folder can make a load use. Not 1: a file that lacks a tensor or two (or a BERT folder without
 * its LM head) then gets the message that names them, from the loader's check of each parameter.
 */
export const PARAMETERS_PER_VALUE = 2;

/** Refuses, naming `what` (config.json and its keys), a config that describes too many parameters for its weights file. */
export function checkSizeAgainstWeights(need: number, have: number, what: string, file: string, weightsFile: string): void {
  if (need > PARAMETERS_PER_VALUE * have) {
    throw new ModelFolderError(
      `${what} describes ${need.toLocaleString('en-US')} parameters, but ${weightsFile} holds ${have.toLocaleString('en-US')} values: the config does not match the weights`,
      file,
    );
  }
}

/** Every id (and segment id) the tokenizer can produce must have a row in the embeddings. */
export function checkVocabulary(tokenizer: Tokenizer, config: { vocabSize: number; typeVocabSize: number }, tokFile: string, where: string): void {
  const { vocabSize, typeVocabSize } = config;
  if (tokenizer.typeVocabSize > typeVocabSize) {
    throw new ModelFolderError(
      `${tokFile}: the post_processor gives segment ids up to ${tokenizer.typeVocabSize - 1}, but the model (${where}: typeVocabSize) has ${typeVocabSize} segment rows`,
      tokFile,
    );
  }
  if (tokenizer.vocabSize > vocabSize) {
    const top = tokenizer.vocabSize - 1;
    const token = tokenizer.idToToken(top);
    throw new ModelFolderError(
      `${tokFile}: ${token === null ? 'the tokenizer has' : `token ${JSON.stringify(token)} has`} id ${top}, but the model's vocabulary (${where}: vocabSize) has ${vocabSize} rows (ids 0 to ${vocabSize - 1})`,
      tokFile,
    );
  }
}

/**
 * The largest weight magnitude a load accepts: float16's largest finite value, the range `pathwise
 * export` writes. A larger value cannot come from training (it would already have overflowed the
 * activations) and is a damaged file: an exponent bit flipped in transit turns 0.02 into 5e36,
 * which is finite but makes every output infinite.
 */
export const MAX_WEIGHT = 65504;

/**
 * The special tokens every model-folder tokenizer holds: tasks encode [CLS] text [SEP] and pad
 * batches, pretraining packs sequences between [CLS] and [SEP].
 */
export function checkSpecialTokens(tokenizer: Tokenizer, tokFile: string): void {
  const ids = tokenizer.specialIds;
  const missing = (['cls', 'sep', 'pad'] as const).filter((r) => ids[r] === null);
  if (missing.length)
    throw new ModelFolderError(
      `${tokFile}: no special token for ${missing.join(', ')} (added_tokens must hold [CLS], [SEP] and [PAD], or their <s>, </s>, <pad> forms, marked special)`,
      tokFile,
    );
}

/** Weights must be finite and in range: a NaN, an infinity or a 1e36 would answer every input with garbage. */
export function checkFinite(v: Float32Array, name: string, file: string): void {
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (!(x <= MAX_WEIGHT && x >= -MAX_WEIGHT)) {
      const what = Number.isFinite(x)
        ? `${x} at index ${i}, beyond ±${MAX_WEIGHT} (float16's range, which pathwise export writes)`
        : `a non-finite value (${x}) at index ${i}`;
      throw new ModelFolderError(`${file}: "${name}" holds ${what}`, file);
    }
  }
}

/** A loaded tensor's float values; an integer tensor where a parameter is expected is refused, named. */
export function floatValues(t: Tensor, name: string, file: string): Float32Array {
  if (t.dtype !== 'float32') throw new ModelFolderError(`${file}: "${name}" holds integers (an integer dtype), a parameter holds floats`, file);
  return t.data as Float32Array;
}
