// A low-rank update of one encoder block's projections (LoRA, Hu et al. 2021): for each of the
// block's dense Linears W (attention's fused QKV and output; a dense FFN's fc1 and fc2),
//   y = x Wᵀ + b + (x Aᵀ) Bᵀ,     A [rank, in], B [out, rank]
// while W stays frozen. B starts at zero, so a fresh update is exactly the block: adding one to a
// path leaves its function unchanged bit for bit until it trains (x + 0 is x in float32).
//
// Why a path wants it (docs/continual_probes.md, "Low-rank updates"): a child that reuses a frozen
// block can otherwise adapt it only by cloning it whole (789,760 parameters in our base, 9% of a
// fine-tuned copy) or through a residual adapter between blocks; rank 8 on all four projections of
// a 256-wide block is 32,768 parameters and adapts every block at once. A Switch or skill block's
// experts are left as they are (their FFN has no single fc1/fc2): its update covers attention only
// (`ffn` 0).

import { Tensor, add, int8Applies, linear, linearLowRank, zeros, type Rng } from '../engine/index.js';
import type { Linear } from './linear.js';
import { Module } from './module.js';
import { truncNormal } from './init.js';

export interface LoraConfig {
  dModel: number;
  /** The dense FFN's hidden width; 0: the block's FFN is sparse and gets no update. */
  ffn: number;
  rank: number;
}

/** One projection's low-rank factors. */
export interface LowRankPair {
  a: Tensor;
  b: Tensor;
}

/** A projection an update can hold, with its input and output widths. */
export type LoraTarget = [name: 'qkv' | 'out' | 'fc1' | 'fc2', inF: number, outF: number];

/** The projections an update of this config holds. */
export function loraTargets(c: LoraConfig): LoraTarget[] {
  const d = c.dModel;
  const t: LoraTarget[] = [
    ['qkv', d, 3 * d],
    ['out', d, d],
  ];
  if (c.ffn > 0) t.push(['fc1', d, c.ffn], ['fc2', c.ffn, d]);
  return t;
}

export class LowRankUpdate extends Module {
  readonly qkv: LowRankPair;
  readonly out: LowRankPair;
  readonly fc1: LowRankPair | null;
  readonly fc2: LowRankPair | null;

  constructor(
    readonly cfg: LoraConfig,
    rng: Rng,
  ) {
    super();
    for (const k of ['dModel', 'rank'] as const)
      if (!Number.isInteger(cfg[k]) || cfg[k] < 1) throw new RangeError(`low-rank update: ${k} must be a positive integer, got ${cfg[k]}`);
    if (!Number.isInteger(cfg.ffn) || cfg.ffn < 0) throw new RangeError(`low-rank update: ffn must be an integer >= 0, got ${cfg.ffn}`);
    const pairs = new Map<string, LowRankPair>();
    for (const [name, inF, outF] of loraTargets(cfg)) {
      // A as LoRA draws it (scaled to the input width: x Aᵀ has unit scale), B zero.
      const a = this.param(`${name}_a`, truncNormal([cfg.rank, inF], rng, 1 / Math.sqrt(inF)));
      const b = this.param(`${name}_b`, zeros([outF, cfg.rank]));
      pairs.set(name, { a, b });
    }
    this.qkv = pairs.get('qkv')!;
    this.out = pairs.get('out')!;
    this.fc1 = pairs.get('fc1') ?? null;
    this.fc2 = pairs.get('fc2') ?? null;
  }
}

/** x Wᵀ + b + (x Aᵀ) Bᵀ: the projection `lin` with its update, in one op (engine linearLowRank). */
export function projectWithLowRank(lin: Linear, x: Tensor, p: LowRankPair): Tensor {
  // Inference on int8 weights keeps its GEMM, and the update adds to its output.
  if (int8Applies(x, lin.weight)) return add(lin.forward(x), linear(linear(x, p.a), p.b));
  return linearLowRank(x, lin.weight, lin.bias, p.a, p.b);
}
