// What a model folder's weights must satisfy before and while they are loaded: a config no
// larger than its weights, finite values, a tokenizer that fits the vocabulary.

import type { Tensor } from '../engine/index.js';
import type { Tokenizer } from '../data/tokenizer/index.js';
import type { ComponentKind, KindMap } from './components.js';
import { ModelFolderError } from './folder_config.js';

/**
 * A lower bound on a component's parameters (its matrices; biases and norms left out), from its
 * config alone: what a config must not exceed before anything is allocated for it.
 */
export function minParameters(kind: ComponentKind, config: KindMap[ComponentKind]['config']): number {
  const c = config as unknown as Record<string, number>;
  switch (kind) {
    case 'embeddings':
      return (c.vocabSize + c.maxPositions) * c.dModel;
    case 'block':
      return 4 * c.dModel * c.dModel + 2 * c.dModel * c.ffn;
    case 'adapter':
      return 2 * c.dModel * c.size;
    case 'head':
      return c.dModel * c.classes;
    default:
      return c.dModel;
  }
}

/** The values a weights file holds (what checkSizeAgainstWeights compares a config with). */
export function valuesIn(tensors: Map<string, Tensor>): number {
  let n = 0;
  for (const t of tensors.values()) n += t.size;
  return n;
}

/** A config that needs more parameters than the weights file holds values is refused before it allocates them. */
export function checkSizeAgainstWeights(need: number, have: number, where: string, weightsFile: string): void {
  if (need > have) {
    throw new ModelFolderError(
      `${where} describes at least ${need.toLocaleString('en-US')} parameters, but ${weightsFile} holds ${have.toLocaleString('en-US')} values: the config does not match the weights`,
      weightsFile,
    );
  }
}

/** Every id the tokenizer can produce must have a row in the embeddings. */
export function checkVocabulary(tokenizer: Tokenizer, vocabSize: number, tokFile: string, where: string): void {
  if (tokenizer.vocabSize > vocabSize) {
    const top = tokenizer.vocabSize - 1;
    const token = tokenizer.idToToken(top);
    throw new ModelFolderError(
      `${tokFile}: ${token === null ? 'the tokenizer has' : `token ${JSON.stringify(token)} has`} id ${top}, but the model's vocabulary (${where}: vocabSize) has ${vocabSize} rows (ids 0 to ${vocabSize - 1})`,
      tokFile,
    );
  }
}

/** Weights must be finite: a NaN or an infinity would answer every input with garbage. */
export function checkFinite(v: Float32Array, name: string, file: string): void {
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) throw new ModelFolderError(`${file}: "${name}" holds a non-finite value (${v[i]}) at index ${i}`, file);
  }
}
