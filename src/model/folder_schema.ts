// config.json of each kind of model folder (folder.ts describes the kinds), declared once as zod
// schemas: the keys each kind holds, and the bounds every value must meet before anything is
// allocated for it. The encoder's keys come from nn/encoder_config.ts and the sparse layouts from
// sparse/schema.ts, so a key means the same everywhere. Task entries and paths are checked where
// they are read (folder.ts, task_entry.ts): their checks are about other entries (a head's kind, a
// name used twice). A load uses the values these schemas give: what the folder holds, and for a
// key of a sparse layout that it lacks, the default that key has wherever the layout is read.

import { z } from 'zod';
import { headsDivideDModel, savedEncoderConfigSchema, savedEncoderFields } from '../nn/encoder_config.js';
import { blockSparseSchema, sparseSchema } from '../sparse/schema.js';
import { lexicalSchema } from '../tasks/ngrams.js';
import { TASK_TYPES, type TaskType } from '../tasks/task.js';
import { MAX_IMAGE_SIDE, imageFields } from '../tasks/task_config.js';
import { probability } from '../util/schema.js';
import { featureMaps, stemGrid } from '../nn/image_stem.js';
import { COMPONENT_ID, COMPONENT_KINDS, type ComponentKind } from './components.js';

const { dModel, layerNormEps, initStd, vocabSize } = savedEncoderFields;

/** What each kind of component is built from (components.ts: KindMap). */
export const componentConfigSchemas = {
  /** The whole encoder config: Embeddings reads vocabulary, positions, segments, norm placement. */
  embeddings: savedEncoderConfigSchema,
  /** The whole encoder config, and what stands in the FFN slot (absent: a dense FFN). */
  block: z.strictObject({ ...savedEncoderFields, sparse: blockSparseSchema.optional() }).superRefine((v, ctx) => headsDivideDModel(v, ctx)),
  /** An image task's stem (nn/image_stem.ts): the images' shape, its patching, its width. */
  image_stem: z
    .strictObject({
      ...imageFields,
      patch: z.int().min(1).max(MAX_IMAGE_SIDE),
      stride: z.int().min(1).max(MAX_IMAGE_SIDE),
      dModel,
      initStd,
      dropout: probability(),
      conv: z
        .array(
          z.strictObject({
            kernel: z
              .int()
              .min(1)
              .max(MAX_IMAGE_SIDE)
              .refine((k) => k % 2 === 1, '@{}: must be odd (the padding keeps the map size)'),
            channels: z
              .int()
              .min(1)
              .max(1 << 12),
            stride: z.int().min(1).max(MAX_IMAGE_SIDE).optional(),
          }),
        )
        .min(1)
        .max(8)
        .optional(),
    })
    .superRefine((v, ctx) => {
      if (v.patch > v.width || v.patch > v.height) {
        ctx.addIssue({ code: 'custom', path: ['patch'], message: `@{}: a ${v.patch}-pixel patch does not fit a ${v.width}×${v.height} image` });
        return;
      }
      if (v.conv) {
        const maps = featureMaps(v);
        const bad = v.conv.findIndex((l, i) => l.kernel > Math.min(maps[i].width, maps[i].height));
        if (bad >= 0) {
          const m = maps[bad];
          ctx.addIssue({
            code: 'custom',
            path: ['conv', bad, 'kernel'],
            message: `@{}: a ${v.conv[bad].kernel}-pixel kernel does not fit the ${m.width}×${m.height} map before it`,
          });
          return;
        }
        const last = maps.at(-1)!;
        if (v.patch > last.width || v.patch > last.height) {
          ctx.addIssue({
            code: 'custom',
            path: ['patch'],
            message: `@{}: a ${v.patch}-pixel patch does not fit the ${last.width}×${last.height} map the convolutions make`,
          });
          return;
        }
      }
      const g = stemGrid(v);
      if (g.cols * g.rows > 1 << 16) ctx.addIssue({ code: 'custom', path: ['stride'], message: '@{}: more than 65,536 patches per image' });
    }),
  final_norm: z.strictObject({ dModel, layerNormEps }),
  adapter: z.strictObject({
    dModel,
    size: z
      .int()
      .min(1)
      .max(1 << 15),
    layerNormEps,
    initStd,
  }),
  /** A low-rank update of a block's projections (nn/lora.ts); ffn 0: attention only (a sparse block). */
  lora: z.strictObject({
    dModel,
    ffn: z
      .int()
      .min(0)
      .max(1 << 17),
    rank: z
      .int()
      .min(1)
      .max(1 << 12),
  }),
  /** A low-rank update of the word-embedding table (nn/embedding_lora.ts). */
  embedding_lora: z.strictObject({
    vocabSize,
    dModel,
    rank: z
      .int()
      .min(1)
      .max(1 << 12),
  }),
  head: z
    .strictObject({
      type: z.enum(TASK_TYPES as [TaskType, ...TaskType[]]),
      dModel,
      classes: z
        .int()
        .min(1)
        .max(1 << 21),
      dropout: probability(),
      initStd,
      pooling: z.enum(['cls', 'mean']).optional(),
      lexical: lexicalSchema.optional(),
    })
    .superRefine((h, ctx) => {
      // Refused here, naming the file, rather than by TaskHead's constructor while building.
      if (h.type === 'tagging' && h.lexical)
        ctx.addIssue({ code: 'custom', path: ['lexical'], message: '@{}: a tagging head has no lexical part (it scores words, not a text)' });
    }),
} satisfies Record<ComponentKind, z.ZodType>;

/** One entry of a "components" folder's `components`: the schema of its config is its kind's. */
const componentEntry = z.discriminatedUnion(
  'kind',
  COMPONENT_KINDS.map((kind) =>
    z.strictObject({
      id: z.string().regex(COMPONENT_ID),
      kind: z.literal(kind),
      owner: z.string().nullable(),
      locked: z.boolean(),
      config: componentConfigSchemas[kind],
    }),
  ) as unknown as [z.ZodObject, ...z.ZodObject[]],
);

/** Keys every Pathwise folder may hold. */
const common = {
  model_type: z.literal('pathwise'),
  architectures: z.array(z.string()).optional(),
  format: z.int().min(1).optional(),
};

/** A pretrained encoder with its LM head (`pathwise pretrain`). */
export const baseFolderSchema = z
  .strictObject({ ...common, ...savedEncoderFields, sparse: sparseSchema.optional() })
  .superRefine((v, ctx) => headsDivideDModel(v, ctx));

/** An encoder with a head per task (`pathwise train`); the task entries are checked by task_entry.ts. */
export const encoderFolderSchema = z
  .strictObject({
    ...common,
    layout: z.literal('encoder').optional(),
    ...savedEncoderFields,
    sparse: sparseSchema.optional(),
    maxLen: z.int().min(2).optional(),
    tasks: z.array(z.unknown()).optional(),
  })
  .superRefine((v, ctx) => headsDivideDModel(v, ctx));

/** Tasks on paths of their own through a component store (`pathwise add-task`). */
export const componentsFolderSchema = z.strictObject({
  ...common,
  layout: z.literal('components').optional(),
  /** Folders written before `format` existed. */
  pathSystemVersion: z.literal(1).optional(),
  maxLen: z.int().min(2),
  root: z.strictObject({
    embeddings: z.string(),
    blocks: z.array(z.string()).min(1),
    finalNorm: z.string().nullable().optional(),
  }),
  sparse: sparseSchema.optional(),
  components: z.array(componentEntry).min(1),
  tasks: z.array(z.unknown()),
});
