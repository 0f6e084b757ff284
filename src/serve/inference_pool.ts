// The threads `pathwise serve` runs its batches on, off the event loop: health checks, metrics
// and new requests are answered while batches compute. Each thread (inference_worker.ts) runs the
// model rebuilt over the same shared weights (model/shared_model.ts), so N threads hold the
// weights once, and each runs one batch at a time; run() hands a batch to an idle thread, or waits
// for one.
//
// OpenBLAS's thread count is process-wide. Left at the core count, each thread's GEMMs would
// spread over every core and the threads would fight over them, so it is 1 while any pool is open
// (one GEMM per thread, one thread per core: the usual serving split), and is restored after.
//
// A thread that dies (it should not: an out-of-memory, a bug) fails the batch it was running,
// which the batcher then runs again request by request; a new thread takes its place.

import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { backendName, blas } from '../engine/index.js';
import type { MixedRequest, Prediction, SharedModel } from '../model/index.js';
import type { BatchMessage, InferenceWorkerData, WorkerReply } from './inference_worker.js';

const WORKER_SCRIPT = new URL('./inference_worker.js', import.meta.url);

/** The pool's threads could not start (no native kernels in a worker, the model did not build). */
export class ThreadsUnavailable extends Error {}

/** A batch failed in a thread: the error it threw there (its name and message). */
export class BatchError extends Error {
  constructor(
    readonly errorName: string,
    message: string,
  ) {
    super(message);
  }
}

interface Thread {
  worker: Worker;
  /** Resolves once the thread has answered its start (only then may it be terminated safely). */
  started: Promise<void>;
  /** Whether it has built the model and takes batches. */
  ready: boolean;
  busy: { id: number; resolve: (p: Prediction[]) => void; reject: (e: unknown) => void } | null;
  dead: boolean;
}

let openPools = 0;
let blasBefore = 1;

export class InferencePool {
  private readonly threads: Thread[] = [];
  private readonly waiting: (() => void)[] = [];
  private nextId = 0;
  private closed = false;

  private constructor(
    private readonly shared: SharedModel,
    private readonly onThreadLost: (reason: string) => void,
  ) {}

  /**
   * Starts `threads` threads over the shared model and resolves once all are ready. Rejects with
   * ThreadsUnavailable when one cannot serve it (every thread started is stopped).
   */
  static async start(shared: SharedModel, threads: number, onThreadLost: (reason: string) => void = () => {}): Promise<InferencePool> {
    const pool = new InferencePool(shared, onThreadLost);
    if (openPools++ === 0 && blas) {
      blasBefore = blas.threads();
      blas.setThreads(1);
    }
    try {
      await Promise.all(Array.from({ length: threads }, () => pool.spawn()));
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  /** Threads running batches or starting (a dead one being replaced is not counted). */
  get size(): number {
    return this.threads.filter((t) => !t.dead).length;
  }

  /** The predictions of one batch, run on the first idle thread. */
  async run(requests: MixedRequest[], batchSize: number): Promise<Prediction[]> {
    for (;;) {
      if (this.closed) throw new Error('the inference threads are stopped');
      if (this.size === 0) throw new Error('no inference thread is left (each one failed to start again)');
      const t = this.threads.find((t) => t.ready && !t.dead && !t.busy);
      if (t) return this.send(t, requests, batchSize);
      await new Promise<void>((res) => this.waiting.push(res));
    }
  }

  /** Stops every thread (a batch still running is failed). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiting.splice(0)) w();
    await Promise.all(
      this.threads.map(async (t) => {
        await t.started;
        t.dead = true;
        await t.worker.terminate();
      }),
    );
    if (--openPools === 0 && blas) blas.setThreads(blasBefore);
  }

  private send(t: Thread, requests: MixedRequest[], batchSize: number): Promise<Prediction[]> {
    const id = this.nextId++;
    return new Promise<Prediction[]>((resolve, reject) => {
      t.busy = { id, resolve, reject };
      t.worker.postMessage({ id, requests, batchSize } satisfies BatchMessage);
    });
  }

  /** A thread is idle again: the first run waiting for one takes it. */
  private freed(t: Thread): void {
    t.busy = null;
    this.waiting.shift()?.();
  }

  /** Starts one thread; resolves when it is ready, rejects (ThreadsUnavailable) if it cannot serve. */
  private spawn(): Promise<void> {
    const data: InferenceWorkerData = { shared: this.shared, backend: backendName() };
    const worker = new Worker(fileURLToPath(WORKER_SCRIPT), { workerData: data });
    let answered = () => {};
    const t: Thread = { worker, started: new Promise<void>((res) => (answered = res)), ready: false, busy: null, dead: false };
    this.threads.push(t);
    return new Promise<void>((ready, fail) => {
      const lost = (reason: string) => {
        answered();
        if (t.dead) return;
        t.dead = true;
        const busy = t.busy;
        t.busy = null;
        if (!t.ready) return fail(new ThreadsUnavailable(`an inference thread could not start: ${reason}`));
        busy?.reject(new Error(`the inference thread running this batch failed: ${reason}`));
        for (const w of this.waiting.splice(0)) w();
        if (this.closed) return;
        this.onThreadLost(reason);
        this.threads.splice(this.threads.indexOf(t), 1);
        // A thread in its place; if it cannot start either, the pool runs on with one fewer.
        this.spawn().then(
          () => this.waiting.shift()?.(),
          (e: Error) => this.onThreadLost(e.message),
        );
      };
      worker.on('message', (m: WorkerReply) => {
        switch (m.kind) {
          case 'ready':
            answered();
            t.ready = true;
            ready();
            return;
          case 'unavailable':
            void worker.terminate();
            return lost(m.reason);
          case 'done':
          case 'failed': {
            const busy = t.busy;
            if (!busy || busy.id !== m.id) return;
            this.freed(t);
            if (m.kind === 'done') busy.resolve(m.predictions);
            else busy.reject(new BatchError(m.name, m.message));
            return;
          }
        }
      });
      worker.on('error', (e) => lost(e.message));
      worker.on('exit', (code) => lost(`it exited (code ${code})`));
    });
  }
}
