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

import { Tensor, int8Of, type Int8Rows } from '../engine/index.js';
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
  /** The int8 forms of a quantized model's parameters (engine/quantized.ts), in their own buffer. */
  int8: { name: string; rows: number; cols: number; axis: 'row' | 'column'; qOffset: number; scaleOffset: number }[];
  /** Their values and scales: int8 bytes, then float32 scales (byte offsets above). */
  int8Weights: SharedArrayBuffer;
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
  // The int8 forms: each parameter's bytes, then its scales (4-byte aligned).
  const forms = named.flatMap(([name, p]) => {
    const f = int8Of(p);
    return f ? [[name, f] as [string, Int8Rows]] : [];
  });
  const align = (n: number) => Math.ceil(n / 4) * 4;
  const int8Weights = new SharedArrayBuffer(forms.reduce((n, [, f]) => n + align(f.q.length) + 4 * f.scale.length, 0));
  const int8: SharedModel['int8'] = [];
  let at = 0;
  for (const [name, f] of forms) {
    new Int8Array(int8Weights, at, f.q.length).set(f.q);
    const scaleOffset = at + align(f.q.length);
    new Float32Array(int8Weights, scaleOffset, f.scale.length).set(f.scale);
    int8.push({ name, rows: f.rows, cols: f.cols, axis: f.axis, qOffset: at, scaleOffset });
    at = scaleOffset + 4 * f.scale.length;
  }
  return { config: componentsConfig(m), tokenizerJson: m.tokenizer.toJsonString(), weights, parameters, int8, int8Weights };
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
      weights: () => ({
        tensors: new Map(
          s.parameters.map((p) => [
            p.name,
            new Tensor(p.int32 ? new Int32Array(s.weights, p.offset * 4, numel(p.shape)) : new Float32Array(s.weights, p.offset * 4, numel(p.shape)), p.shape),
          ]),
        ),
        int8: new Map(
          s.int8.map((f) => [
            f.name,
            {
              rows: f.rows,
              cols: f.cols,
              axis: f.axis,
              q: new Int8Array(s.int8Weights, f.qOffset, f.rows * f.cols),
              scale: new Float32Array(s.int8Weights, f.scaleOffset, f.axis === 'row' ? f.rows : f.cols),
            },
          ]),
        ),
      }),
      tokenizer: () => Tokenizer.fromJson(s.tokenizerJson, `${where}'s tokenizer`),
      adopt: true,
    }),
  );
  model.lockTasks();
  return model.eval();
}
