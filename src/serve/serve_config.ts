// `pathwise serve`'s settings, declared once: type, defaults, bounds, error messages and JSON
// Schema (docs/schemas/serve.schema.json) come from this schema. Each key is also a flag, in kebab
// case (maxWaitMs: --max-wait-ms); a serve config file (--config FILE.json) holds the same keys,
// and flags given beside it win.

import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { count, parseOrThrow } from '../util/schema.js';

export const serveConfigSchema = z
  .strictObject({
    host: z.string().min(1).default('127.0.0.1').describe('address to listen on (the default answers this machine only)'),
    port: z.int().min(0).max(65535).default(8080).describe('TCP port (0: any free port, printed when listening)'),
    threads: z
      .int()
      .min(0)
      .max(256)
      .optional()
      .describe(
        "inference threads, each running one batch at a time over the same shared weights (default: the machine's cores, at most 8; 0 runs batches on the event loop)",
      ),
    maxWaitMs: z.number().min(0).max(10_000).default(5).describe('longest a request waits in the queue for others to batch with (a full batch runs at once)'),
    maxBatchRows: count().max(4096).default(64).describe('inputs per forward pass, of any tasks together'),
    maxQueueRows: count()
      .max(1_000_000)
      .default(1024)
      .describe('inputs waiting in the queue at most; a request that would overflow it is answered 429 with Retry-After'),
    retryAfterS: count().max(3600).default(1).describe('seconds a 429 answer asks the client to wait (Retry-After)'),
    maxInputs: count().max(100_000).default(256).describe('inputs in one request at most'),
    maxInputChars: count().default(20_000).describe('characters in one text at most (an input with more is refused, 413)'),
    bodyLimit: count()
      .default(1 << 20)
      .describe('bytes of a request body at most (413 beyond)'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe("the pino logger's level (JSON lines on stdout)"),
  })
  .superRefine((c, ctx) => {
    if (c.maxInputs > c.maxQueueRows) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxInputs'],
        message: `@{} (${c.maxInputs}) must be at most maxQueueRows (${c.maxQueueRows}): a larger request could never be queued`,
      });
    }
  });

export type ServeConfig = z.output<typeof serveConfigSchema>;

export const DEFAULT_SERVE_CONFIG: ServeConfig = serveConfigSchema.parse({});

/** Checks serve settings; a RangeError names the setting ("port must be an integer in [0, 65535], got -1"). */
export function parseServeConfig(raw: unknown, source?: string): ServeConfig {
  return parseOrThrow(serveConfigSchema, raw, { source });
}

/**
 * The inference threads the settings ask for: `threads`, or the machine's cores up to 8 (each
 * thread keeps a buffer pool of its own: on a large machine, more is a choice, not a default).
 */
export function inferenceThreads(c: ServeConfig): number {
  return c.threads ?? Math.min(availableParallelism(), 8);
}
