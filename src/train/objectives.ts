// Self-supervised objectives' data side: BERT masking for masked LM.

import type { Rng } from '../engine/index.js';

export interface MaskedBatch {
  /** Input ids with masking applied. */
  inputs: Int32Array;
  /** Flat indices (b*T + t) of the positions to predict. */
  positions: Int32Array;
  /** The original ids at those positions. */
  targets: Int32Array;
}

/**
 * BERT's masking: each non-special token is chosen with probability `prob`; a chosen token is
 * replaced by [MASK] 80% of the time, by a random non-special token 10%, and kept 10%. At least
 * one token is always chosen, so the loss is defined.
 */
export function maskTokens(
  ids: Int32Array,
  isSpecial: (id: number) => boolean,
  firstRegularId: number,
  vocabSize: number,
  maskId: number,
  prob: number,
  rng: Rng,
): MaskedBatch {
  const inputs = Int32Array.from(ids);
  const pos: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    if (isSpecial(ids[i])) continue;
    if (rng.uniform() < prob) pos.push(i);
  }
  if (pos.length === 0) {
    const candidates = [...ids.keys()].filter((i) => !isSpecial(ids[i]));
    if (candidates.length === 0) throw new Error('maskTokens: a batch with no maskable token');
    pos.push(candidates[rng.int(candidates.length)]);
  }
  const positions = Int32Array.from(pos);
  const targets = new Int32Array(positions.length);
  positions.forEach((p, k) => {
    targets[k] = ids[p];
    const r = rng.uniform();
    if (r < 0.8) inputs[p] = maskId;
    else if (r < 0.9) inputs[p] = firstRegularId + rng.int(vocabSize - firstRegularId);
  });
  return { inputs, positions, targets };
}
