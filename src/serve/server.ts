// `pathwise serve`'s HTTP server: every task of one model, on Fastify (its pino logger), with
// dynamic batching across tasks (batcher.ts feeding TaskModel.predictMixed, where rows of different
// tasks share every component their paths share) and Prometheus metrics (metrics.ts).
//
//   GET  /v1/tasks                    each task: type, labels, path, parameters, FLOPs per token
//   POST /v1/tasks/:task/predict      {input} or {inputs: [...]}, options {top_k, truncate}
//   POST /v1/predict                  {requests: [{task, input}, ...]}: tasks mixed
//   GET  /healthz, /readyz, /metrics, /openapi.json, /docs (the OpenAPI description as a page)
//   POST /v1/admin/reload             loads the folder's new version beside the old (bearer token)
//
// Every answer is JSON (metrics aside); every error is {error: {status, code, field, message}},
// naming the field at fault. A full queue is 429 with Retry-After. Closing the app (app.close(),
// which `pathwise serve` calls on SIGTERM) stops taking requests (readyz 503; new requests 503),
// runs every queued input without waiting, answers them, then closes.
//
// Versions live side by side (versions.ts): a request runs on the version current when it arrived,
// and a reload (POST /v1/admin/reload, or the folder watch) serves the folder's new version once it
// is loaded, while queued requests finish on the old one. Batches run on inference threads
// (inference_pool.ts) over weights shared with them, off the event loop: health checks and metrics
// answer while batches compute.

import { createHash, timingSafeEqual } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { flopsPerToken, pathComponents, describePath, type MixedRequest, type Prediction, type TaskModel } from '../model/index.js';
import { encodedLengths } from '../tasks/encode.js';
import type { Example } from '../tasks/task.js';
import {
  HttpError,
  errorSchema,
  healthAnswer,
  mixedAnswer,
  parseBody,
  reloadAnswer,
  predictAnswer,
  requestSchemas,
  tasksAnswer,
  type InputJson,
  type PredictOptionsJson,
} from './api.js';
import { ClosingError, QueueFullError } from './batcher.js';
import { ServeMetrics } from './metrics.js';
import { docsPage, openApiDocument, type RouteDoc } from './openapi.js';
import { parseServeConfig, type ServeConfig } from './serve_config.js';
import { Versions, type Version } from './versions.js';

export interface ServerOptions {
  /**
   * The model served. With inference threads its parameters move into shared memory (their
   * values unchanged: model/shared_model.ts), where the threads read them.
   */
  model: TaskModel;
  /** The model's version (folderVersion), reported by /v1/tasks and the metrics. */
  version: string;
  /** Serve settings (checked by the serve config's schema; missing keys take their defaults). */
  config?: Partial<ServeConfig>;
  /** Log with pino (Fastify's logger) at the config's logLevel; default false. */
  logger?: boolean;
  /** Test hooks. beforeBatch may hold a batch (return a promise): the queue fills meanwhile. */
  hooks?: { beforeBatch?: (items: readonly MixedRequest[], version: string) => void | Promise<void> };
  /** The model's folder: what POST /v1/admin/reload and the watch load again. */
  folder?: string;
  /** The bearer token of the admin routes; without it they answer 403. */
  adminToken?: string;
  /** Watch the folder (its parent, for the rename an atomic save ends with) and reload on a change. */
  watch?: boolean;
}

/** The watch waits this long after the folder's last change before reloading it. */
export const WATCH_DEBOUNCE_MS = 200;

const UNTRUNCATED = 1 << 20;

