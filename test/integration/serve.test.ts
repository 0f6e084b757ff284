// `pathwise serve` against real servers on random local ports, with real HTTP requests (Node's
// fetch), on real folders (`pathwise train`, then `pathwise add-task`): every route's answer,
// every kind of bad input (exact status, code and field), a full queue (429 with Retry-After,
// provoked by holding a batch through a test hook, not by timing), concurrent mixed-task
// requests whose answers equal TaskModel.predict's, and SIGTERM on a spawned `pathwise serve`
// answering its queued requests and exiting 0.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { backendName } from '../../src/engine/index.js';
import { describePath, loadModel, pathComponents, type MixedRequest, type TaskModel } from '../../src/model/index.js';
import { buildServer, folderVersion, type ServeConfig } from '../../src/serve/index.js';
import { assertDeepClose } from '../helpers.js';
import { CLI, WORDS, cliSync, makeFolders, type Folders } from '../cli_folders.js';
import { call, expected, untilMetrics } from '../serve_helpers.js';

let root: string;
let folders: Folders;
let model: TaskModel;
let version: string;
/** predict and the server agree bit for bit on the TypeScript backend, within 1e-5 on OpenBLAS (see mixed_batch.ts). */
let tol: number;

before(() => {
  root = mkdtempSync(join(tmpdir(), 'pw-serve-'));
  folders = makeFolders(root);
  model = loadModel(folders.grown);
  version = folderVersion(folders.grown);
  tol = backendName() === 'ts' ? 0 : 1e-5;
});
after(() => rmSync(root, { recursive: true, force: true }));

const text = (i: number, n: number) => Array.from({ length: n }, (_, k) => WORDS[(i * 7 + k * 3) % WORDS.length]).join(' ');

/** A server on 127.0.0.1, port 0; closed after the suite. */
async function start(config: Partial<ServeConfig> = {}, hooks?: Parameters<typeof buildServer>[0]['hooks'], m = model) {
  const app = buildServer({ model: m, version, config, hooks });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  return { app, base: `http://127.0.0.1:${port}` };
}

/** A gate a test hook waits at: the batch that reaches it is held until open(). */
class Gate {
  private opened!: () => void;
  private readonly openP = new Promise<void>((r) => (this.opened = r));
  private reached!: () => void;
  /** Resolves when the first batch reaches the gate. */
  readonly entered = new Promise<void>((r) => (this.reached = r));
  batches: string[][] = [];
  hook = async (items: readonly MixedRequest[]) => {
    this.batches.push(items.map((i) => i.task));
    this.reached();
    await this.openP;
  };
  open() {
    this.opened();
  }
}

