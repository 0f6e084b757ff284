// The HTTP API's bodies and answers, declared once as zod schemas: requests are checked with them
// (a bad one is answered 4xx with the field at fault, phrased by util/schema.ts as config errors
// are) and /openapi.json publishes their JSON Schema. Limits come from the serve config.

import { z } from 'zod';
import { explain, keyName } from '../util/schema.js';
import type { ServeConfig } from './serve_config.js';
import { TASK_TYPES, type TaskType } from '../tasks/task.js';
import { COMPONENT_KINDS, type ComponentKind } from '../model/index.js';

/** An answered error: the status, a code, the field at fault (null: none) and a message. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly field: string | null,
    message: string,
    /** Extra headers (Retry-After). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toJSON(): ErrorBody {
    return { error: { status: this.status, code: this.code, field: this.field, message: this.message } };
  }
}

export const errorSchema = z
  .object({
    error: z.object({
      status: z.int().describe('the HTTP status'),
      code: z.string().describe('what went wrong: bad_request, too_large, unknown_task, not_found, queue_full, unavailable, ...'),
      field: z.string().nullable().describe('the field at fault ("inputs[2].text", "options.top_k", "body", "task"), or null'),
      message: z.string().describe('a sentence naming the field and what it takes'),
    }),
  })
  .describe('an error');

export type ErrorBody = z.output<typeof errorSchema>;

/** The schemas of the request bodies, under the config's limits. */
export function requestSchemas(c: Pick<ServeConfig, 'maxInputs' | 'maxInputChars' | 'bodyLimit'>) {
  const text = () => z.string().max(c.maxInputChars).regex(/\S/).describe(`a non-blank text of at most ${c.maxInputChars} characters`);
  const inputObject = z
    .strictObject({
      text: text().optional().describe('the text'),
      text_pair: text().optional().describe('the second text (sentence-pair tasks)'),
      tokens: z
        .array(z.string().max(c.maxInputChars))
        .min(1)
        .max(c.maxInputChars)
        .optional()
        .describe('the words, already split (tagging tasks): non-empty strings without spaces'),
      image: z.string().min(1).max(c.bodyLimit).optional().describe('an image (image tasks): a PNG or JPEG file, base64 (or a data:image/...;base64, URL)'),
      pixels: z
        .array(z.int().min(0).max(255))
        .min(1)
        .max(c.bodyLimit)
        .optional()
        .describe("an image (image tasks): height × width × channels integers in 0-255, row-major, channels last, in the task's shape"),
    })
    .superRefine((o, ctx) => {
      const given = [o.text, o.tokens, o.image, o.pixels].filter((x) => x !== undefined).length;
      if (given !== 1) {
        ctx.addIssue({
          code: 'custom',
          path: [],
          message:
            '@{} needs "text" (and "text_pair" for a sentence-pair task), "tokens" (a tagging task), or "image" or "pixels" (an image task), one of them',
        });
      }
      if (o.text_pair !== undefined && o.text === undefined && given === 1)
        ctx.addIssue({
          code: 'custom',
          path: ['text_pair'],
          message: `@{} goes with "text", not with "${o.tokens !== undefined ? 'tokens' : o.image !== undefined ? 'image' : 'pixels'}"`,
        });
      o.tokens?.forEach((w, i) => {
        if (w === '' || /\s/.test(w))
          ctx.addIssue({
            code: 'custom',
            path: ['tokens', i],
            message: `@{} must be a word (a non-empty string without spaces), got ${JSON.stringify(w).slice(0, 60)}`,
          });
      });
    });
  const input = z
    .union([text(), inputObject])
    .describe(
      'a text, {"text", "text_pair"} (sentence pairs), {"tokens": [...]} (tagging), or {"image": base64 PNG or JPEG} / {"pixels": [...]} (image tasks)',
    );
  const options = z
    .strictObject({
      top_k: z.int().min(1).optional().describe("classification: keep only the k most probable labels in each answer's scores (default: every label)"),
      truncate: z.boolean().default(true).describe("cut inputs longer than the model's maximum length in tokens (false: refuse them, 422)"),
    })
    .prefault({})
    .describe('how to answer');
  const predict = z
    .strictObject({
      input: input.optional().describe('one input: answered as "prediction"'),
      inputs: z.array(input).min(1).max(c.maxInputs).optional().describe(`a list of inputs (at most ${c.maxInputs}): answered as "predictions", in order`),
      options,
    })
    .superRefine((b, ctx) => {
      if ((b.input === undefined) === (b.inputs === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['input'], message: '@{}: give "input" (one input) or "inputs" (a list of inputs), one of them' });
      }
    });
  const mixed = z.strictObject({
    requests: z
      .array(z.strictObject({ task: z.string().min(1).describe("the task's name"), input }))
      .min(1)
      .max(c.maxInputs)
      .describe(`inputs of any tasks, each {task, input} (at most ${c.maxInputs}): answered in order`),
    options,
  });
  return { input, predict, mixed };
}

