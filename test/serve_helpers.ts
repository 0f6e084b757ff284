// What the serve tests share: an HTTP call that reads a JSON answer, a bounded wait on /metrics,
// and what predict answers for a list of mixed requests (what the server must equal).

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MixedRequest, Prediction, TaskModel } from '../src/model/index.js';

export interface Answer {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

/** One request; a string body is sent as it is (malformed JSON), anything else as JSON. */
export async function call(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const r = await fetch(base + path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const t = await r.text();
  return { status: r.status, headers: r.headers, json: r.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(t) : { text: t } };
}

/** Waits (bounded) until the metrics text matches: a way to know the queue's state, not a timing check. */
export async function untilMetrics(base: string, re: RegExp): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (re.test(await (await fetch(`${base}/metrics`)).text())) return;
    await sleep(10);
  }
  assert.fail(`metrics never matched ${re}`);
}

/** What predict answers on `model` for each request, in order. */
export async function expected(model: TaskModel, reqs: readonly MixedRequest[]): Promise<Prediction[]> {
  const out: Prediction[] = new Array(reqs.length);
  for (const task of model.tasks.keys()) {
    const idx = [...reqs.keys()].filter((i) => reqs[i].task === task);
    if (!idx.length) continue;
    const p = await model.predict(
      task,
      idx.map((i) => reqs[i].input),
    );
    idx.forEach((i, k) => (out[i] = p[k]));
  }
  return out;
}