describe('pathwise serve: routes', () => {
  let app: FastifyInstance;
  let base: string;
  before(async () => ({ app, base } = await start({ maxInputChars: 200, bodyLimit: 4096, maxInputs: 8, maxQueueRows: 64 })));
  after(() => app.close());

  it('GET /v1/tasks: each task with its type, labels, path, components, parameters and FLOPs per token', async () => {
    const r = await call(base, 'GET', '/v1/tasks');
    assert.equal(r.status, 200);
    const uses = (id: string) => [...model.tasks.values()].filter((t) => pathComponents(t.path).includes(id)).length;
    const info = new Map(model.listTasks().map((t) => [t.name, t]));
    // FLOPs per token of the root's dense blocks (d 32, FFN 64, at the maximum length 16): 8d² + 4Td + 4dF each.
    const block = 8 * 32 * 32 + 4 * 16 * 32 + 4 * 32 * 64;
    assert.deepEqual(r.json, {
      version,
      maxLength: 16,
      tasks: [...model.tasks.values()].map(({ spec, path }) => ({
        name: spec.name,
        type: spec.type,
        labels: spec.labels,
        path: describePath(path),
        components: pathComponents(path).map((id) => ({ id, kind: model.store.get(id).kind, owner: model.store.get(id).owner, shared: uses(id) > 1 })),
        skills: null,
        activatedParameters: info.get(spec.name)!.activatedParameters,
        addedParameters: info.get(spec.name)!.addedParameters,
        flopsPerToken:
          spec.name === 'toy2'
            ? path.blocks.length * block + path.adapters.reduce((s, a) => s + (a ? 4 * 32 * model.store.get(a, 'adapter').config.size : 0), 0)
            : 2 * block,
      })),
    });
    const tasks = r.json.tasks as { name: string; components: { id: string; owner: string | null; shared: boolean }[] }[];
    assert.deepEqual(
      tasks.map((t) => t.name),
      ['toy', 'tags', 'toy2'],
    );
    // The trained tasks share the root; each head is its task's own; add-task's components are toy2's.
    assert.deepEqual(tasks[0].components.at(-1), { id: model.task('toy').path.head, kind: 'head', owner: 'toy', shared: false } as never);
    assert.ok(tasks[0].components.slice(0, -1).every((c) => c.shared && c.owner === null));
    assert.ok(tasks[2].components.filter((c) => c.owner === 'toy2').every((c) => !c.shared));
  });

  it('POST /v1/tasks/{task}/predict: one input answers {task, prediction}, equal to predict', async () => {
    const r = await call(base, 'POST', '/v1/tasks/toy/predict', { input: 'a good film' });
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.json), ['task', 'prediction']);
    assert.equal(r.json.task, 'toy');
    assertDeepClose(r.json.prediction, (await model.predict('toy', ['a good film']))[0], tol, 'prediction');
  });

  it('a list answers {task, predictions} in order; top_k keeps the k most probable scores; tokens and text for tagging', async () => {
    const inputs = [text(1, 3), text(2, 9), text(3, 1)];
    const r = await call(base, 'POST', '/v1/tasks/toy2/predict', { inputs, options: { top_k: 1 } });
    assert.equal(r.status, 200);
    const want = (await model.predict('toy2', inputs)) as { label: string; score: number }[];
    assert.equal(r.json.task, 'toy2');
    const got = r.json.predictions as { label: string; score: number; scores: Record<string, number> }[];
    assert.equal(got.length, 3);
    got.forEach((p, i) => {
      assertDeepClose({ label: p.label, score: p.score }, { label: want[i].label, score: want[i].score }, tol, `predictions[${i}]`);
      assert.deepEqual(Object.keys(p.scores), [want[i].label]);
      assertDeepClose(p.scores[want[i].label], want[i].score, tol, `predictions[${i}].scores`);
    });
    const words = ['the', 'film', 'was', 'lovely'];
    const t = await call(base, 'POST', '/v1/tasks/tags/predict', { inputs: [{ tokens: words }, { text: words.join(' ') }, words.join(' ')] });
    assert.equal(t.status, 200);
    const wantTags = await model.predict('tags', [{ text: words.join(' '), words }, words.join(' '), words.join(' ')]);
    assertDeepClose(t.json.predictions, wantTags, tol, 'tags');
  });

  it('POST /v1/predict: concurrent mixed-task requests answer what predict answers, in order', async () => {
    const tasks = [...model.tasks.keys()];
    const bodies = Array.from({ length: 12 }, (_, b) =>
      Array.from({ length: 1 + (b % 4) }, (_, k): MixedRequest => {
        const task = tasks[(b + k) % tasks.length];
        const words = text(b * 5 + k, 1 + ((b * 3 + k) % 20)).split(' ');
        return { task, input: task === 'tags' && k % 2 ? { text: words.join(' '), words } : words.join(' ') };
      }),
    );
    const answers = await Promise.all(
      bodies.map((reqs) =>
        call(base, 'POST', '/v1/predict', {
          requests: reqs.map((r) => ({ task: r.task, input: typeof r.input === 'string' ? r.input : { tokens: r.input.words } })),
        }),
      ),
    );
    for (const [b, r] of answers.entries()) {
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const want = await expected(model, bodies[b]);
      assertDeepClose(r.json, { predictions: bodies[b].map((q, i) => ({ task: q.task, prediction: want[i] })) }, tol, `body ${b}`);
    }
  });

  it('a quantized folder (pathwise quantize) is served like any other: its answers are its own predict', async () => {
    cliSync(root, 'quantize', folders.grown, '--out', join(root, 'int8'));
    const q = loadModel(join(root, 'int8'));
    const { app: qapp, base: qbase } = await start({}, undefined, q);
    try {
      const tasks = [...q.tasks.keys()];
      const reqs = Array.from({ length: 9 }, (_, i): MixedRequest => ({ task: tasks[i % tasks.length], input: text(i, 2 + i) }));
      const r = await call(qbase, 'POST', '/v1/predict', { requests: reqs });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const want = await expected(q, reqs);
      assertDeepClose(r.json, { predictions: reqs.map((x, i) => ({ task: x.task, prediction: want[i] })) }, tol, 'int8 answers');
      // And they are the int8 model's, not the fp32 one's: some score differs.
      const fp32 = await expected(model, reqs);
      assert.notDeepEqual(want, fp32);
    } finally {
      await qapp.close();
    }
  });

  it('GET /healthz, /readyz, /openapi.json, /docs', async () => {
    assert.deepEqual(await call(base, 'GET', '/healthz').then((r) => [r.status, r.json]), [200, { status: 'ok' }]);
    assert.deepEqual(await call(base, 'GET', '/readyz').then((r) => [r.status, r.json]), [200, { status: 'ready' }]);
    const o = await call(base, 'GET', '/openapi.json');
    assert.equal(o.status, 200);
    assert.equal(o.json.openapi, '3.1.0');
    const paths = o.json.paths as Record<string, Record<string, { requestBody?: { content: Record<string, { schema: Record<string, unknown> }> } }>>;
    assert.deepEqual(Object.keys(paths).sort(), [
      '/docs',
      '/healthz',
      '/metrics',
      '/openapi.json',
      '/readyz',
      '/v1/admin/reload',
      '/v1/predict',
      '/v1/tasks',
      '/v1/tasks/{task}/predict',
    ]);
    const body = paths['/v1/tasks/{task}/predict'].post.requestBody!.content['application/json'].schema as {
      properties: Record<string, { maxItems?: number }>;
      additionalProperties: boolean;
    };
    assert.deepEqual(Object.keys(body.properties), ['input', 'inputs', 'options']);
    assert.equal(body.properties.inputs.maxItems, 8, "the config's maxInputs");
    assert.equal(body.additionalProperties, false);
    const docs = await fetch(`${base}/docs`);
    assert.equal(docs.status, 200);
    assert.equal(docs.headers.get('content-type'), 'text/html; charset=utf-8');
    const html = await docs.text();
    for (const [url, methods] of Object.entries(paths))
      for (const m of Object.keys(methods)) assert.ok(html.includes(`<code>${m.toUpperCase()} ${url}</code>`), `the page lists ${m} ${url}`);
  });

  it('GET /metrics: Prometheus text with the model version, inputs per task, latency, queue time, batch sizes and queue depth', async () => {
    const { app: fresh, base: b } = await start();
    try {
      for (const [task, n] of [
        ['toy', 3],
        ['tags', 1],
      ] as const) {
        const r = await call(b, 'POST', `/v1/tasks/${task}/predict`, { inputs: Array.from({ length: n }, (_, i) => text(i, 4)) });
        assert.equal(r.status, 200);
      }
      await call(b, 'POST', '/v1/tasks/nope/predict', { input: 'x' });
      const r = await fetch(`${b}/metrics`);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
      const m = await r.text();
      for (const line of [
        `pathwise_model_info{version="${version}"} 1`,
        'pathwise_inputs_total{task="toy"} 3',
        'pathwise_inputs_total{task="tags"} 1',
        'pathwise_input_latency_seconds_count{task="toy"} 3',
        'pathwise_queue_time_seconds_count{task="tags"} 1',
        'pathwise_batch_inputs_count 2',
        'pathwise_batch_inputs_sum 4',
        'pathwise_batch_tasks_count 2',
        'pathwise_queue_depth 0',
        'pathwise_http_requests_total{route="/v1/tasks/:task/predict",status="200"} 2',
        'pathwise_http_requests_total{route="/v1/tasks/:task/predict",status="404"} 1',
      ])
        assert.ok(m.split('\n').includes(line), `metrics have ${JSON.stringify(line)}`);
      assert.match(m, /^pathwise_process_resident_memory_bytes \d+/m);
    } finally {
      await fresh.close();
    }
  });

  // [name, method, path, body (a string is sent as it is), content-type, status, code, field]
  const BAD: [string, string, string, unknown, string | null, number, string, string | null][] = [
    ['malformed JSON', 'POST', '/v1/tasks/toy/predict', '{"inputs": [', null, 400, 'bad_json', 'body'],
    ['an empty body', 'POST', '/v1/tasks/toy/predict', '', null, 400, 'bad_request', 'body'],
    ['a body that is not an object', 'POST', '/v1/tasks/toy/predict', '[1, 2]', null, 400, 'bad_request', 'body'],
    ['a wrong type: inputs a string', 'POST', '/v1/tasks/toy/predict', { inputs: 'a film' }, null, 400, 'bad_request', 'inputs'],
    ['a wrong type: a number as input', 'POST', '/v1/tasks/toy/predict', { input: 5 }, null, 400, 'bad_request', 'input'],
    ['a wrong type inside an input', 'POST', '/v1/tasks/toy/predict', { inputs: ['ok', { text: 3 }] }, null, 400, 'bad_request', 'inputs[1].text'],
    ['a wrong option', 'POST', '/v1/tasks/toy/predict', { input: 'a', options: { top_k: 0 } }, null, 400, 'bad_request', 'options.top_k'],
    ['an unknown key', 'POST', '/v1/tasks/toy/predict', { input: 'a', topk: 1 }, null, 400, 'bad_request', 'topk'],
    ['neither input nor inputs', 'POST', '/v1/tasks/toy/predict', {}, null, 400, 'bad_request', 'input'],
    ['both input and inputs', 'POST', '/v1/tasks/toy/predict', { input: 'a', inputs: ['b'] }, null, 400, 'bad_request', 'input'],
    ['an empty input', 'POST', '/v1/tasks/toy/predict', { input: '' }, null, 400, 'bad_request', 'input'],
    ['a blank input in a list', 'POST', '/v1/tasks/toy/predict', { inputs: ['fine', '   '] }, null, 400, 'bad_request', 'inputs[1]'],
    ['an empty list', 'POST', '/v1/tasks/toy/predict', { inputs: [] }, null, 400, 'bad_request', 'inputs'],
    ['more inputs than maxInputs', 'POST', '/v1/tasks/toy/predict', { inputs: Array(9).fill('a') }, null, 400, 'bad_request', 'inputs'],
    ['an empty word', 'POST', '/v1/tasks/tags/predict', { input: { tokens: ['a', ''] } }, null, 400, 'bad_request', 'input.tokens[1]'],
    ['tokens for a classification task', 'POST', '/v1/tasks/toy/predict', { input: { tokens: ['a'] } }, null, 400, 'bad_request', 'input.tokens'],
    [
      'a text_pair for a single-text task',
      'POST',
      '/v1/tasks/toy/predict',
      { input: { text: 'a', text_pair: 'b' } },
      null,
      400,
      'bad_request',
      'input.text_pair',
    ],
    ['an unknown task', 'POST', '/v1/tasks/nope/predict', { input: 'a' }, null, 404, 'unknown_task', 'task'],
    [
      'an unknown task in a mixed request',
      'POST',
      '/v1/predict',
      {
        requests: [
          { task: 'toy', input: 'a' },
          { task: 'nope', input: 'b' },
        ],
      },
      null,
      400,
      'unknown_task',
      'requests[1].task',
    ],
    ['a mixed request without a task', 'POST', '/v1/predict', { requests: [{ input: 'b' }] }, null, 400, 'bad_request', 'requests[0].task'],
    ['an over-long text', 'POST', '/v1/tasks/toy/predict', { inputs: ['ok', 'x'.repeat(201)] }, null, 413, 'too_large', 'inputs[1]'],
    [
      'an over-long text in a mixed request',
      'POST',
      '/v1/predict',
      { requests: [{ task: 'toy', input: { text: 'y'.repeat(300) } }] },
      null,
      413,
      'too_large',
      'requests[0].input.text',
    ],
    [
      'an input over the model length with truncate false',
      'POST',
      '/v1/tasks/toy/predict',
      { inputs: ['short', text(1, 25)], options: { truncate: false } },
      null,
      422,
      'too_long',
      'inputs[1]',
    ],
    [
      'a body over the limit',
      'POST',
      '/v1/tasks/toy/predict',
      JSON.stringify({ inputs: Array(8).fill('z'.repeat(190)) }) + ' '.repeat(3000),
      null,
      413,
      'too_large',
      'body',
    ],
    ['a body that is not JSON', 'POST', '/v1/tasks/toy/predict', 'input=a', 'text/plain', 415, 'unsupported_media_type', 'content-type'],
    ['an unknown route', 'GET', '/v2/everything', undefined, null, 404, 'not_found', 'url'],
  ];
  for (const [name, method, path, body, type, status, code, field] of BAD) {
    it(`bad input: ${name} -> ${status} ${code}${field ? `, naming ${field}` : ''}`, async () => {
      const r = await call(base, method, path, body, type ? { 'content-type': type } : {});
      assert.equal(r.status, status, JSON.stringify(r.json));
      const err = (r.json as { error: { status: number; code: string; field: string | null; message: string } }).error;
      assert.deepEqual(Object.keys(r.json), ['error']);
      assert.deepEqual([err.status, err.code, err.field], [status, code, field]);
      if (field && !['body', 'url', 'content-type'].includes(field)) assert.ok(err.message.includes(field), `the message names ${field}: ${err.message}`);
    });
  }

  it('the messages say what the field takes', async () => {
    const msg = async (path: string, body: unknown) => ((await call(base, 'POST', path, body)).json as { error: { message: string } }).error.message;
    assert.equal(await msg('/v1/tasks/toy/predict', { input: '' }), 'input must be a non-blank string, got ""');
    assert.equal(await msg('/v1/tasks/toy/predict', { inputs: [] }), 'inputs must be a non-empty list, got []');
    assert.equal(await msg('/v1/tasks/toy/predict', { inputs: ['x'.repeat(201)] }), 'inputs[0] has 201 characters; at most 200 are taken');
    assert.equal(await msg('/v1/tasks/nope/predict', { input: 'a' }), 'task: no task "nope" in this model (it has: toy, tags, toy2)');
    assert.equal(await msg('/v1/tasks/toy/predict', { input: 'a', options: { top_k: 0 } }), 'options.top_k must be an integer >= 1, got 0');
  });
});

