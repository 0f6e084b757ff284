// The sparse part of a model config, declared once as zod schemas: the Switch layer's settings,
// SkillNet's skill table, and `sparse` {switch, skills} as pretraining (`model.sparse`), `pathwise
// train` (`sparse`) and a model folder's config.json hold it. Types and defaults derive from here.

import { z } from 'zod';
import { probability } from '../util/schema.js';
import { SkillTable } from './skill_table.js';

export const switchLayerFields = {
  experts: z.int().min(1).max(1024).default(8).describe('experts per Switch layer'),
  topK: z.int().min(1).default(1).describe('experts each token is routed to (at most experts)'),
  capacityFactor: z
    .number()
    .gt(0)
    .nullable()
    .default(1.25)
    .describe("an expert's capacity in training, as a multiple of its even share of tokens; null: dropless"),
  evalCapacityFactor: z.number().gt(0).nullable().default(2.0).describe('the same in evaluation; null: dropless'),
  jitter: probability().default(0.01).describe('multiplicative router-input noise in training (0: off)'),
  expertDropout: probability().default(0.1).describe('dropout inside the experts'),
  lbWeight: z.number().min(0).default(0.01).describe('weight of the load-balancing loss'),
  zWeight: z.number().min(0).default(0.001).describe('weight of the router z-loss'),
  normalizeTopK: z.boolean().default(true).describe('with topK > 1: renormalise the chosen gates to sum to 1'),
};

function topKWithinExperts(v: { experts?: unknown; topK?: unknown }, ctx: z.RefinementCtx): void {
  if (typeof v.topK === 'number' && typeof v.experts === 'number' && v.topK > v.experts) {
    ctx.addIssue({ code: 'custom', path: [], message: `@{topK} (${v.topK}) must be at most @{experts} (${v.experts})` });
  }
}

/** One Switch layer (SwitchFFN's config). */
export const switchLayerSchema = z.strictObject(switchLayerFields).superRefine(topKWithinExperts);

/** Switch layers in a model: the layer's settings and which layers get one. */
export const sparseSwitchSchema = z
  .strictObject({
    ...switchLayerFields,
    every: z.int().min(1).default(2).describe('Switch layers replace the FFN of every `every`-th layer (layers every-1, 2·every-1, ...)'),
  })
  .superRefine(topKWithinExperts);

export const sparseSkillsSchema = z.strictObject({
  skills: z.array(z.string().min(1)).min(1).describe('every skill, in order'),
  generic: z.string().nullable().default(null).describe("skill every task may use besides its own (SkillNet's s0); null: none"),
  table: z.record(z.string(), z.array(z.string())).describe('task or objective name -> the skills it activates (the generic skill is added)'),
  layers: z
    .union([z.literal('all'), z.array(z.int().min(0))])
    .default('all')
    .describe('"all", or the layer indices that get skill layers'),
});

export const sparseSchema = z
  .strictObject({
    switch: sparseSwitchSchema.nullable().default(null).describe('token-routed experts (Switch Transformer); null: none'),
    skills: sparseSkillsSchema.nullable().default(null).describe('SkillNet skills: each task runs the skills its row of the table names; null: none'),
  })
  .superRefine((v, ctx) => {
    // The table's own consistency (known skills, no duplicates) is SkillTable's to check.
    const s = v.skills;
    if (!s || !Array.isArray(s.skills) || typeof s.table !== 'object' || s.table === null) return;
    try {
      new SkillTable({ skills: s.skills, generic: s.generic ?? null, table: s.table });
    } catch (e) {
      ctx.addIssue({ code: 'custom', path: [], message: `@{}: ${(e as Error).message}` });
    }
  });

/**
 * What one block's FFN slot holds: Switch experts, named skills (each a dense FFN, or a Switch
 * layer when both are given), or neither (a dense FFN). A model's `sparse` decides this per layer
 * (blockSparseOf); a block component in a model folder carries its own, so that a μ2Net path can
 * reuse or clone one block of any kind.
 */
export const blockSparseSchema = z.strictObject({
  switch: switchLayerSchema.nullable().default(null).describe("the block's Switch layer; null: none"),
  skills: z
    .array(z.string().min(1))
    .min(1)
    .nullable()
    .default(null)
    .refine((s) => s === null || new Set(s).size === s.length, { message: 'skill names must be distinct' })
    .describe("the block's skills, in order; null: none"),
});

export type SwitchConfig = z.output<typeof switchLayerSchema>;
export type BlockSparse = z.output<typeof blockSparseSchema>;
export type SparseSwitchConfig = z.output<typeof sparseSwitchSchema>;
export type SparseSkillsConfig = z.output<typeof sparseSkillsSchema>;
export type SparseConfig = z.output<typeof sparseSchema>;

export const DEFAULT_SWITCH: SwitchConfig = switchLayerSchema.parse({});
export const DEFAULT_SPARSE_SWITCH: SparseSwitchConfig = sparseSwitchSchema.parse({});
