// A path's hyperparameters and the ORDERED list of values each may take. Every task's path has
// them (a task trained jointly starts from defaultHParams); μ2Net mutates one by moving it to an
// adjacent value in its list (src/evolve/mutations.ts), so the lists are ordered and spaced so
// that one move is a meaningful but not drastic change.
//
// Not a hyperparameter: the number of training steps of a child. It is the search's fixed
// compute budget per child (`steps` in SearchOptions, `--steps` on the command line), so that all
// children are compared at equal cost.

import { z } from 'zod';
import { InputError } from '../util/errors.js';
import { parseOrThrow } from '../util/schema.js';

export interface HParams {
  /** Peak learning rate of the child's AdamW. */
  lr: number;
  /** Fraction of the child's steps spent on linear warm-up (then linear decay to 0). */
  warmupRatio: number;
  /** μ: the probability of each mutation (cloning a component, moving a hyperparameter). */
  mu: number;
  /** How many blocks of the root stack the path runs (1 .. root depth). */
  layers: number;
  /** Bottleneck width of the residual adapters a child inserts; 0: insert none. */
  adapterSize: number;
  /** Rank of the low-rank updates (nn/lora.ts) a child adds to the frozen blocks it reuses; 0: add none. */
  loraRank: number;
}

export type HParamName = keyof HParams;

/** The mutable hyperparameters, in the order mutations visit them (fixed: determinism). */
export const HPARAM_NAMES: readonly HParamName[] = ['lr', 'warmupRatio', 'mu', 'layers', 'adapterSize', 'loraRank'];

/**
 * The value lists. `layers` depends on the root stack's depth, so it is built by hparamValues().
 *  - lr: a 1-2-5 grid from 1e-4 (safe for fine-tuning cloned pretrained blocks) to 1e-2 (fresh
 *    heads and adapters of a tiny model trained for a few dozen steps). One move changes the rate
 *    by a factor 2 to 2.5.
 *  - warmupRatio: none up to 30% of the steps. Children train briefly, so long warm-ups waste
 *    most of the budget; 0 is allowed because a fresh head on frozen features needs none.
 *  - mu: 0.02 .. 0.3 in steps of 0.02 up to 0.2, then 0.25 and 0.3. Small values keep children
 *    close to their parent (mostly frozen reuse, few added parameters); the upper end lets a
 *    lineage that benefits from cloning clone more. Steps of 0.02 make μ drift slowly.
 *  - adapterSize: 0 (no adapters) and powers of two: each doubling roughly doubles an adapter's
 *    parameters (2·d·size + size + 3·d), so the list is evenly spaced in cost.
 *  - loraRank: 0 (no low-rank updates) and powers of two, for the same reason: an update's size
 *    is rank × (the sum of its projections' widths), 32,768 at rank 8 on a 256-wide dense block.
 */
export const HPARAM_LISTS = {
  lr: [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2],
  warmupRatio: [0, 0.05, 0.1, 0.2, 0.3],
  mu: [0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.25, 0.3],
  adapterSize: [0, 4, 8, 16, 32, 64],
  loraRank: [0, 4, 8, 16, 32],
} as const;

/**
 * The low-rank updates' rank a path starts from, and what a path saved before they existed is
 * read with (its hparams have no loraRank): 0, none. Measured on sense (docs/continual_probes.md,
 * "Low-rank updates"): rank-8 updates of the four frozen blocks trained with a head in one run
 * came within 0.5 points of fine-tuning every parameter, but the search as it runs by default (8
 * children of 300 steps) gained nothing from them, so they are opt-in (the search's `loraRank`).
 */
export const DEFAULT_LORA_RANK = 0;

/** The list of every hyperparameter for a root stack of `depth` blocks. */
export function hparamValues(depth: number): Record<HParamName, readonly number[]> {
  return { ...HPARAM_LISTS, layers: Array.from({ length: Math.max(1, depth) }, (_, i) => i + 1) };
}

/**
 * The starting point of a task whose path was not found by search (a task trained jointly, or
 * the root itself): all layers, small adapters so that a child of such a path can adapt frozen
 * features cheaply (no low-rank updates: DEFAULT_LORA_RANK), μ = 0.1 (about one component in
 * ten cloned), and lr 2e-3: a child trains mostly a fresh head and zero-initialised adapters
 * for a few hundred steps, which wants a rate well above fine-tuning's; not higher, because the
 * same rate also trains cloned pretrained blocks, which the quickstart fine-tunes at 5e-4.
 */
export function defaultHParams(depth: number): HParams {
  return { lr: 2e-3, warmupRatio: 0.1, mu: 0.1, layers: Math.max(1, depth), adapterSize: 16, loraRank: DEFAULT_LORA_RANK };
}

/**
 * The schema of a path's hyperparameters in a system of `depth` blocks: every field one of its
 * listed values (a hand-edited value off the list is refused, not snapped).
 */
export function hparamsSchema(depth: number) {
  const lists = hparamValues(depth);
  const listed = (name: HParamName) => z.literal(lists[name] as [number, ...number[]]);
  return z.strictObject({
    lr: listed('lr'),
    warmupRatio: listed('warmupRatio'),
    mu: listed('mu'),
    layers: listed('layers'),
    adapterSize: listed('adapterSize'),
    loraRank: listed('loraRank').default(DEFAULT_LORA_RANK),
  });
}

/** Checks a hyperparameter object read from a file; `Err` names the file and `where`.key. */
export function validateHParams(h: unknown, depth: number, file: string, where: string, Err: typeof InputError = InputError): HParams {
  return parseOrThrow(hparamsSchema(depth), h, { source: file, prefix: where, Err, file });
}
