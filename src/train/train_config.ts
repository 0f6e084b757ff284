// `pathwise train --config FILE`'s config, declared once as a zod schema, and the trainer's options
// (the config's `train` section), from which DEFAULT_MULTITASK takes its defaults. Type, defaults,
// bounds and JSON Schema (docs/schemas/train.schema.json) all come from here.

import { z } from 'zod';
import { count, seed } from '../util/schema.js';
import { encoderFields, headsDivideDModel } from '../nn/encoder_config.js';
import { sparseSchema } from '../sparse/schema.js';
import { lexicalDefaultsSchema, type LexicalConfig } from '../tasks/ngrams.js';
import { isTextSequenceTask, type TaskType } from '../tasks/task.js';
import { taskConfigSchema } from '../tasks/task_config.js';
import { BUILTIN_TASK_NAMES } from '../tasks/builtin/index.js';
import { loadConfig, type Overrides } from './config.js';
import { MAX_VOCAB, MIN_VOCAB } from './pretrain_config.js';

/** The multi-task trainer's settings (trainMultiTask's options, less the callbacks). */
export const trainOptionsSchema = z.strictObject({
  steps: count().default(1000).describe('training steps, all tasks together'),
  batchSize: count().default(32).describe('examples per step (one task per step)'),
  lr: z.number().gt(0).default(1e-4).describe('peak learning rate (AdamW; linear warm-up, then linear decay)'),
  warmupSteps: z.int().min(0).default(100).describe('linear warm-up steps'),
  weightDecay: z.number().min(0).default(0.01).describe('AdamW decoupled weight decay (not on biases and norms)'),
  clipNorm: z.number().gt(0).default(1.0).describe('gradient-norm clip'),
  temperature: z.number().gt(0).default(2).describe('task sampling p_i ∝ n_i^(1/T) over training sizes (1: by size; large: uniform)'),
  seed: seed().default(0).describe('seed of heads, sampling and batches'),
  evalEvery: count().default(200).describe('steps between dev evaluations (the best average is kept)'),
  patience: z.int().min(0).default(3).describe('evaluations without improvement before stopping (0: never stop early)'),
  taskPatience: z
    .int()
    .min(0)
    .default(0)
    .describe(
      "evaluations without improvement of a task's own dev score before that task leaves the sampling (its own parameters then stay as they are; 0: never)",
    ),
  evalExamples: count().default(2000).describe('cap on dev examples per task at each evaluation'),
  freezeEmbeddings: z.boolean().default(false).describe('transfer learning: keep the embeddings fixed'),
  embeddingLrScale: z
    .number()
    .gt(0)
    .default(1)
    .describe("multiplies the embeddings' learning rate (the quickstart uses 3 from a pretrained base; 1: the encoder's)"),
  lexicalLrScale: z
    .number()
    .gt(0)
    .default(20)
    .describe("multiplies the learning rate of the heads' n-gram bags (top-level `lexical`); fastText trains them far faster than an encoder"),
  lexicalWarmupEpochs: z
    .number()
    .min(0)
    .max(100)
    .default(0)
    .describe("epochs each head's n-gram bag trains alone (fastText, no encoder: seconds) before joint training; 0: none"),
  naiveBayesPrior: z
    .boolean()
    .default(false)
    .describe('after training, give each classification head a Naive Bayes prior counted on its training set, weighted on dev (0: none); train/fit_prior.ts'),
  freezeLayers: z.int().min(0).default(0).describe('transfer learning: keep the lowest k encoder blocks fixed'),
  logEvery: count().default(50).describe('steps between progress lines when stderr is not a terminal'),
  groupByLength: count().default(16).describe("batches' worth of a task's examples sorted by length together, so batches pad less (1: no grouping)"),
});

export type TrainOptions = z.output<typeof trainOptionsSchema>;

const { dModel, layers, heads, ffn } = encoderFields;

export const trainConfigSchema = z.strictObject({
  base: z.string().min(1).nullable().default(null).describe('a pretrained model folder (transfer learning), or null to train from scratch'),
  scratch: z
    .strictObject({
      dModel,
      layers,
      heads,
      ffn,
      vocabSize: z.int().min(MIN_VOCAB).max(MAX_VOCAB).default(8192).describe("size of the tokenizer trained on the tasks' texts"),
    })
    .superRefine((v, ctx) => headsDivideDModel(v, ctx))
    .prefault({})
    .describe("from scratch only: the encoder, and the tokenizer trained on the tasks' texts"),
  maxLen: z
    .int()
    .min(2)
    .max(1 << 16)
    .default(128)
    .describe("longest input in tokens (capped by the base's positions)"),
  tasks: z
    .array(z.union([z.string().min(1), taskConfigSchema]))
    .min(1)
    .superRefine((tasks, ctx) => {
      // Caught here, before any data is read: a task named twice, a built-in task that does not exist.
      const seen = new Map<string, number>();
      tasks.forEach((t, i) => {
        const name = typeof t === 'string' ? t : t.name;
        if (typeof t === 'string' && !BUILTIN_TASK_NAMES.includes(t)) {
          ctx.addIssue({
            code: 'custom',
            path: [i],
            message: `@{}: no built-in task ${JSON.stringify(t)} (built-in: ${BUILTIN_TASK_NAMES.join(', ')}; or give a task config object)`,
          });
        } else if (seen.has(name)) {
          ctx.addIssue({
            code: 'custom',
            path: [i],
            message: `@{}: task ${JSON.stringify(name)} is already tasks[${seen.get(name)}]; task names must be unique`,
          });
        }
        seen.set(name, i);
      });
    })
    .describe("the tasks: a built-in task's name, or a task config {name, type, train, ...} (docs/schemas/task.schema.json)"),
  perTask: z
    .record(
      z.string(),
      z.strictObject({
        lrScale: z.number().gt(0).optional().describe("scales the learning rate on this task's steps"),
        steps: count().optional().describe("caps this task's steps (it then drops out of the sampling)"),
        lexical: z.boolean().optional().describe("false: no n-gram bag in this task's head although `lexical` is set (default: every sequence task has one)"),
      }),
    )
    .default({})
    .describe('per-task settings, by task name'),
  sparse: sparseSchema
    .optional()
    .describe(
      "Switch / skill layout, as pretraining's model.sparse; from a dense base it is made by upcycling. Omitted: the base's layout (dense from scratch)",
    ),
  lexical: lexicalDefaultsSchema
    .optional()
    .describe(
      "a hashed n-gram bag (fastText) beside the encoder in every sequence task's head, its logits added to the head's ({} for the defaults); omitted: none",
    ),
  train: trainOptionsSchema.prefault({}),
  out: z.string().min(1).default('runs/train').describe('output folder; the model goes to out/model'),
});

export type TrainConfig = z.output<typeof trainConfigSchema>;

/** The n-gram bag a task's head gets under `cfg`: the config's `lexical`, for a sequence task not opted out by `perTask.<name>.lexical: false`. */
export function lexicalFor(cfg: Pick<TrainConfig, 'lexical' | 'perTask'>, task: { name: string; type: TaskType }): LexicalConfig | null {
  if (!cfg.lexical || !isTextSequenceTask(task.type) || cfg.perTask[task.name]?.lexical === false) return null;
  return { ...cfg.lexical };
}

/** Reads `pathwise train`'s config file, applies the command-line overrides, validates. */
export function loadTrainConfig(file: string, overrides: Overrides): TrainConfig {
  return loadConfig(trainConfigSchema, file, overrides);
}
