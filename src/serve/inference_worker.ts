// The entry of one inference thread of `pathwise serve` (inference_pool.ts starts it). It rebuilds
// the served model from shared memory (model/shared_model.ts: the weights are the main thread's,
// not a copy), says it is ready, then answers each batch it is sent with TaskModel.predictMixed,
// the same call the server makes when it runs batches in process. One batch at a time.

import { parentPort, workerData } from 'node:worker_threads';
import { followBackend, setPoolLimit, type BackendName } from '../engine/index.js';
import { modelFromShared, type MixedRequest, type Prediction, type SharedModel } from '../model/index.js';

export interface InferenceWorkerData {
  shared: SharedModel;
  /** The main thread's backend: the worker runs the same kernels, or refuses to start. */
  backend: BackendName;
}

/** A batch to run: rows of any tasks, at most batchSize per forward pass. */
export interface BatchMessage {
  id: number;
  requests: MixedRequest[];
  batchSize: number;
}

export type WorkerReply =
  | { kind: 'ready' }
  /** The thread cannot serve the model (its kernels, or the model failed to build): it stops. */
  | { kind: 'unavailable'; reason: string }
  | { kind: 'done'; id: number; predictions: Prediction[] }
  | { kind: 'failed'; id: number; name: string; message: string };

/**
 * The buffer pool's cap in an inference thread (MiB), unless PATHWISE_POOL_MB sets one: enough
 * for the activations of a few batches, not the 2 GiB cap training has (that, in every thread,
 * could be most of a server's memory).
 */
export const INFERENCE_POOL_MB = 128;

function start(port: NonNullable<typeof parentPort>, data: InferenceWorkerData): void {
  if (process.env.PATHWISE_POOL_MB === undefined) setPoolLimit(INFERENCE_POOL_MB);
  const unavailable = followBackend(data.backend);
  if (unavailable) {
    port.postMessage({ kind: 'unavailable', reason: unavailable } satisfies WorkerReply);
    return;
  }
  let model: ReturnType<typeof modelFromShared>;
  try {
    model = modelFromShared(data.shared);
  } catch (e) {
    port.postMessage({ kind: 'unavailable', reason: `the model did not build: ${(e as Error).message}` } satisfies WorkerReply);
    return;
  }
  port.on('message', (m: BatchMessage) => {
    model.predictMixed(m.requests, { batchSize: m.batchSize }).then(
      (predictions) => port.postMessage({ kind: 'done', id: m.id, predictions } satisfies WorkerReply),
      (e: unknown) => {
        const err = e instanceof Error ? e : new Error(String(e));
        port.postMessage({ kind: 'failed', id: m.id, name: err.name, message: err.message } satisfies WorkerReply);
      },
    );
  });
  port.postMessage({ kind: 'ready' } satisfies WorkerReply);
}

if (parentPort) start(parentPort, workerData as InferenceWorkerData);