export type RequestSchemas = ReturnType<typeof requestSchemas>;
export type InputJson = z.output<RequestSchemas['input']>;
export type PredictOptionsJson = z.output<RequestSchemas['predict']>['options'];

/** `body` checked with `schema`; a failure is a 400 (413 for a text over the limit) naming the field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (body === undefined || body === null) throw new HttpError(400, 'bad_request', 'body', 'the request needs a JSON object body');
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const { path, message } = explain(schema, r.error, body);
  const field = keyName(path) || 'body';
  const issue = leafIssues(r.error.issues, []).find((i) => keyName(i.path) === field && i.code === 'too_big' && i.origin === 'string');
  if (issue?.code === 'too_big') {
    const n = [...path].reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown>)[k], body) as string;
    fail(413, 'too_large', field, `${field} has ${n.length} characters; at most ${issue.maximum} are taken`);
  }
  return fail(400, 'bad_request', field, message);
}

type Issue = z.core.$ZodIssue;

/** The issues, those inside unions' branches included, with their paths from the root. */
function leafIssues(issues: readonly Issue[], base: PropertyKey[]): Issue[] {
  return issues.flatMap((i) => {
    const path = [...base, ...i.path];
    return i.code === 'invalid_union' ? i.errors.flatMap((branch) => leafIssues(branch, path)) : [{ ...i, path } as Issue];
  });
}

function fail(status: number, code: string, field: string, message: string): never {
  throw new HttpError(status, code, field, message);
}

// ---------------------------------------------------------------------------- answers

const classPrediction = z
  .object({
    label: z.string().describe('the most probable label'),
    score: z.number().describe('its probability'),
    scores: z.record(z.string(), z.number()).describe("every label's probability (the top_k most probable with options.top_k)"),
  })
  .describe('classification and sentence-pair classification');
const tagPrediction = z
  .object({
    words: z
      .array(z.object({ word: z.string(), tag: z.string(), score: z.number().nullable() }))
      .describe('a tag per word (score null: past the maximum length)'),
    spans: z.array(z.object({ label: z.string(), start: z.int(), end: z.int(), text: z.string(), score: z.number() })).describe('the BIO entities of the tags'),
  })
  .describe('tagging');
const valuePrediction = z.object({ value: z.number() }).describe('regression');

export const predictionSchema = z.union([classPrediction, tagPrediction, valuePrediction]).describe("a prediction, typed by the task's type");

export const predictAnswer = z.union([
  z.object({ task: z.string(), prediction: predictionSchema }).describe('for "input"'),
  z.object({ task: z.string(), predictions: z.array(predictionSchema) }).describe('for "inputs", in order'),
]);

export const mixedAnswer = z.object({
  predictions: z.array(z.object({ task: z.string(), prediction: predictionSchema })).describe('one per request, in order'),
});

export const reloadAnswer = z.object({
  version: z.string().describe('the version served now'),
  previous: z.string().describe('the version served before the reload'),
  changed: z.boolean().describe('whether the folder held a new version'),
  tasks: z.array(z.string()).describe('the tasks of the version served now'),
});

export const tasksAnswer = z.object({
  version: z.string().describe("the served model's version"),
  tasks: z.array(
    z.object({
      name: z.string(),
      type: z.enum(TASK_TYPES as [TaskType, ...TaskType[]]),
      labels: z.array(z.string()),
      path: z.string().describe('the path, "emb0 > blk1 > ... > head9" (+ marks an adapter)'),
      components: z
        .array(
          z.object({
            id: z.string(),
            kind: z.enum(COMPONENT_KINDS as [ComponentKind, ...ComponentKind[]]),
            owner: z.string().nullable().describe('the task it was made for (null: the base model)'),
            shared: z.boolean().describe("on another task's path too"),
          }),
        )
        .describe("the path's components in forward order"),
      skills: z.array(z.string()).nullable().describe('the skills its skill blocks run (null: none)'),
      activatedParameters: z.int().describe('parameters one forward pass reads'),
      addedParameters: z.int().describe('parameters made for the task'),
      flopsPerToken: z.number().describe('FLOPs per token at the maximum length, as pathwise inspect counts them'),
    }),
  ),
  maxLength: z.int().describe('the longest input in tokens; longer ones are cut (or refused with options.truncate false)'),
});

export const healthAnswer = z.object({ status: z.enum(['ok', 'ready', 'starting', 'draining']) });
