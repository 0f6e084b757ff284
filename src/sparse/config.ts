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
import { DEFAULT_SWITCH, SwitchFFN, type SwitchConfig } from './switch_ffn.js';
import { SkillFFN } from './skill_ffn.js';
import { SkillTable, type SkillTableConfig } from './skill_table.js';

export interface SparseSwitchConfig extends SwitchConfig {
  /** Switch layers replace the FFN of every `every`-th layer (layers every-1, 2·every-1, ...). */
  every: number;
}

export interface SparseSkillsConfig extends SkillTableConfig {
  /** "all", or the layer indices that get skill layers. */
  layers: 'all' | number[];
}

export interface SparseConfig {
  switch: SparseSwitchConfig | null;
  skills: SparseSkillsConfig | null;
}

export const DEFAULT_SPARSE_SWITCH: SparseSwitchConfig = { ...DEFAULT_SWITCH, every: 2 };

export function isSwitchLayer(s: SparseConfig, layer: number): boolean {
  return !!s.switch && (layer + 1) % s.switch.every === 0;
}

export function isSkillLayer(s: SparseConfig, layer: number): boolean {
  return !!s.skills && (s.skills.layers === 'all' || s.skills.layers.includes(layer));
}

export function validateSparseConfig(s: SparseConfig, layers: number, where = 'model.sparse'): void {
  if (s.switch) {
    const w = s.switch;
    if (!Number.isInteger(w.experts) || w.experts < 1 || w.experts > 1024) throw new RangeError(`${where}.switch.experts must be in [1, 1024], got ${w.experts}`);
    if (!Number.isInteger(w.topK) || w.topK < 1 || w.topK > w.experts) throw new RangeError(`${where}.switch.topK must be in [1, experts], got ${w.topK}`);
    if (!Number.isInteger(w.every) || w.every < 1) throw new RangeError(`${where}.switch.every must be a positive integer, got ${w.every}`);
    for (const k of ['capacityFactor', 'evalCapacityFactor'] as const) {
      if (w[k] !== null && !(w[k]! > 0)) throw new RangeError(`${where}.switch.${k} must be > 0 or null (dropless), got ${w[k]}`);
    }
    if (!(w.jitter >= 0 && w.jitter < 1)) throw new RangeError(`${where}.switch.jitter must be in [0, 1)`);
    if (!(w.expertDropout >= 0 && w.expertDropout < 1)) throw new RangeError(`${where}.switch.expertDropout must be in [0, 1)`);
  }
  if (s.skills) {
    new SkillTable(s.skills);
    if (s.skills.layers !== 'all' && !s.skills.layers.every((l) => Number.isInteger(l) && l >= 0 && l < layers)) {
      throw new RangeError(`${where}.skills.layers must be "all" or layer indices in [0, ${layers})`);
    }
  }
}

/**
 * What one block's FFN slot holds: Switch experts, named skills (each a dense FFN, or a Switch
 * layer when both are given), or neither (a dense FFN). A model's SparseConfig decides this per
 * layer (blockSparseOf); a block component carries its own, so that a μ2Net path can reuse or
 * clone one block of any kind.
 */
export interface BlockSparse {
  switch: SwitchConfig | null;
  skills: string[] | null;
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
export function validateBlockSparse(b: BlockSparse, where: string): void {
  validateSparseConfig({ switch: b.switch ? { ...b.switch, every: 1 } : null, skills: b.skills ? { skills: b.skills, generic: null, table: {}, layers: 'all' } : null }, 1, where);
  if (b.skills && b.skills.length === 0) throw new RangeError(`${where}.skills must name at least one skill`);
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