// One inference thread: one batch runs at a time, so a held batch holds every later one in the queue.
describe('pathwise serve: a full queue', () => {
  it('answers 429 with Retry-After when a request would overflow the queue, and the queued requests still succeed', async () => {
    const gate = new Gate();
    const { app, base } = await start({ maxQueueRows: 2, maxInputs: 2, maxWaitMs: 0, retryAfterS: 7, threads: 1 }, { beforeBatch: gate.hook });
    try {
      // A's batch is held at the gate; B's two inputs fill the queue; C finds no room.
      const a = call(base, 'POST', '/v1/tasks/toy/predict', { input: text(1, 3) });
      await gate.entered;
      const b = call(base, 'POST', '/v1/predict', {
        requests: [
          { task: 'tags', input: text(2, 5) },
          { task: 'toy2', input: text(3, 2) },
        ],
      });
      await untilMetrics(base, /^pathwise_queue_depth 2$/m);
      const c = await call(base, 'POST', '/v1/tasks/toy/predict', { input: 'no room' });
      assert.equal(c.status, 429);
      assert.equal(c.headers.get('retry-after'), '7');
      assert.deepEqual([(c.json.error as { code: string }).code, (c.json.error as { field: unknown }).field], ['queue_full', null]);
      // Health and metrics answer while the batch is held.
      assert.equal((await call(base, 'GET', '/healthz')).status, 200);
      gate.open();
      const [ra, rb] = await Promise.all([a, b]);
      assert.equal(ra.status, 200);
      assertDeepClose(ra.json.prediction, (await model.predict('toy', [text(1, 3)]))[0], tol, 'A');
      assert.equal(rb.status, 200);
      const want = await expected(model, [
        { task: 'tags', input: text(2, 5) },
        { task: 'toy2', input: text(3, 2) },
      ]);
      assertDeepClose(
        rb.json,
        {
          predictions: [
            { task: 'tags', prediction: want[0] },
            { task: 'toy2', prediction: want[1] },
          ],
        },
        tol,
        'B',
      );
      // B's inputs of two tasks ran as one batch.
      assert.deepEqual(gate.batches, [['toy'], ['tags', 'toy2']]);
      assert.equal((await call(base, 'POST', '/v1/tasks/toy/predict', { input: 'room again' })).status, 200);
      assert.match(await (await fetch(`${base}/metrics`)).text(), /^pathwise_queue_full_total 1$/m);
    } finally {
      await app.close();
    }
  });

  it('a held batch gathers the requests that arrive meanwhile into one mixed batch; closing answers them all', async () => {
    const gate = new Gate();
    const { app, base } = await start({ maxWaitMs: 0, maxBatchRows: 64, threads: 1 }, { beforeBatch: gate.hook });
    const first = call(base, 'POST', '/v1/tasks/toy/predict', { input: text(0, 2) });
    await gate.entered;
    const reqs: MixedRequest[] = Array.from({ length: 6 }, (_, i) => ({ task: [...model.tasks.keys()][i % 3], input: text(i + 1, 2 + i) }));
    const pending = reqs.map((q) => call(base, 'POST', `/v1/tasks/${q.task}/predict`, { input: q.input }));
    await untilMetrics(base, /^pathwise_queue_depth 6$/m);
    const closed = app.close();
    gate.open();
    const answers = await Promise.all([first, ...pending]);
    await closed;
    assert.deepEqual(
      answers.map((r) => r.status),
      [200, 200, 200, 200, 200, 200, 200],
    );
    const want = await expected(model, reqs);
    answers.slice(1).forEach((r, i) => assertDeepClose(r.json.prediction, want[i], tol, `request ${i}`));
    assert.deepEqual(gate.batches, [['toy'], reqs.map((q) => q.task)]);
  });
});

