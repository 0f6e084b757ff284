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
import { sparseSchema, type SparseConfig } from './schema.js';

// The types and defaults derive from the schemas in schema.ts, the one declaration of this config.
export { DEFAULT_SPARSE_SWITCH, sparseSchema, type SparseConfig, type SparseSkillsConfig, type SparseSwitchConfig } from './schema.js';

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

/** The encoder's FFN factory for a sparse config (null for a dense layer). */
export function sparseFfnFactory(c: EncoderConfig, s: SparseConfig, rng: Rng): (layer: number) => FfnLike | null {
  const dense = () => new FeedForward(c, rng);
  const sw = () => new SwitchFFN(s.switch!, c.dModel, c.ffn, c.activation, rng, c.initStd);
  return (layer) => {
    const swHere = isSwitchLayer(s, layer);
    if (isSkillLayer(s, layer)) return new SkillFFN(s.skills!.skills.map((n) => [n, swHere ? sw() : dense()]));
    return swHere ? sw() : null;
  };
}
