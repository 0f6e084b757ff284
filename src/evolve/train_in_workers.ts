// Trains a round of children at once, one worker thread each (worker.ts), and returns their
// outcomes in job order. A fresh worker per child: a job's result then depends on the job alone,
// never on what a thread ran before or on which child finishes first.
//
// OpenBLAS's thread count is process-wide, shared by every worker. Left at the core count, each
// worker's GEMMs would spread over all cores and the workers would fight over them, so it is 1
// for the duration of the round and restored afterwards.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { backendName, blas } from '../engine/index.js';
import { jobBuffers, type ChildJob, type ChildOutcome } from './child_job.js';
import type { EvalProgress } from './train_path.js';
import type { WorkerInput, WorkerReply } from './worker.js';

/** Worker threads cannot train here (no compiled worker script, or no native kernels in a worker); train in process instead. */
export class WorkersUnavailable extends Error {}

const WORKER_SCRIPT = new URL('./worker.js', import.meta.url);

/** Runs fn with OpenBLAS at `threads` threads, then restores the previous count (no-op on the TypeScript backend). */
export async function withBlasThreads<T>(threads: number, fn: () => Promise<T>): Promise<T> {
  if (!blas) return fn();
  const before = blas.threads();
  blas.setThreads(threads);
  try {
    return await fn();
  } finally {
    blas.setThreads(before);
  }
}

/**
 * Trains and scores every job in its own worker thread, all at once, with OpenBLAS at one thread.
 * Throws WorkersUnavailable when a worker cannot run the main thread's kernels (nothing is then
 * applied anywhere), and an Error naming the child when a child's training fails. The jobs'
 * weight buffers are transferred to the workers, so the jobs cannot be used again. `onEval` hears
 * each child's dev evaluations as its worker posts them.
 */
export async function trainInWorkers(jobs: readonly ChildJob[], onEval?: (index: number, e: EvalProgress) => void): Promise<ChildOutcome[]> {
  const script = fileURLToPath(WORKER_SCRIPT);
  if (!existsSync(script)) throw new WorkersUnavailable(`no worker script at ${script} (parallel training runs from the compiled dist/ layout)`);
  const backend = backendName();
  return withBlasThreads(1, async () => {
    const runs = jobs.map((job) => {
      const input: WorkerInput = { job, backend };
      const worker = new Worker(WORKER_SCRIPT, { workerData: input, transferList: jobBuffers(job) });
      let started = () => {};
      const ready = new Promise<void>((resolve) => (started = resolve));
      const result = new Promise<ChildOutcome>((resolve, reject) => {
        let replied = false;
        worker.on('message', (m: WorkerReply) => {
          if (m.kind === 'started') return started();
          if (m.kind === 'eval') return onEval?.(job.index, m.progress);
          replied = true;
          if (m.kind === 'done') resolve(m.outcome);
          else if (m.kind === 'unavailable') reject(new WorkersUnavailable(m.reason));
          else reject(new Error(`child ${job.index}: training in a worker thread failed: ${m.message}\n${m.stack}`));
        });
        worker.once('error', (e) => {
          started();
          reject(new Error(`child ${job.index}: worker thread ${script} failed: ${e.message}`, { cause: e }));
        });
        worker.once('exit', (code) => {
          started();
          if (!replied) reject(new Error(`child ${job.index}: worker thread ${script} exited (code ${code}) without a result`));
        });
      });
      return { worker, ready, result };
    });
    try {
      return await Promise.all(runs.map((r) => r.result));
    } finally {
      // After a failure the other workers are of no use. A worker is only stopped once it has
      // started: stopping a thread while it loads the native addon aborts the whole process (the
      // addon's initialisation cannot fail gracefully). After success this only waits for exits.
      await Promise.allSettled(
        runs.map(async (r) => {
          await r.ready;
          await r.worker.terminate();
        }),
      );
    }
  });
}
