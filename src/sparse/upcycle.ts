// Turning a (pretrained) dense model into a sparse one: every parameter the two share is copied,
// and each Switch expert or skill starts as a copy of the dense FFN it replaces. This is how a
// pretrained dense base becomes SkillNet's skill model, or a Switch model ("upcycling").

import type { Rng } from '../engine/index.js';
import { FeedForward, LanguageModel } from '../nn/index.js';
import { sparseFfnFactory, type SparseConfig } from './config.js';
import { SwitchFFN } from './switch_ffn.js';
import { SkillFFN } from './skill_ffn.js';

export function upcycle(dense: LanguageModel, sparse: SparseConfig, rng: Rng): LanguageModel {
  const out = new LanguageModel(dense.cfg, rng, sparseFfnFactory(dense.cfg, sparse, rng));
  const src = new Map(dense.namedParameters());
  for (const [name, p] of out.namedParameters()) {
    const s = src.get(name);
    if (s && s.size === p.size) p.f32.set(s.f32);
  }
  out.encoder.layers.forEach((block, i) => {
    const from = dense.encoder.layers[i].ffn;
    if (!(from instanceof FeedForward)) throw new Error(`upcycle: layer ${i} of the source model is not dense`);
    if (block.ffn instanceof SwitchFFN || block.ffn instanceof SkillFFN) block.ffn.initFromDense(from);
  });
  return out;
}
