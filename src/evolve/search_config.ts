// The search's settings (`pathwise add-task`'s options), declared once: type, defaults, bounds and
// JSON Schema come from this schema, and add-task's flags are its keys in kebab case.
// search.ts explains what each setting does to the search.

import { z } from 'zod';
import { lexicalDefaultsSchema } from '../tasks/ngrams.js';
import { HPARAM_LISTS } from '../model/hparams.js';
import { parseOrThrow, count, seed } from '../util/schema.js';

export const searchConfigSchema = z.strictObject({
  children: count().default(8).describe('the most children built, trained and scored'),
  steps: count().default(300).describe('training steps per child: all of them, or with `patience` the most'),
  patience: z
    .int()
    .min(0)
    .default(0)
    .describe("a child's dev evaluations without a better score before it stops, keeping its best weights (0: every child trains `steps` steps)"),
  cooldown: z
    .number()
    .min(0)
    .lt(1)
    .default(0)
    .describe(
      "with `patience`: a child's rate holds at its peak after warm-up and decays linearly to 0 over this fraction of `steps` once dev has stopped rising (at the latest so as to end by `steps`); the child stops at the decay's end, keeping its best weights (0: the rate decays over `steps` from the start and patience stops the child where it is)",
    ),
  evalEvery: count().default(50).describe("with `patience`: steps between a child's dev evaluations"),
  stopAfter: z
    .int()
    .min(0)
    .default(0)
    .describe('generations (rounds of `parallel` children) in a row without a better child before the search stops (0: make all `children`)'),
  budget: z
    .int()
    .min(0)
    .default(0)
    .describe(
      "the task's compute bound: training steps over all its children, never exceeded (a round's children share what is left of it) (0: children × steps)",
    ),
  maxAdded: z
    .number()
    .gt(0)
    .max(1)
    .default(1)
    .describe(
      "the most a child may add, as a fraction of a fine-tuned copy of its path (the parameters it activates less its adapters and low-rank updates); a draw over it is drawn again, up to 10 times. With `naiveBayesPrior` the kept path gets its prior only where the two fit under it together, the prior's stored numbers counted on both sides (1: no cap)",
    ),
  base: z.number().gt(0).max(1).default(0.95).describe('size penalty in score = quality × base^(added / total parameters); 1: no penalty'),
  seed: seed().default(0).describe("seed of the search's draws (mixed with the task's name)"),
  batchSize: count().default(32).describe('examples per training step'),
  evalExamples: count().default(1000).describe('cap on dev examples scored per child: a fixed sample across the split, not its first examples'),
  parallel: count()
    .default(1)
    .describe(
      'children trained at once, each in a worker thread; the result depends on it (1: sequential, in process). More than the cores only makes them compete',
    ),
  weightDecay: z.number().min(0).default(0.01).describe("AdamW weight decay of a child's training"),
  clipNorm: z.number().gt(0).default(1.0).describe("gradient-norm clip of a child's training"),
  headDropout: z.number().min(0).lt(1).default(0.1).describe('dropout of a new head'),
  lexical: lexicalDefaultsSchema
    .optional()
    .describe("a hashed n-gram bag (fastText) beside the encoder in a sequence task's new heads ({} for the defaults); omitted: none"),
  lexicalLrScale: z.number().gt(0).default(20).describe("multiplies a child's learning rate on its head's n-gram bag"),
  loraRank: z
    .literal(HPARAM_LISTS.loraRank as unknown as [number, ...number[]])
    .optional()
    .describe(
      "the rank of the low-rank updates (LoRA) of a child whose parent is another task's path, in place of that path's own (hparams.ts: 0, 4, 8, 16 or 32; 0: none); a same-task child's is mutated from its parent's. Omitted: the parent path's",
    ),
  embeddingLoraRank: z
    .int()
    .min(0)
    .max(256)
    .default(0)
    .describe(
      "the rank of a low-rank update of the word embeddings that a text child gets when it reuses its embeddings frozen and runs none (nn/embedding_lora.ts); a same-task child trains a copy of its parent's. 0: none",
    ),
  lrs: z
    .preprocess((v) => (typeof v === 'number' ? [v] : v), z.array(lrValue()).min(1))
    .optional()
    .describe(
      "learning rates that the children of other tasks' paths (the whole first round, and any later child drawn from another task) take in turn, in place of the one drawn from that path's (each on hparams.ts's lr list; comma-separated as a flag: 5e-4,2e-3, a first generation that spans the rate). Omitted: the drawn rate",
    ),
  naiveBayesPrior: z
    .boolean()
    .default(false)
    .describe("after the search, give a classification task's head a Naive Bayes prior counted on its training set, weighted on dev (train/fit_prior.ts)"),
});

/** One value of a path's lr list (hparams.ts). */
function lrValue() {
  return z.literal(HPARAM_LISTS.lr as unknown as [number, ...number[]]);
}

export type SearchConfig = z.output<typeof searchConfigSchema>;

/**
 * Defaults for `pathwise add-task`: 8 children of 300 steps each (2400 training steps in all, a
 * budget comparable to the quickstart's 1500 steps of joint training); base 0.95, a mild price
 * on size: a child that adds 10% of the system's parameters keeps 0.95^(1/11) = 99.5% of its
 * quality, one that doubles the system keeps 0.95^0.5 = 97.5%. One child at a time: the result of
 * a search depends on `parallel`, and existing results were made sequentially.
 */
export const DEFAULT_SEARCH_CONFIG: SearchConfig = searchConfigSchema.parse({});

/** Checks search settings; a RangeError names the setting ("parallel must be an integer >= 1, got 0"). */
export function parseSearchConfig(raw: unknown): SearchConfig {
  return parseOrThrow(searchConfigSchema, raw);
}