export function buildServer(o: ServerOptions): FastifyInstance {
  const cfg = parseServeConfig(o.config ?? {}, 'serve config');
  const schemas = requestSchemas(cfg);
  const metrics = new ServeMetrics(o.version);
  let draining = false;

  // Built before the versions: their threads' warnings go to its logger.
  const app = Fastify({
    logger: o.logger ? { level: cfg.logLevel } : false,
    bodyLimit: cfg.bodyLimit,
    return503OnClosing: true,
  });
  const versions = new Versions(o.model, o.version, { cfg, metrics, log: app.log, folder: o.folder, hooks: o.hooks });
  const reload = () => versions.reload();

  let watcher: FSWatcher | null = null;
  let watchTimer: NodeJS.Timeout | null = null;
  if (o.watch && o.folder) {
    // An atomic save ends with a rename in the folder's parent: the folder is complete whenever
    // its name is there. Each change of the name restarts the wait; the reload reads it after.
    const name = basename(resolve(o.folder));
    watcher = watch(dirname(resolve(o.folder)), (_event, file) => {
      if (file !== null && file !== name) return;
      if (watchTimer) clearTimeout(watchTimer);
      watchTimer = setTimeout(() => {
        watchTimer = null;
        reload().then(
          (r) => r.changed && app.log.info({ version: r.version, previous: r.previous, tasks: r.tasks }, 'reloaded the model folder'),
          (e: Error) => app.log.warn({ err: e }, `the watch could not reload the model folder: ${e.message}`),
        );
      }, WATCH_DEBOUNCE_MS);
    });
    // A watch that fails (its folder's parent removed) is logged; the server keeps serving.
    watcher.on('error', (e) => app.log.warn({ err: e }, `the model folder's watch stopped: ${e.message}`));
  }

  // JSON only: a text/plain body is refused (415) rather than read as a string.
  app.removeContentTypeParser('text/plain');

  // ------------------------------------------------------------------ errors and metrics

  app.setErrorHandler((err: FastifyError | Error, req, reply) => {
    const e = asHttpError(err, cfg);
    if (e.status >= 500 && !(err instanceof ClosingError)) req.log.error({ err }, 'request failed');
    if (e.code === 'queue_full') metrics.rejected.inc();
    void reply.code(e.status).headers(e.headers).send(e.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new HttpError(404, 'not_found', 'url', `no route ${req.method} ${req.url.split('?')[0]} (see GET /openapi.json)`);
    void reply.code(404).send(e.toJSON());
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.requests.inc({ route: req.routeOptions.url ?? 'none', status: String(reply.statusCode) });
  });
  // While draining, every answer closes its connection: a kept-alive connection would hold the
  // close up for the keep-alive timeout.
  app.addHook('onSend', async (_req, reply, payload) => {
    if (draining) void reply.header('connection', 'close');
    return payload;
  });
  app.addHook('preClose', async () => {
    draining = true;
    watcher?.close();
    if (watchTimer) clearTimeout(watchTimer);
    versions.stopIntake();
  });
  app.addHook('onClose', async () => {
    await versions.close();
  });

  /** Admin routes: a 403 without a configured token, a 401 without the right bearer token. */
  const tokenHash = o.adminToken === undefined ? null : createHash('sha256').update(o.adminToken).digest();
  const checkAdmin = (req: FastifyRequest) => {
    if (!tokenHash) throw new HttpError(403, 'forbidden', null, 'admin routes are off: start pathwise serve with --admin-token-file FILE');
    const m = /^Bearer +(\S+)$/i.exec(req.headers.authorization ?? '');
    const given = m ? createHash('sha256').update(m[1]).digest() : null;
    if (!given || !timingSafeEqual(given, tokenHash)) {
      throw new HttpError(401, 'unauthorized', 'authorization', 'the authorization header must be "Bearer <the admin token>"', {
        'www-authenticate': 'Bearer realm="pathwise"',
      });
    }
  };

  // ------------------------------------------------------------------------ predicting

  /** The inputs as examples of the task, or a 400 naming the field. */
  const examplesOf = async ({ model }: Version, task: string, inputs: readonly InputJson[], field: (i: number) => string): Promise<Example[]> => {
    const { type, image } = model.task(task).spec;
    if (image) {
      const { imageFromJson } = await import('../tasks/images/image_input.js');
      const out: Example[] = [];
      for (const [i, x] of inputs.entries()) {
        const at = field(i);
        if (typeof x === 'string' || x.text !== undefined || x.tokens !== undefined)
          throw new HttpError(400, 'bad_request', at, `${at}: task "${task}" is an image task: give {"image": base64 PNG or JPEG} or {"pixels": [...]}`);
        const fail = (what: string): never => {
          throw new HttpError(400, 'bad_request', `${at}.${x.pixels !== undefined ? 'pixels' : 'image'}`, `${at}: ${what}`);
        };
        out.push({ text: '', image: await imageFromJson(x as Record<string, unknown>, image, fail) });
      }
      return out;
    }
    return inputs.map((x, i) => {
      const at = field(i);
      if (typeof x !== 'string' && (x.image !== undefined || x.pixels !== undefined))
        throw new HttpError(
          400,
          'bad_request',
          at,
          `${at}: task "${task}" is a ${type} task: give "text"${type === 'tagging' ? ' or "tokens"' : ''}, not an image`,
        );
      if (typeof x === 'string') {
        if (type === 'pair_classification')
          throw new HttpError(400, 'bad_request', at, `${at}: task "${task}" classifies sentence pairs: give {"text", "text_pair"}`);
        return { text: x };
      }
      if (x.tokens) {
        if (type !== 'tagging') throw new HttpError(400, 'bad_request', `${at}.tokens`, `${at}.tokens: task "${task}" is a ${type} task; give "text"`);
        return { text: x.tokens.join(' '), words: [...x.tokens] };
      }
      if (type === 'pair_classification' && x.text_pair === undefined)
        throw new HttpError(400, 'bad_request', `${at}.text_pair`, `${at}.text_pair is required: task "${task}" classifies sentence pairs`);
      if (x.text_pair !== undefined && (type === 'classification' || type === 'tagging'))
        throw new HttpError(400, 'bad_request', `${at}.text_pair`, `${at}.text_pair: task "${task}" is a ${type} task of single texts; leave it out`);
      return x.text_pair === undefined ? { text: x.text! } : { text: x.text!, textPair: x.text_pair };
    });
  };

  /** With truncate false: a 422 naming the first input longer than the model's maximum length. */
  const checkLengths = async ({ model }: Version, rows: readonly MixedRequest[], field: (i: number) => string) => {
    for (let i = 0; i < rows.length; i++) {
      const spec = model.task(rows[i].task).spec;
      if (spec.image) continue; // an image is always the stem's size
      const [n] = await encodedLengths(model.tokenizer, spec, [rows[i].input as Example], UNTRUNCATED);
      if (n > model.maxLen) {
        const at = field(i);
        throw new HttpError(422, 'too_long', at, `${at} is ${n} tokens long; the model reads at most ${model.maxLen} (options.truncate true cuts it)`);
      }
    }
  };

  /** Runs the rows through the batcher; each prediction shaped by the options. */
  const run = async (v: Version, rows: MixedRequest[], options: PredictOptionsJson, field: (i: number) => string): Promise<Prediction[]> => {
    if (!options.truncate) await checkLengths(v, rows, field);
    const t0 = performance.now();
    const preds = await v.batcher.submit(rows);
    const s = (performance.now() - t0) / 1000;
    for (const r of rows) {
      metrics.inputs.inc({ task: r.task });
      metrics.latency.observe({ task: r.task }, s);
    }
    return preds.map((p) => shape(p, options));
  };

  const unknownTask = ({ model }: Version, name: string, field: string, status: number) =>
    new HttpError(status, 'unknown_task', field, `${field}: no task ${JSON.stringify(name)} in this model (it has: ${[...model.tasks.keys()].join(', ')})`);

  // ------------------------------------------------------------------------- the routes

  // The answers every predict route may give besides 200 and its own 400/404.
  const predictErrors = {
    413: { description: 'a body or a text over the limit', schema: errorSchema },
    422: { description: 'an input too long, with options.truncate false', schema: errorSchema },
    429: { description: 'the queue is full: retry after Retry-After seconds', schema: errorSchema },
    503: { description: 'the server is shutting down', schema: errorSchema },
  };
  const routes: (RouteDoc & { handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown> })[] = [
    {
      method: 'GET',
      url: '/v1/tasks',
      summary: "every task: type, labels, path (components, shared or the task's own), activated parameters, FLOPs per token",
      responses: { 200: { description: 'the tasks', schema: tasksAnswer } },
      handler: async () => tasksView(versions.current.model, versions.current.version),
    },
    {
      method: 'POST',
      url: '/v1/tasks/:task/predict',
      summary: 'predict one input ("input") or a list ("inputs") of one task',
      body: schemas.predict,
      responses: {
        200: { description: 'the predictions', schema: predictAnswer },
        400: { description: 'a bad request (the field is named)', schema: errorSchema },
        404: { description: 'no such task', schema: errorSchema },
        ...predictErrors,
      },
      handler: (req) =>
        versions.use(async (v) => {
          const task = (req.params as { task: string }).task;
          if (!v.model.tasks.has(task)) throw unknownTask(v, task, 'task', 404);
          const body = parseBody(schemas.predict, req.body);
          const list = body.inputs ?? [body.input!];
          const field = (i: number) => (body.inputs ? `inputs[${i}]` : 'input');
          const examples = await examplesOf(v, task, list, field);
          const preds = await run(
            v,
            examples.map((input) => ({ task, input })),
            body.options,
            field,
          );
          return body.inputs ? { task, predictions: preds } : { task, prediction: preds[0] };
        }),
    },
    {
      method: 'POST',
      url: '/v1/predict',
      summary: 'predict inputs of any tasks together ({requests: [{task, input}]}), answered in order',
      body: schemas.mixed,
      responses: {
        200: { description: 'the predictions, in order', schema: mixedAnswer },
        400: { description: 'a bad request, or an unknown task (the field is named)', schema: errorSchema },
        ...predictErrors,
      },
      handler: (req) =>
        versions.use(async (v) => {
          const body = parseBody(schemas.mixed, req.body);
          const rows: MixedRequest[] = [];
          for (const [i, r] of body.requests.entries()) {
            if (!v.model.tasks.has(r.task)) throw unknownTask(v, r.task, `requests[${i}].task`, 400);
            rows.push({ task: r.task, input: (await examplesOf(v, r.task, [r.input], () => `requests[${i}].input`))[0] });
          }
          const preds = await run(v, rows, body.options, (i) => `requests[${i}].input`);
          return { predictions: preds.map((prediction, i) => ({ task: rows[i].task, prediction })) };
        }),
    },
    {
      method: 'GET',
      url: '/healthz',
      summary: 'the process is up (answers while draining too)',
      responses: { 200: { description: 'up', schema: healthAnswer } },
      handler: async () => ({ status: 'ok' }),
    },
    {
      method: 'GET',
      url: '/readyz',
      summary: 'the model is loaded, its inference threads are up, and requests are taken (503 while starting or shutting down)',
      responses: {
        200: { description: 'ready', schema: healthAnswer },
        503: { description: 'starting (the threads are not up yet) or draining', schema: healthAnswer },
      },
      handler: async (_req, reply) => {
        if (draining || versions.current.batcher.isClosing) return reply.code(503).send({ status: 'draining' });
        if (!versions.current.isReady) return reply.code(503).send({ status: 'starting' });
        return { status: 'ready' };
      },
    },
    {
      method: 'GET',
      url: '/metrics',
      summary: 'Prometheus metrics: requests, inputs per task, latency and queue time per task, batch sizes, queue depth, model version',
      responses: { 200: { description: 'the metrics, in the Prometheus text format', contentType: 'text/plain' } },
      handler: async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
    },
    {
      method: 'POST',
      url: '/v1/admin/reload',
      summary:
        "load the model folder's version beside the one served (Authorization: Bearer <admin token>): new requests go to it, queued ones finish on the old one",
      responses: {
        200: { description: 'the version served now, the one before, whether it changed, the tasks', schema: reloadAnswer },
        401: { description: 'no bearer token, or a wrong one (WWW-Authenticate: Bearer)', schema: errorSchema },
        403: { description: 'admin routes are off (the server has no admin token)', schema: errorSchema },
        422: { description: 'the folder cannot be loaded (the file is named); the old version keeps serving', schema: errorSchema },
        503: { description: 'the server is shutting down', schema: errorSchema },
      },
      handler: async (req) => {
        checkAdmin(req);
        return reload();
      },
    },
    {
      method: 'GET',
      url: '/openapi.json',
      summary: 'this description',
      responses: { 200: { description: 'the OpenAPI 3.1 document' } },
      handler: async () => openapiNow(),
    },
    {
      method: 'GET',
      url: '/docs',
      summary: 'this description as a page',
      responses: { 200: { description: 'an HTML page', contentType: 'text/html' } },
      handler: async (_req, reply) => reply.type('text/html; charset=utf-8').send(docsPage(openapiNow())),
    },
  ];
  const openapi = openApiDocument(routes, { title: 'pathwise serve', version: o.version });
  /** The description, with the version served now. */
  const openapiNow = () => ({ ...openapi, info: { title: 'pathwise serve', version: versions.current.version } });
  for (const r of routes) app.route({ method: r.method, url: r.url, handler: r.handler });
  return app;
}

/** Any error as the answer to send. */
function asHttpError(err: FastifyError | Error, cfg: ServeConfig): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof QueueFullError) {
    return new HttpError(429, 'queue_full', null, `${err.message}; retry after ${cfg.retryAfterS} s`, { 'retry-after': String(cfg.retryAfterS) });
  }
  if (err instanceof ClosingError) return new HttpError(503, 'unavailable', null, err.message);
  switch ((err as FastifyError).code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HttpError(400, 'bad_json', 'body', 'the body is not valid JSON');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpError(400, 'bad_request', 'body', 'the body is empty: send a JSON object');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpError(413, 'too_large', 'body', `the body is over the limit of ${cfg.bodyLimit} bytes`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpError(415, 'unsupported_media_type', 'content-type', 'send the body as JSON (content-type: application/json)');
  }
  const status = (err as FastifyError).statusCode;
  if (status && status >= 400 && status < 500) return new HttpError(status, 'bad_request', null, err.message);
  return new HttpError(500, 'internal', null, 'internal error');
}

