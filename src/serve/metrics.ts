// The server's Prometheus metrics (prom-client), on a registry of its own (never the global one,
// so two servers in one process, as in tests, count apart). GET /metrics exposes them.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Seconds: 0.5 ms to 10 s. */
const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Inputs per batch. */
const ROWS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];

export class ServeMetrics {
  readonly registry = new Registry();
  /** HTTP requests answered, by route and status. */
  readonly requests: Counter<'route' | 'status'>;
  /** Inputs predicted, by task. */
  readonly inputs: Counter<'task'>;
  /** Seconds from an input's arrival in the queue to its prediction, by task. */
  readonly latency: Histogram<'task'>;
  /** Seconds an input waited in the queue before its batch started, by task. */
  readonly queueTime: Histogram<'task'>;
  /** Inputs per batch, and distinct tasks per batch. */
  readonly batchRows: Histogram;
  readonly batchTasks: Histogram;
  /** Inputs waiting in the queue. */
  readonly queueDepth: Gauge;
  /** Requests refused because the queue was full (429). */
  readonly rejected: Counter;
  /** 1, labelled with the served model's version. */
  readonly model: Gauge<'version'>;

  constructor(version: string) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'pathwise_' });
    this.requests = new Counter({
      name: 'pathwise_http_requests_total',
      help: 'HTTP requests answered, by route and status',
      labelNames: ['route', 'status'],
      registers,
    });
    this.inputs = new Counter({ name: 'pathwise_inputs_total', help: 'inputs predicted, by task', labelNames: ['task'], registers });
    this.latency = new Histogram({
      name: 'pathwise_input_latency_seconds',
      help: "seconds from an input's arrival in the queue to its prediction, by task",
      labelNames: ['task'],
      buckets: SECONDS,
      registers,
    });
    this.queueTime = new Histogram({
      name: 'pathwise_queue_time_seconds',
      help: 'seconds an input waited in the queue before its batch started, by task',
      labelNames: ['task'],
      buckets: SECONDS,
      registers,
    });
    this.batchRows = new Histogram({ name: 'pathwise_batch_inputs', help: 'inputs per batch (all tasks together)', buckets: ROWS, registers });
    this.batchTasks = new Histogram({ name: 'pathwise_batch_tasks', help: 'distinct tasks per batch', buckets: [1, 2, 3, 4, 6, 8, 12, 16, 32, 64], registers });
    this.queueDepth = new Gauge({ name: 'pathwise_queue_depth', help: 'inputs waiting in the queue', registers });
    this.rejected = new Counter({ name: 'pathwise_queue_full_total', help: 'requests refused with 429 because the queue was full', registers });
    this.model = new Gauge({ name: 'pathwise_model_info', help: "the served model's version (1 per version loaded)", labelNames: ['version'], registers });
    this.model.set({ version }, 1);
  }
}
