// A TaskModel other threads can run with no copy of its weights: its parameters moved into one
// SharedArrayBuffer, beside what a "components" folder's config.json and tokenizer.json hold.
// A worker thread rebuilds the model from that (modelFromShared) through the same code that loads
// a folder (folder.ts componentsModel), its parameters views of the shared buffer: N threads
// serving one model hold its weights once. `pathwise serve` runs its batches this way
// (serve/inference_pool.ts).
//
// The weights must not change while shared: they are read by every thread at once, with no lock.
// The model's components are locked (finished tasks) in every model a server runs, so nothing
// writes them.

import { Tensor } from '../engine/index.js';
import { Tokenizer } from '../data/tokenizer/index.js';
import { withoutRandomInit } from '../nn/index.js';
import { componentsConfig, componentsModel } from './folder.js';
import type { TaskModel } from './task_model.js';

/** Plain data (structured-cloneable: postMessage shares the buffer, copies the rest). */
export interface SharedModel {
  /** The "components" config of the model (folder.ts componentsConfig). */
  config: Record<string, unknown>;
  tokenizerJson: string;
  /** Every parameter's float32 values, one after another. */
  weights: SharedArrayBuffer;
  /**
   * Each parameter, then each buffer: its name ("components.<id>.<param>"), shape, and offset in
   * 4-byte words; int32 for an integer buffer (else float32).
   */
  parameters: { name: string; shape: number[]; offset: number; int32?: true }[];
}

/**
 * Moves every parameter of `m` into one new SharedArrayBuffer (the model reads its weights there
 * from now on; their old storage is left to the GC) and describes the model for modelFromShared.
 * The values are unchanged, bit for bit.
 */
export function shareModel(m: TaskModel): SharedModel {
  const named = m.namedParameters();
  // Buffers (a head's Naive Bayes prior: float and int32 tensors) go in the same buffer, copied.
  const buffers = m.namedBuffers();
  const total = [...named, ...buffers].reduce((n, [, p]) => n + p.size, 0);
  const weights = new SharedArrayBuffer(total * 4);
  const parameters: SharedModel['parameters'] = [];
  let offset = 0;
  for (const [name, p] of named) {
    const view = new Float32Array(weights, offset * 4, p.size);
    view.set(p.f32);
    p.adoptStorage(view);
    parameters.push({ name, shape: [...p.shape], offset });
    offset += p.size;
  }
  for (const [name, b] of buffers) {
    const int = b.dtype === 'int32';
    (int ? new Int32Array(weights, offset * 4, b.size) : new Float32Array(weights, offset * 4, b.size)).set(b.data);
    parameters.push({ name, shape: [...b.shape], offset, ...(int ? { int32: true } : {}) });
    offset += b.size;
  }
  return { config: componentsConfig(m), tokenizerJson: m.tokenizer.toJsonString(), weights, parameters };
}

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * The model `s` describes, built as a folder's model is (every check included), in inference mode
 * with its tasks locked, its parameters reading the shared buffer in place.
 */
export function modelFromShared(s: SharedModel): TaskModel {
  const where = 'the shared model';
  // Every parameter is the shared buffer's: drawing their initial values would be wasted, and
  // most of the build's time. The model only predicts (its dropout streams never run).
  const model = withoutRandomInit(() =>
    componentsModel(s.config, {
      file: `${where}'s config`,
      weightsFile: `${where}'s weights`,
      tokFile: `${where}'s tokenizer`,
      tensors: () =>
        new Map(
          s.parameters.map((p) => [
            p.name,
            new Tensor(p.int32 ? new Int32Array(s.weights, p.offset * 4, numel(p.shape)) : new Float32Array(s.weights, p.offset * 4, numel(p.shape)), p.shape),
          ]),
        ),
      tokenizer: () => Tokenizer.fromJson(s.tokenizerJson, `${where}'s tokenizer`),
      adopt: true,
    }),
  );
  model.lockTasks();
  return model.eval();
}
