// The entry of a worker thread that trains one child of a search (train_in_workers.ts starts it
// with the job as workerData). It says when it has started, posts each of the child's dev
// evaluations as it comes (the search reports them), then posts back exactly one result,
// the trained weights transferred, not copied. A worker that cannot run the main thread's kernels
// (the native addon failed to load in it) trains nothing and says so: its results would differ
// from the in-process ones, and the TypeScript kernels are far slower. The main thread then
// trains in process.

import { parentPort, workerData } from 'node:worker_threads';
import { followBackend, type BackendName } from '../engine/index.js';
import { outcomeBuffers, runChildJob, type ChildJob, type ChildOutcome } from './child_job.js';
import type { EvalProgress } from './train_path.js';

export interface WorkerInput {
  job: ChildJob;
  /** The main thread's backend: the worker must run the same kernels. */
  backend: BackendName;
}

export type WorkerReply =
  /** The modules (native addons included) are loaded: the thread can now be stopped safely. */
  | { kind: 'started' }
  | { kind: 'eval'; progress: EvalProgress }
  | { kind: 'done'; outcome: ChildOutcome }
  | { kind: 'unavailable'; reason: string }
  | { kind: 'failed'; message: string; stack: string };

async function main(port: NonNullable<typeof parentPort>, input: WorkerInput): Promise<void> {
  port.postMessage({ kind: 'started' } satisfies WorkerReply);
  const unavailable = followBackend(input.backend);
  if (unavailable) {
    port.postMessage({ kind: 'unavailable', reason: unavailable } satisfies WorkerReply);
    return;
  }
  try {
    const outcome = await runChildJob(input.job, (progress) => port.postMessage({ kind: 'eval', progress } satisfies WorkerReply));
    port.postMessage({ kind: 'done', outcome } satisfies WorkerReply, outcomeBuffers(outcome));
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    port.postMessage({ kind: 'failed', message: err.message, stack: err.stack ?? err.message } satisfies WorkerReply);
  }
}

if (parentPort) void main(parentPort, workerData as WorkerInput);