describe('pathwise serve: inference threads', () => {
  it('/readyz answers "starting" until the threads are up; health checks and metrics answer while a batch computes', async () => {
    let started = () => {};
    const batchStarted = new Promise<void>((r) => (started = r));
    const config = { threads: 1, maxInputs: 256, maxBatchRows: 256, maxQueueRows: 256, maxInputChars: 20_000 };
    const app = buildServer({ model, version, config, hooks: { beforeBatch: () => started() } });
    try {
      // Threads take a while to start (a module graph and the model to build): the first answer comes before.
      const first = await app.inject({ method: 'GET', url: '/readyz' });
      assert.deepEqual([first.statusCode, first.json()], [503, { status: 'starting' }]);
      await app.listen({ host: '127.0.0.1', port: 0 });
      const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
      while ((await call(base, 'GET', '/readyz')).status !== 200) await sleep(20);
      // One batch of 256 long inputs on the one thread; while it computes, the event loop is free.
      const inputs = Array.from({ length: 256 }, (_, i) => text(i, 80));
      let answered = false;
      const big = call(base, 'POST', '/v1/tasks/toy/predict', { inputs }).then((r) => {
        answered = true;
        return r;
      });
      await batchStarted;
      const health = await call(base, 'GET', '/healthz');
      const metrics = await call(base, 'GET', '/metrics');
      assert.equal(answered, false, 'the health check and the metrics were answered before the batch was done');
      assert.deepEqual([health.status, metrics.status], [200, 200]);
      const r = await big;
      assert.equal(r.status, 200);
      const preds = r.json.predictions as unknown[];
      assert.equal(preds.length, 256);
      assertDeepClose(preds.slice(0, 8), await model.predict('toy', inputs.slice(0, 8)), tol, 'the first predictions');
    } finally {
      await app.close();
    }
  });
});

