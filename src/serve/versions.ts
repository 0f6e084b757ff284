// The model versions a server holds, side by side, and reloading the folder.
//
// Each loaded version has its own batcher (queue) and its own inference threads
// (inference_pool.ts) over its weights, shared with the threads, not copied. A request takes the
// current version when it arrives and runs on it to the end (use()); a reload loads the folder's
// new version completely (in a thread of its own: the server keeps answering meanwhile), starts its
// threads, and only then makes it current. The old version is dropped (its queue is empty by
// then, its threads stopped) once the last request that took it is answered. A reload waits for
// the version before the current one to be dropped, so at most two are ever loaded.
//
// With `threads` 0 a version runs its batches on the event loop, and a reload loads in process.

import type { FastifyBaseLogger } from 'fastify';
import { modelFromShared, shareModel, type MixedRequest, type Prediction, type SharedModel, type TaskModel } from '../model/index.js';
import { InputError } from '../util/errors.js';
import { HttpError } from './api.js';
import { Batcher, ClosingError } from './batcher.js';
import { InferencePool } from './inference_pool.js';
import type { ServeMetrics } from './metrics.js';
import { loadVersion, loadVersionInThread } from './model_version.js';
import { inferenceThreads, type ServeConfig } from './serve_config.js';

/** One loaded version of the model: what was queued on it runs on it. */
export interface Version {
  model: TaskModel;
  version: string;
  batcher: Batcher<MixedRequest, Prediction>;
  /** Its inference threads once started; null while starting, and when batches run in process. */
  pool: InferencePool | null;
  /** Resolves when the version can run batches (its threads are up, or it runs them in process). */
  ready: Promise<void>;
  isReady: boolean;
  /** Requests that took this version and are not answered yet. */
  users: number;
  /** Called once the version is dropped. */
  dropped: () => void;
}

/** What a reload answers. */
export interface ReloadResult {
  /** The version now served. */
  version: string;
  /** The version served before. */
  previous: string;
  /** Whether the folder held a new version (false: it is the one already served). */
  changed: boolean;
  tasks: string[];
}

export interface VersionsOptions {
  cfg: ServeConfig;
  metrics: ServeMetrics;
  log: FastifyBaseLogger;
  /** The model's folder: what reload() loads again. */
  folder?: string;
  /** Test hooks. beforeBatch may hold a batch (return a promise): the queue fills meanwhile. */
  hooks?: { beforeBatch?: (items: readonly MixedRequest[], version: string) => void | Promise<void> };
}

export class Versions {
  /** The version new requests take. */
  current: Version;
  /** The one before it, while requests that took it are unanswered. */
  private previous: Version | null = null;
  private previousDropped: Promise<void> = Promise.resolve();
  private reloads: Promise<unknown> = Promise.resolve();
  private closing = false;

  constructor(
    model: TaskModel,
    version: string,
    private readonly o: VersionsOptions,
  ) {
    this.current = this.makeVersion(model, version, null);
  }

  /** Inputs waiting in the queues. */
  get depth(): number {
    return this.current.batcher.depth + (this.previous?.batcher.depth ?? 0);
  }

  /** Runs fn on the current version, which stays loaded until fn is done. */
  async use<T>(fn: (v: Version) => Promise<T>): Promise<T> {
    const v = this.current;
    v.users++;
    try {
      return await fn(v);
    } finally {
      if (--v.users === 0 && v === this.previous) this.drop(v);
    }
  }

