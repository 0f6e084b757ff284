// Tasks added live to a running `pathwise serve`: the real `pathwise add-task` CLI grows a copy of a
// `pathwise train` folder while requests are held in the old version's queue (a test hook holds
// the batch: which version each request runs on is decided by the code, not by timing), then
// POST /v1/admin/reload serves the new version beside the old. Every request is answered with what
// TaskModel.predict answers on the version it ran on. Also: the bearer token (401, 403), a reload of
// a broken folder (422 naming the file, the old version still served), --watch on a spawned
// server, and the token file's start-up errors (exit 2).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { backendName } from '../../src/engine/index.js';
import { loadModel, type MixedRequest, type TaskModel } from '../../src/model/index.js';
import { buildServer, folderVersion, type ServeConfig } from '../../src/serve/index.js';
import { assertDeepClose } from '../helpers.js';
import { CLI, WORDS, makeFolders, type Folders } from '../cli_folders.js';
import { call, expected, untilMetrics } from '../serve_helpers.js';

let root: string;
let folders: Folders;
let tol: number;
const TOKEN = 'open-sesame-42';

before(() => {
  root = mkdtempSync(join(tmpdir(), 'pw-reload-'));
  folders = makeFolders(root);
  writeFileSync(join(root, 'token'), `${TOKEN}\n`);
  tol = backendName() === 'ts' ? 0 : 1e-5;
});
after(() => rmSync(root, { recursive: true, force: true }));

const text = (i: number, n: number) => Array.from({ length: n }, (_, k) => WORDS[(i * 5 + k * 3) % WORDS.length]).join(' ');

let copies = 0;
/** A fresh copy of `pathwise train`'s folder (tasks toy and tags). */
function copyOfRun(): string {
  const dir = join(root, `live${copies++}`);
  cpSync(folders.run, dir, { recursive: true });
  return dir;
}

/** `pathwise add-task <dir> --task task2.json` (toy2), run asynchronously: the server keeps answering. */
function addTask(dir: string, taskFile = 'task2.json'): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [CLI, 'add-task', dir, '--task', join(root, taskFile), '--children', '1', '--steps', '2'], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    c.stderr.on('data', (d) => (stderr += d));
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`add-task exited ${code}: ${stderr}`))));
  });
}

const reload = (base: string, auth: string | null = `Bearer ${TOKEN}`) =>
  call(base, 'POST', '/v1/admin/reload', undefined, auth === null ? {} : { authorization: auth });

async function start(model: TaskModel, version: string, extra: Partial<Parameters<typeof buildServer>[0]> = {}, config: Partial<ServeConfig> = {}) {
  const app = buildServer({ model, version, config, ...extra });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  return { app, base: `http://127.0.0.1:${port}` };
}

/** Holds every batch until open(); records each batch's version and tasks. */
class Gate {
  private opened!: () => void;
  private readonly openP = new Promise<void>((r) => (this.opened = r));
  private reached!: () => void;
  readonly entered = new Promise<void>((r) => (this.reached = r));
  batches: { version: string; tasks: string[] }[] = [];
  hook = async (items: readonly MixedRequest[], version: string) => {
    this.batches.push({ version, tasks: items.map((i) => i.task) });
    this.reached();
    await this.openP;
  };
  open() {
    this.opened();
  }
}

const modelInfo = (version: string) => new RegExp(`^pathwise_model_info\\{version="${version}"\\} 1$`, 'm');

