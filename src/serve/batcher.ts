// Dynamic batching: requests' inputs wait in one bounded queue, of any tasks together, and run as
// one batch when `maxBatchRows` of them are waiting or the oldest has waited `maxWaitMs`. Up to
// `concurrency` batches run at once (one per inference thread); a request's inputs may be split
// over several batches, and it is answered when the last of them is done. A request that would
// take the queue past `maxQueueRows` is refused at once (QueueFullError: the server answers 429
// with Retry-After): the queue never grows without bound. close() refuses new requests, runs what is queued without waiting, and resolves when the
// last batch is done.

/** The queue has no room for the request's inputs. */
export class QueueFullError extends Error {
  constructor(
    readonly rows: number,
    readonly waiting: number,
    readonly capacity: number,
  ) {
    super(`the queue is full (${waiting} inputs waiting of ${capacity}; this request has ${rows})`);
  }
}

/** The batcher is closing: it takes nothing new. */
export class ClosingError extends Error {
  constructor() {
    super('the server is shutting down');
  }
}

export interface BatcherOptions {
  maxWaitMs: number;
  maxBatchRows: number;
  maxQueueRows: number;
  /** Batches running at once at most (default 1). */
  concurrency?: number;
}

/** What the batcher reports (metrics). */
export interface BatcherEvents<T> {
  /** A batch is about to run: its items, and how long (ms) each waited in the queue. May hold the batch (tests). */
  beforeBatch?: (items: readonly T[], waitedMs: readonly number[]) => void | Promise<void>;
  /** The queue's depth changed. */
  onDepth?: (rows: number) => void;
}

interface Pending<T, R> {
  item: T;
  enqueued: number;
  request: Request<R>;
  index: number;
}

interface Request<R> {
  results: R[];
  left: number;
  resolve: (r: R[]) => void;
  reject: (e: unknown) => void;
  failed: boolean;
}

export class Batcher<T, R> {
  private readonly queue: Pending<T, R>[] = [];
  private readonly running = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private closing = false;
  private drained: Promise<void> | null = null;

  constructor(
    private readonly o: BatcherOptions,
    /** Runs one batch: a result per item, in order. */
    private readonly run: (items: T[]) => Promise<R[]>,
    private readonly events: BatcherEvents<T> = {},
  ) {}

  /** Inputs waiting (not yet in a running batch). */
  get depth(): number {
    return this.queue.length;
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** A result per item, in order, once every item has run. Throws QueueFullError or ClosingError at once. */
  submit(items: readonly T[]): Promise<R[]> {
    if (this.closing) return Promise.reject(new ClosingError());
    if (this.queue.length + items.length > this.o.maxQueueRows) return Promise.reject(new QueueFullError(items.length, this.queue.length, this.o.maxQueueRows));
    if (items.length === 0) return Promise.resolve([]);
    return new Promise<R[]>((resolve, reject) => {
      const request: Request<R> = { results: new Array(items.length), left: items.length, resolve, reject, failed: false };
      const now = performance.now();
      items.forEach((item, index) => this.queue.push({ item, enqueued: now, request, index }));
      this.events.onDepth?.(this.queue.length);
      this.schedule();
    });
  }

  /** Takes nothing new; resolves when every queued input has run. */
  close(): Promise<void> {
    this.closing = true;
    if (!this.drained) {
      this.drained = (async () => {
        this.schedule();
        while (this.running.size || this.queue.length) {
          if (this.running.size) await Promise.race(this.running);
          else this.schedule();
        }
      })();
    }
    return this.drained;
  }

  /** Starts batches while they are due and may run, else sets the timer for when the oldest input is due. */
  private schedule(): void {
    for (;;) {
      if (this.running.size >= (this.o.concurrency ?? 1) || this.queue.length === 0) return;
      const waited = performance.now() - this.queue[0].enqueued;
      if (!(this.closing || this.queue.length >= this.o.maxBatchRows || waited >= this.o.maxWaitMs)) break;
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      const run: Promise<void> = this.runBatch().finally(() => {
        this.running.delete(run);
        this.schedule();
      });
      this.running.add(run);
    }
    if (!this.timer) {
      this.timer = setTimeout(
        () => {
          this.timer = null;
          this.schedule();
        },
        Math.max(0, this.o.maxWaitMs - (performance.now() - this.queue[0].enqueued)),
      );
    }
  }

  private async runBatch(): Promise<void> {
    const batch = this.queue.splice(0, this.o.maxBatchRows);
    this.events.onDepth?.(this.queue.length);
    const now = performance.now();
    const items = batch.map((p) => p.item);
    try {
      await this.events.beforeBatch?.(
        items,
        batch.map((p) => now - p.enqueued),
      );
    } catch (e) {
      this.fail(batch, e);
      return;
    }
    try {
      this.deliver(batch, await this.run(items));
    } catch (e) {
      // One request's input must not fail the others batched with it: each request's inputs are
      // run again on their own, and only the requests that fail alone are answered with the error.
      const byRequest = new Map<Request<R>, Pending<T, R>[]>();
      for (const p of batch) byRequest.set(p.request, [...(byRequest.get(p.request) ?? []), p]);
      if (byRequest.size === 1) return this.fail(batch, e);
      for (const part of byRequest.values()) {
        try {
          this.deliver(part, await this.run(part.map((p) => p.item)));
        } catch (err) {
          this.fail(part, err);
        }
      }
    }
  }

  private deliver(part: readonly Pending<T, R>[], results: readonly R[]): void {
    part.forEach((p, k) => {
      const r = p.request;
      r.results[p.index] = results[k];
      if (--r.left === 0 && !r.failed) r.resolve(r.results);
    });
  }

  /** Rejects the requests of `part`, and drops their inputs still queued. */
  private fail(part: readonly Pending<T, R>[], e: unknown): void {
    const failed = new Set<Request<R>>();
    for (const p of part) {
      if (p.request.failed) continue;
      p.request.failed = true;
      p.request.reject(e);
      failed.add(p.request);
    }
    const kept = this.queue.filter((p) => !failed.has(p.request));
    if (kept.length !== this.queue.length) {
      this.queue.splice(0, this.queue.length, ...kept);
      this.events.onDepth?.(this.queue.length);
    }
  }
}