  /** Loads the folder again and serves its version, if new. Reloads run one at a time. */
  reload(): Promise<ReloadResult> {
    const r = this.reloads.then(async (): Promise<ReloadResult> => {
      const { folder } = this.o;
      if (!folder) throw new HttpError(409, 'no_folder', null, 'this server was started without a model folder to reload');
      // At most two versions: the one before the current must be gone before a third is loaded.
      await this.previousDropped;
      if (this.closing) throw new ClosingError();
      const old = this.current;
      let loaded: { model: TaskModel; version: string; shared: SharedModel | null };
      try {
        if (inferenceThreads(this.o.cfg) === 0) loaded = { ...loadVersion(folder), shared: null };
        else {
          const { shared, version } = await loadVersionInThread(folder);
          loaded = { model: version === old.version ? old.model : modelFromShared(shared), version, shared };
        }
      } catch (e) {
        if (e instanceof InputError) throw new HttpError(422, 'bad_model_folder', null, `reload refused, still serving version ${old.version}: ${e.message}`);
        throw e;
      }
      const tasks = [...loaded.model.tasks.keys()];
      if (loaded.version === old.version) return { version: old.version, previous: old.version, changed: false, tasks };
      const next = this.makeVersion(loaded.model, loaded.version, loaded.shared);
      await next.ready;
      if (this.closing) {
        await this.retire(next);
        throw new ClosingError();
      }
      this.current = next;
      this.o.metrics.model.set({ version: loaded.version }, 1);
      this.previous = old;
      this.previousDropped = new Promise<void>((res) => (old.dropped = res));
      if (old.users === 0) this.drop(old);
      return { version: loaded.version, previous: old.version, changed: true, tasks };
    });
    this.reloads = r.catch(() => {});
    return r;
  }

  /** Takes no new request; the queued ones still run. */
  stopIntake(): void {
    this.closing = true;
    for (const v of [this.current, this.previous]) void v?.batcher.close();
  }

  /** Runs every queued input, then stops every version's threads. */
  async close(): Promise<void> {
    this.stopIntake();
    await this.reloads;
    await Promise.all([this.current, this.previous].map((v) => v && this.retire(v)));
  }

  private makeVersion(model: TaskModel, version: string, shared: SharedModel | null): Version {
    const { cfg, metrics, hooks, log } = this.o;
    const threads = inferenceThreads(cfg);
    const v: Version = {
      model,
      version,
      pool: null,
      ready: Promise.resolve(),
      isReady: threads === 0,
      users: 0,
      dropped: () => {},
      batcher: null as unknown as Version['batcher'],
    };
    if (threads > 0) {
      // The threads start in the background: requests queue meanwhile (readyz says "starting").
      // Threads that cannot run (no native kernels in a worker) leave the batches in process.
      v.ready = InferencePool.start(shared ?? shareModel(model), threads, (reason) =>
        log.error({ version }, `an inference thread failed (${reason}); one takes its place`),
      ).then(
        (pool) => {
          v.pool = pool;
          v.isReady = true;
        },
        (e: Error) => {
          log.warn({ version }, `${e.message}: batches run on the event loop`);
          v.isReady = true;
        },
      );
    }
    v.batcher = new Batcher<MixedRequest, Prediction>(
      { ...cfg, concurrency: Math.max(1, threads) },
      async (items) => {
        await v.ready;
        return v.pool ? v.pool.run(items, cfg.maxBatchRows) : model.predictMixed(items, { batchSize: cfg.maxBatchRows });
      },
      {
        beforeBatch: async (items, waitedMs) => {
          metrics.batchRows.observe(items.length);
          metrics.batchTasks.observe(new Set(items.map((i) => i.task)).size);
          items.forEach((it, k) => metrics.queueTime.observe({ task: it.task }, waitedMs[k] / 1000));
          await hooks?.beforeBatch?.(items, version);
        },
        onDepth: () => metrics.queueDepth.set(this.depth),
      },
    );
    return v;
  }

  /** Its requests are answered (so its queue is empty): the old version goes. */
  private drop(v: Version): void {
    this.previous = null;
    this.o.metrics.model.remove({ version: v.version });
    void this.retire(v).finally(v.dropped);
  }

  /** Runs what is queued on the version, then stops its threads. */
  private async retire(v: Version): Promise<void> {
    await v.batcher.close();
    await v.ready;
    await v.pool?.close();
  }
}