describe('pathwise serve: tasks added live', () => {
  it('add-task while requests are queued, then reload: queued requests finish on the old version, new ones run on the new one, none fails', async () => {
    const dir = copyOfRun();
    const oldModel = loadModel(dir);
    const oldVersion = folderVersion(dir);
    const gate = new Gate();
    const { app, base } = await start(
      oldModel,
      oldVersion,
      { folder: dir, adminToken: TOKEN, hooks: { beforeBatch: gate.hook } },
      { maxWaitMs: 0, threads: 1 },
    );
    try {
      // One request's batch is held on the old version; four more wait in its queue.
      const first: MixedRequest = { task: 'toy', input: text(0, 3) };
      const firstAnswer = call(base, 'POST', '/v1/tasks/toy/predict', { input: first.input });
      await gate.entered;
      const queued: MixedRequest[] = Array.from({ length: 4 }, (_, i) => ({ task: i % 2 ? 'tags' : 'toy', input: text(i + 1, 2 + i) }));
      const queuedAnswers = queued.map((q) => call(base, 'POST', '/v1/predict', { requests: [q] }));
      await untilMetrics(base, /^pathwise_queue_depth 4$/m);

      // The real CLI grows the folder (atomically) while those requests are in flight.
      await addTask(dir);
      const newModel = loadModel(dir);
      const newVersion = folderVersion(dir);
      assert.notEqual(newVersion, oldVersion);

      const r = await reload(base);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { version: newVersion, previous: oldVersion, changed: true, tasks: ['toy', 'tags', 'toy2'] });
      // Both versions are loaded while the old one has requests to answer.
      const both = await (await fetch(`${base}/metrics`)).text();
      assert.match(both, modelInfo(oldVersion));
      assert.match(both, modelInfo(newVersion));
      // New requests go to the new version: the new task is listed and served.
      const tasks = await call(base, 'GET', '/v1/tasks');
      assert.equal(tasks.json.version, newVersion);
      assert.deepEqual(
        (tasks.json.tasks as { name: string }[]).map((t) => t.name),
        ['toy', 'tags', 'toy2'],
      );
      const fresh: MixedRequest[] = [
        { task: 'toy2', input: text(7, 3) },
        { task: 'toy', input: text(1, 2) },
      ];
      const freshAnswer = call(base, 'POST', '/v1/predict', { requests: fresh });

      gate.open();
      const answers = await Promise.all([firstAnswer, ...queuedAnswers, freshAnswer]);
      assert.deepEqual(
        answers.map((a) => a.status),
        [200, 200, 200, 200, 200, 200],
      );
      assertDeepClose(answers[0].json.prediction, (await expected(oldModel, [first]))[0], tol, 'the held request');
      const wantOld = await expected(oldModel, queued);
      queued.forEach((q, i) => assertDeepClose(answers[1 + i].json, { predictions: [{ task: q.task, prediction: wantOld[i] }] }, tol, `queued ${i}`));
      const wantNew = await expected(newModel, fresh);
      assertDeepClose(answers[5].json, { predictions: fresh.map((q, i) => ({ task: q.task, prediction: wantNew[i] })) }, tol, 'after the reload');
      // Which version each batch ran on.
      assert.deepEqual(
        gate.batches.filter((b) => b.version === oldVersion).map((b) => b.tasks),
        [['toy'], queued.map((q) => q.task)],
      );
      assert.deepEqual(
        gate.batches.filter((b) => b.version === newVersion).map((b) => b.tasks),
        [['toy2', 'toy']],
      );
      // add-task keeps the old tasks' answers bit for bit.
      const probe = [text(3, 4), text(9, 2)];
      for (const task of ['toy', 'tags']) assert.deepEqual(await newModel.predict(task, probe), await oldModel.predict(task, probe), task);
      // The old version is dropped once its requests are answered.
      const after = await (await fetch(`${base}/metrics`)).text();
      assert.match(after, modelInfo(newVersion));
      assert.doesNotMatch(after, new RegExp(`version="${oldVersion}"`));
      // A reload of the same folder again changes nothing.
      assert.deepEqual((await reload(base)).json, { version: newVersion, previous: newVersion, changed: false, tasks: ['toy', 'tags', 'toy2'] });
    } finally {
      gate.open();
      await app.close();
    }
  });

  it('at most two versions: a reload waits until the version before the current one is dropped', async () => {
    const dir = copyOfRun();
    writeFileSync(join(root, 'task3.json'), JSON.stringify({ name: 'toy3', type: 'classification', train: join(root, 'toy.jsonl'), devFraction: 0.2 }));
    const v0 = folderVersion(dir);
    const gate = new Gate();
    const { app, base } = await start(loadModel(dir), v0, { folder: dir, adminToken: TOKEN, hooks: { beforeBatch: gate.hook } }, { maxWaitMs: 0, threads: 1 });
    try {
      // A request is held on version 0 while version 1 becomes current.
      let heldAnswered = false;
      const held = call(base, 'POST', '/v1/tasks/toy/predict', { input: text(1, 2) }).then((a) => {
        heldAnswered = true;
        return a;
      });
      await gate.entered;
      await addTask(dir);
      const v1 = folderVersion(dir);
      assert.equal((await reload(base)).json.version, v1);
      // Version 2 must wait for version 0 to go: the reload is answered only after the held request.
      await addTask(dir, 'task3.json');
      const v2 = folderVersion(dir);
      const second = reload(base).then((a) => {
        assert.equal(heldAnswered, true, 'the second reload was answered while version 0 was still loaded');
        return a;
      });
      const meanwhile = await (await fetch(`${base}/metrics`)).text();
      assert.equal(meanwhile.match(/^pathwise_model_info\{/gm)?.length, 2);
      assert.equal((await call(base, 'GET', '/v1/tasks')).json.version, v1);
      gate.open();
      assert.equal((await held).status, 200);
      const r = await second;
      assert.deepEqual([r.status, r.json], [200, { version: v2, previous: v1, changed: true, tasks: ['toy', 'tags', 'toy2', 'toy3'] }]);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.deepEqual(metrics.match(/^pathwise_model_info\{.*$/gm), [`pathwise_model_info{version="${v2}"} 1`]);
    } finally {
      gate.open();
      await app.close();
    }
  });

  it('admin routes: 401 with WWW-Authenticate without the bearer token or with a wrong one; 403 when the server has no token', async () => {
    const dir = copyOfRun();
    const model = loadModel(dir);
    const version = folderVersion(dir);
    const unauthorized = {
      error: { status: 401, code: 'unauthorized', field: 'authorization', message: 'the authorization header must be "Bearer <the admin token>"' },
    };
    const { app, base } = await start(model, version, { folder: dir, adminToken: TOKEN });
    try {
      for (const auth of [null, 'Bearer wrong-token', `Bearer ${TOKEN}x`, `Basic ${TOKEN}`, TOKEN, 'Bearer ']) {
        const r = await reload(base, auth);
        assert.equal(r.status, 401, String(auth));
        assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="pathwise"');
        assert.deepEqual(r.json, unauthorized, String(auth));
      }
      const ok = await reload(base);
      assert.deepEqual([ok.status, ok.json], [200, { version, previous: version, changed: false, tasks: ['toy', 'tags'] }]);
    } finally {
      await app.close();
    }
    const off = await start(model, version, { folder: dir });
    try {
      const r = await reload(off.base);
      assert.deepEqual(
        [r.status, r.json],
        [403, { error: { status: 403, code: 'forbidden', field: null, message: 'admin routes are off: start pathwise serve with --admin-token-file FILE' } }],
      );
    } finally {
      await off.app.close();
    }
  });

  it('a reload of a broken folder answers 422 naming the file, and the old version keeps serving', async () => {
    const dir = copyOfRun();
    const model = loadModel(dir);
    const version = folderVersion(dir);
    const { app, base } = await start(model, version, { folder: dir, adminToken: TOKEN });
    const configFile = join(dir, 'config.json');
    const good = readFileSync(configFile);
    try {
      writeFileSync(configFile, '{"format": 2, "kind": ');
      const r = await reload(base);
      assert.equal(r.status, 422);
      const error = r.json.error as { status: number; code: string; field: unknown; message: string };
      assert.deepEqual([error.status, error.code, error.field], [422, 'bad_model_folder', null]);
      assert.ok(error.message.startsWith(`reload refused, still serving version ${version}: ${configFile}: not valid JSON`), error.message);
      // Still the old version.
      const p = await call(base, 'POST', '/v1/tasks/toy/predict', { input: text(2, 3) });
      assert.equal(p.status, 200);
      assertDeepClose(p.json.prediction, (await model.predict('toy', [text(2, 3)]))[0], tol, 'after the failed reload');
      assert.equal((await call(base, 'GET', '/v1/tasks')).json.version, version);
      assert.match(await (await fetch(`${base}/metrics`)).text(), modelInfo(version));
      // Repaired, it reloads (the same version).
      writeFileSync(configFile, good);
      assert.deepEqual((await reload(base)).json, { version, previous: version, changed: false, tasks: ['toy', 'tags'] });
    } finally {
      await app.close();
    }
  });
});

describe('pathwise serve: the command with --watch and --admin-token-file', () => {
  /** Runs `pathwise serve` and collects its exit code and stderr. */
  const run = (...args: string[]) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      c.stderr.on('data', (d) => (stderr += d));
      c.on('close', (code) => resolve({ code, stderr }));
    });

  it('--watch serves the task that add-task adds to the folder', async () => {
    const dir = copyOfRun();
    const child = spawn(process.execPath, [CLI, 'serve', dir, '--port', '0', '--watch', '--admin-token-file', join(root, 'token'), '--log-level', 'warn'], {
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
      assert.match(stderr, /; admin routes on; watching it\) on http/);
      const base = `http://127.0.0.1:${port}`;
      const names = async () => ((await call(base, 'GET', '/v1/tasks')).json.tasks as { name: string }[]).map((t) => t.name);
      assert.deepEqual(await names(), ['toy', 'tags']);
      await addTask(dir);
      // A guard, not a timing assertion: the watch reloads after the save's rename.
      for (let i = 0; i < 6000 && (await names()).length < 3; i++) await sleep(10);
      assert.deepEqual(await names(), ['toy', 'tags', 'toy2']);
      const model = loadModel(dir);
      const version = folderVersion(dir);
      const p = await call(base, 'POST', '/v1/tasks/toy2/predict', { inputs: [text(4, 3), text(5, 2)] });
      assert.equal(p.status, 200);
      assertDeepClose(p.json, { task: 'toy2', predictions: await model.predict('toy2', [text(4, 3), text(5, 2)]) }, tol, 'toy2');
      assert.match(await (await fetch(`${base}/metrics`)).text(), modelInfo(version));
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('an empty or unreadable admin token file exits 2 naming the file', async () => {
    const empty = join(root, 'empty-token');
    writeFileSync(empty, '  \n');
    assert.deepEqual(await run(folders.run, '--port', '0', '--admin-token-file', empty), {
      code: 2,
      stderr: `pathwise: admin token file ${empty}: it is empty; write the token in it\n`,
    });
    const missing = join(root, 'no-such-token');
    assert.deepEqual(await run(folders.run, '--port', '0', '--admin-token-file', missing), {
      code: 2,
      stderr: `pathwise: admin token file ${missing}: cannot read it (ENOENT)\n`,
    });
  });
});