describe('pathwise serve: the command', () => {
  it('SIGTERM: the queued requests are answered, then the process exits 0', async () => {
    // A long wait keeps the requests queued until SIGTERM; draining runs them at once.
    const child = spawn(process.execPath, [CLI, 'serve', folders.grown, '--port', '0', '--max-wait-ms', '10000', '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      for (let i = 0; i < 3000 && !/on http:\/\/127\.0\.0\.1:\d+/.test(stderr); i++) await sleep(10);
      const port = /on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr)?.[1];
      assert.ok(port, `no port in: ${stderr}`);
      const base = `http://127.0.0.1:${port}`;
      const reqs: MixedRequest[] = Array.from({ length: 5 }, (_, i) => ({ task: [...model.tasks.keys()][i % 3], input: text(i + 9, 3 + i) }));
      const pending = reqs.map((q) => call(base, 'POST', '/v1/predict', { requests: [q] }));
      await untilMetrics(base, /^pathwise_queue_depth 5$/m);
      child.kill('SIGTERM');
      const answers = await Promise.all(pending);
      assert.deepEqual(
        answers.map((r) => r.status),
        [200, 200, 200, 200, 200],
      );
      const want = await expected(model, reqs);
      answers.forEach((r, i) => assertDeepClose(r.json, { predictions: [{ task: reqs[i].task, prediction: want[i] }] }, tol, `request ${i}`));
      assert.equal(await exited, 0, stderr);
      assert.match(stderr, /SIGTERM: answering the queued requests, then stopping\npathwise serve: stopped\n$/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('bad flags exit 2 naming the flag', async () => {
    const run = (...args: string[]) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const c = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        c.stderr.on('data', (d) => (stderr += d));
        c.on('close', (code) => resolve({ code, stderr }));
      });
    assert.deepEqual(await run(folders.grown, '--port', '70000'), { code: 2, stderr: 'pathwise: --port must be an integer in [0, 65535], got "70000"\n' });
    assert.deepEqual(await run(folders.grown, '--max-inputs', '5', '--max-queue-rows', '4'), {
      code: 2,
      stderr: 'pathwise: maxInputs (5) must be at most maxQueueRows (4): a larger request could never be queued\n',
    });
    const { app, base } = await start();
    try {
      const port = new URL(base).port;
      assert.deepEqual(await run(folders.grown, '--port', port), {
        code: 2,
        stderr: `pathwise: cannot listen on 127.0.0.1 port ${port}: EADDRINUSE (the port is taken; --port 0 picks a free one)\n`,
      });
    } finally {
      await app.close();
    }
    const r = await run(folders.grown, '--max-wiat-ms', '3');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^pathwise: unknown option --max-wiat-ms \(did you mean --max-wait-ms\?\)/);
  });
});
