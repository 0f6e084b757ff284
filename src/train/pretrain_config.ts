// The pretraining run's config, declared once as a zod schema: JSON on disk, `--a.b value` flags
// on top (config.ts). Its type, defaults, bounds and JSON Schema (docs/schemas/pretrain.schema.json)
// all come from the schema below.

import { z } from 'zod';
import { encoderFields, headsDivideDModel, type EncoderConfig } from '../nn/encoder_config.js';
import { sparseSchema } from '../sparse/schema.js';
import { parseOrThrow, count, seed } from '../util/schema.js';
import { ConfigError, loadConfig, type Overrides } from './config.js';

/** Byte-level BPE needs the 256 byte symbols plus the five special tokens. */
export const MIN_VOCAB = 256 + 5;
export const MAX_VOCAB = 1 << 20;

const { vocabSize: _v, maxPositions: _p, ...modelFields } = encoderFields;

export const pretrainConfigSchema = z
  .strictObject({
    init: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe(
        "continue from this model folder instead of a random start: its shape and tokenizer replace model.* and tokenizer.*; a dense folder is upcycled to model.sparse (SkillNet's skill-aware pretraining)",
      ),
    model: z
      .strictObject({
        ...modelFields,
        sparse: sparseSchema.prefault({}).describe('Switch experts and / or SkillNet skills in place of dense FFNs (docs/sparse.md)'),
      })
      .superRefine((v, ctx) => headsDivideDModel(v, ctx))
      .prefault({})
      .describe('the encoder; its vocabulary size comes from the tokenizer and its positions from data.seqLen'),
    tokenizer: z
      .strictObject({
        vocabSize: z
          .int()
          .min(MIN_VOCAB)
          .max(MAX_VOCAB)
          .default(16384)
          .describe('size of the byte-level BPE vocabulary trained on the corpus (bytes + specials + merges)'),
        path: z.string().min(1).nullable().default(null).describe('an existing tokenizer.json to use instead of training one'),
      })
      .prefault({}),
    data: z
      .strictObject({
        corpus: z
          .string()
          .min(1)
          .default('builtin')
          .describe('"builtin" (Brown, State of the Union, Moby-Dick, WordNet; downstream test splits excluded), or a .txt / .jsonl file or folder'),
        format: z.enum(['auto', 'txt', 'jsonl']).default('auto').describe('corpus file format; auto: by extension'),
        field: z.string().min(1).default('text').describe('JSONL field holding the text'),
        seqLen: z.int().min(8).max(8192).default(128).describe('tokens per training window ([CLS] … [SEP])'),
        heldOutFraction: z.number().gt(0).lt(0.5).default(0.02).describe('user corpora: share of documents held out for evaluation'),
      })
      .prefault({}),
    objective: z
      .strictObject({
        kind: z.enum(['mlm', 'clm']).default('mlm').describe('masked (BERT) or causal language modelling'),
        maskProb: z.number().gt(0).lt(1).default(0.15).describe('mlm: share of tokens chosen for prediction'),
        skillRows: z
          .array(z.string())
          .default([])
          .describe(
            "skill models: rows of model.sparse.skills.table the objective activates, one drawn per step (SkillNet's sparsely activated pretraining); empty: the objective's own row",
          ),
      })
      .prefault({}),
    train: z
      .strictObject({
        steps: count().default(3000).describe('optimizer steps'),
        batchSize: z
          .int()
          .min(1)
          .max(1 << 16)
          .default(32)
          .describe('windows per step'),
        lr: z.number().gt(0).lt(1).default(5e-4).describe('peak learning rate (AdamW)'),
        warmupSteps: z.int().min(0).default(300).describe('linear warm-up steps (at most steps)'),
        schedule: z.enum(['constant', 'linear', 'cosine']).default('cosine').describe('learning-rate decay after warm-up'),
        minLrRatio: z.number().min(0).max(1).default(0.1).describe('cosine: the final learning rate, as a share of lr'),
        weightDecay: z.number().min(0).default(0.01).describe('AdamW decoupled weight decay (not on biases and norms)'),
        clipNorm: z.number().gt(0).default(1.0).describe('gradient-norm clip'),
        seed: seed().default(0).describe('seed of initialisation, masking and data order'),
        logEvery: count().default(10).describe('steps between metrics.jsonl lines'),
        evalEvery: count().default(250).describe('steps between held-out evaluations'),
        evalBatches: count().default(16).describe('held-out batches per evaluation'),
        checkpointEvery: count().default(250).describe('steps between checkpoints'),
        keepCheckpoints: count().default(2).describe('newest checkpoints kept'),
      })
      .prefault({}),
    out: z.string().min(1).default('runs/pretrain').describe('output folder: checkpoints/, model/, metrics.jsonl'),
  })
  .superRefine((c, ctx) => {
    const fail = (message: string) => ctx.addIssue({ code: 'custom', path: [], message });
    // Refinements also run on a config with bad values; each check looks only at what it needs.
    const t = c.train;
    if (t && typeof t.warmupSteps === 'number' && typeof t.steps === 'number' && t.warmupSteps > t.steps) {
      fail(`@{train.warmupSteps} (${t.warmupSteps}) must be at most @{train.steps} (${t.steps})`);
    }
    const skills = c.model?.sparse?.skills;
    const rows = c.objective?.skillRows;
    if (!Array.isArray(rows)) return;
    if (skills && typeof skills.table === 'object' && skills.table !== null) {
      const table = skills.table;
      for (const r of rows)
        if (!table[r]) return fail(`@{objective.skillRows}: "${r}" is not a row of @{model.sparse.skills.table} (rows: ${Object.keys(table).join(', ')})`);
      if (rows.length === 0 && !table[c.objective.kind])
        fail(`@{model.sparse.skills.table} needs a row for the pretraining objective "${c.objective.kind}" (or list rows in @{objective.skillRows})`);
      const layers = c.model.layers;
      if (Array.isArray(skills.layers) && typeof layers === 'number' && !skills.layers.every((l) => l < layers)) {
        fail(`@{model.sparse.skills.layers} must be "all" or layer indices in [0, ${layers}) (@{model.layers} is ${layers})`);
      }
    } else if (rows.length) fail('@{objective.skillRows} needs a skill model (@{model.sparse.skills})');
  });

export type PretrainConfig = z.output<typeof pretrainConfigSchema>;

export const DEFAULT_PRETRAIN: PretrainConfig = pretrainConfigSchema.parse({});

export function encoderConfigOf(c: PretrainConfig, vocabSize: number): EncoderConfig {
  const { sparse: _s, ...model } = c.model;
  return { ...model, vocabSize, maxPositions: c.data.seqLen };
}

/** Checks a config built in code (a benchmark's); `source` names it in the ConfigError. */
export function validatePretrainConfig(c: PretrainConfig, source: string): void {
  parseOrThrow(pretrainConfigSchema, c, { source, Err: ConfigError });
}

/** Reads a config file (or none: the defaults), applies the command-line overrides, validates. */
export function loadPretrainConfig(path: string | null, overrides: Overrides): PretrainConfig {
  return loadConfig(pretrainConfigSchema, path, overrides);
}
