// The encoder's config, declared once: its type, defaults, bounds and JSON Schema all come from
// this zod schema. Pretraining's `model` section and `pathwise train`'s `scratch` section reuse its
// fields (src/train/), and a model folder's config.json is checked against it on load.

import { z } from 'zod';
import { parseOrThrow, probability } from '../util/schema.js';

const int = (min: number, max: number) => z.int().min(min).max(max);

/** The encoder's keys, each with its bounds, default and description. */
export const encoderFields = {
  vocabSize: int(8, 1 << 21)
    .default(16384)
    .describe('token ids the embedding table covers'),
  maxPositions: int(2, 1 << 16)
    .default(128)
    .describe('longest sequence the position table covers'),
  typeVocabSize: int(1, 64).default(2).describe('segment ids (0 / 1 for sentence pairs)'),
  dModel: int(1, 1 << 15)
    .default(256)
    .describe('hidden size; a multiple of heads'),
  layers: int(0, 256).default(4).describe('encoder blocks'),
  heads: int(1, 1024).default(4).describe('attention heads per block'),
  ffn: int(1, 1 << 17)
    .default(1024)
    .describe('inner size of each feed-forward layer'),
  activation: z.enum(['gelu', 'gelu_tanh', 'relu']).default('gelu').describe('feed-forward activation'),
  dropout: probability().default(0.1).describe('dropout on embeddings and residual branches'),
  attentionDropout: probability().default(0.1).describe('dropout on attention probabilities'),
  layerNormEps: z.number().gt(0).default(1e-5).describe('LayerNorm epsilon'),
  initStd: z.number().gt(0).default(0.02).describe("std of the truncated-normal initialiser (BERT's initializer_range)"),
  normPlacement: z.enum(['pre', 'post']).default('pre').describe('LayerNorm before (pre-LN) or after (post-LN, BERT) each sublayer'),
};

/**
 * dModel must split evenly over the heads. For any object schema holding both keys (the encoder's,
 * or a section that picks them); `at` is where they sit relative to the refined object.
 */
export function headsDivideDModel(v: { dModel?: unknown; heads?: unknown }, ctx: z.RefinementCtx, at: string[] = []): void {
  const { dModel, heads } = v;
  if (typeof dModel === 'number' && typeof heads === 'number' && heads > 0 && dModel % heads !== 0) {
    const k = (name: string) => `@{${[...at, name].join('.')}}`;
    ctx.addIssue({ code: 'custom', path: [], message: `${k('dModel')} (${dModel}) must be divisible by ${k('heads')} (${heads})` });
  }
}

export const encoderConfigSchema = z.strictObject(encoderFields).superRefine((v, ctx) => headsDivideDModel(v, ctx));

export type EncoderConfig = z.output<typeof encoderConfigSchema>;

export const DEFAULT_ENCODER: EncoderConfig = encoderConfigSchema.parse({});

/**
 * The encoder's keys as a saved config holds them: every key required (a missing key is an error
 * in a model folder, not a silent default), same bounds. Model folders' schemas (model/folder_schema.ts)
 * spread these into their own objects.
 */
export const savedEncoderFields = Object.fromEntries(Object.entries(encoderFields).map(([k, s]) => [k, s.unwrap()])) as {
  [K in keyof typeof encoderFields]: ReturnType<(typeof encoderFields)[K]['unwrap']>;
};

/** A complete encoder config (a model folder's, or a component's). */
export const savedEncoderConfigSchema = z.strictObject(savedEncoderFields).superRefine((v, ctx) => headsDivideDModel(v, ctx));

/** Checks a complete config for shapes that cannot work; throws a RangeError naming `where`.key. */
export function validateEncoderConfig(c: EncoderConfig, where = 'model'): void {
  parseOrThrow(savedEncoderConfigSchema, c, { prefix: where });
}
