// The sparse part of a model config (config.json "sparse"), and the FFN factory it defines.
//
//   "sparse": {
//     "switch": { "experts": 8, "topK": 1, "every": 2, ... } | null,   // token-routed experts
//     "skills": { "skills": [...], "generic": "s0", "table": {...}, "layers": "all" } | null
//   }
// With both, each skill in a Switch position is itself a Switch layer.

import type { Rng } from '../engine/index.js';
import { FeedForward, type FfnLike } from '../nn/ffn.js';
import type { EncoderConfig } from '../nn/encoder.js';
import { SwitchFFN } from './switch_ffn.js';
import { SkillFFN } from './skill_ffn.js';
import { parseOrThrow } from '../util/schema.js';
import { blockSparseSchema, sparseSchema, type BlockSparse, type SparseConfig, type SwitchConfig } from './schema.js';

// The types and defaults derive from the schemas in schema.ts, the one declaration of this config.
export {
  DEFAULT_SPARSE_SWITCH,
  blockSparseSchema,
  sparseSchema,
  type BlockSparse,
  type SparseConfig,
  type SparseSkillsConfig,
  type SparseSwitchConfig,
} from './schema.js';

export function isSwitchLayer(s: SparseConfig, layer: number): boolean {
  return !!s.switch && (layer + 1) % s.switch.every === 0;
}

export function isSkillLayer(s: SparseConfig, layer: number): boolean {
  return !!s.skills && (s.skills.layers === 'all' || s.skills.layers.includes(layer));
}

/** Checks a sparse config (`where` names it in the RangeError); skill layers must exist in a model of `layers`. */
export function validateSparseConfig(s: SparseConfig, layers: number, where = 'model.sparse'): void {
  parseOrThrow(sparseSchema, s, { prefix: where });
  if (s.skills && s.skills.layers !== 'all' && !s.skills.layers.every((l) => l < layers)) {
    throw new RangeError(`${where}.skills.layers must be "all" or layer indices in [0, ${layers})`);
  }
}

/** Layer `layer`'s FFN kind under a model's sparse config (the Switch config without `every`). */
export function blockSparseOf(s: SparseConfig, layer: number): BlockSparse {
  let sw: SwitchConfig | null = null;
  if (isSwitchLayer(s, layer)) {
    const { every: _every, ...rest } = s.switch!;
    sw = rest;
  }
  return { switch: sw, skills: isSkillLayer(s, layer) ? [...s.skills!.skills] : null };
}

/** Checks a block's FFN kind; the message names the field. */
export function validateBlockSparse(b: unknown, where: string): BlockSparse {
  return parseOrThrow(blockSparseSchema, b, { prefix: where });
}

/** The FFN a block's sparse spec asks for, or null for a dense FFN (the block builds its own). */
export function buildSparseFfn(c: EncoderConfig, b: BlockSparse, rng: Rng): FfnLike | null {
  const sw = () => new SwitchFFN(b.switch!, c.dModel, c.ffn, c.activation, rng, c.initStd);
  if (b.skills) return new SkillFFN(b.skills.map((n) => [n, b.switch ? sw() : new FeedForward(c, rng)]));
  return b.switch ? sw() : null;
}

/** The encoder's FFN factory for a sparse config (null for a dense layer). */
export function sparseFfnFactory(c: EncoderConfig, s: SparseConfig, rng: Rng): (layer: number) => FfnLike | null {
  return (layer) => buildSparseFfn(c, blockSparseOf(s, layer), rng);
}