/** top_k: a classification answer's scores cut to the k most probable labels. */
function shape(p: Prediction, o: PredictOptionsJson): Prediction {
  if (o.top_k === undefined || !('scores' in p)) return p;
  const top = Object.entries(p.scores)
    .sort((a, b) => b[1] - a[1])
    .slice(0, o.top_k);
  return { ...p, scores: Object.fromEntries(top) };
}

function tasksView(model: TaskModel, version: string): z.input<typeof tasksAnswer> {
  const uses = new Map<string, number>();
  for (const t of model.tasks.values()) for (const id of pathComponents(t.path)) uses.set(id, (uses.get(id) ?? 0) + 1);
  return {
    version,
    maxLength: model.maxLen,
    tasks: model.listTasks().map((info) => {
      const { path } = model.task(info.name);
      return {
        name: info.name,
        type: info.type,
        labels: info.labels,
        path: describePath(path),
        components: pathComponents(path).map((id) => {
          const c = model.store.get(id);
          return { id, kind: c.kind, owner: c.owner, shared: (uses.get(id) ?? 0) > 1 };
        }),
        skills: path.skills ?? null,
        activatedParameters: info.activatedParameters,
        addedParameters: info.addedParameters,
        flopsPerToken: flopsPerToken(model.store, path, model.maxLen),
      };
    }),
  };
}
