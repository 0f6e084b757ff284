// The int8 form of a parameter: what a quantized model folder stores for it, and what the int8
// inference path multiplies with.
//
// A quantized parameter (a weight matrix [rows, cols]: a linear layer's [out, in], an embedding
// table's [entries, dim]) is int8 with one float32 scale per row, symmetric (engine/int8.ts has
// the arithmetic). The parameter tensor itself keeps float32 values, the dequantized ones
// (q · scale): every op that reads it (the fp32 path below the int8 crossover, a gather from an
// embedding table, an export) computes with exactly the weights the folder holds, so a model's
// fp32 and int8 paths differ only by the activations' rounding.
//
// The int8 form hangs off the tensor (a WeakMap, no field on every Tensor). Training invalidates
// it: an optimizer that takes a parameter drops its int8 form (optim/adamw.ts), so a quantized
// folder used as a training base can never run stale int8 weights.

import { type Tensor, shapeStr } from './tensor.js';
import { dequantizeI8, packI8, quantizeWeightsI8 } from './int8.js';

export interface Int8Rows {
  readonly rows: number;
  readonly cols: number;
  /** [rows, cols] row-major, values in [-127, 127]. */
  readonly q: Int8Array;
  /** [rows], >= 0; the row's values are q · scale. */
  readonly scale: Float32Array;
}

interface Entry extends Int8Rows {
  /** The GEMM layout (engine/int8.ts packI8), made on first use: only linear layers need it. */
  packed?: Int8Array;
}

const forms = new WeakMap<Tensor, Entry>();

/** A parameter as the matrix its rows are quantized in: every axis but the last is rows (experts [E, F, D]: E·F rows). */
function checkMatrix(p: Tensor, what: string): [number, number] {
  if (p.ndim < 2 || p.dtype !== 'float32')
    throw new RangeError(
      `${what}: a quantized parameter is a float32 tensor of 2 or more axes, got ${p.dtype} ${shapeStr(p.shape)}${p.name ? ` (${p.name})` : ''}`,
    );
  return [p.rows, p.cols];
}

/**
 * Quantizes a parameter per row, makes its values the dequantized ones and records its int8
 * form. Throws (naming the parameter and row) on a value that is not finite.
 */
export function quantizeParameter(p: Tensor): Int8Rows {
  const [rows, cols] = checkMatrix(p, 'quantizeParameter');
  let qs: { q: Int8Array; scale: Float32Array };
  try {
    qs = quantizeWeightsI8(p.f32, rows, cols);
  } catch (e) {
    throw new RangeError(`${p.name || `parameter ${shapeStr(p.shape)}`}: ${(e as Error).message}`);
  }
  p.f32.set(dequantizeI8(qs.q, qs.scale, rows, cols));
  return setInt8(p, { rows, cols, q: qs.q, scale: qs.scale });
}

/**
 * Records `form` as p's int8 form. p must already hold the dequantized values (a quantized
 * folder's tensors are read dequantized: model/quantized_weights.ts); they are not rewritten, so
 * a parameter whose storage other threads share (model/shared_model.ts) is only read.
 */
export function setInt8(p: Tensor, form: Int8Rows): Int8Rows {
  const [rows, cols] = checkMatrix(p, 'setInt8');
  if (form.rows !== rows || form.cols !== cols || form.q.length !== rows * cols || form.scale.length !== rows)
    throw new RangeError(`setInt8: an int8 form of [${form.rows}, ${form.cols}] for a parameter of ${shapeStr(p.shape)}${p.name ? ` (${p.name})` : ''}`);
  const entry: Entry = { rows, cols, q: form.q, scale: form.scale };
  forms.set(p, entry);
  return entry;
}

/** p's int8 form, or undefined when p is not quantized. */
export function int8Of(p: Tensor): Int8Rows | undefined {
  return forms.get(p);
}

/** Forgets p's int8 form (its values are about to change: training). */
export function dropInt8(p: Tensor): void {
  forms.delete(p);
}

/** @internal p's packed weights for linearI8 (made once), or undefined when p is not quantized. */
export function packedInt8(p: Tensor): { form: Int8Rows; packed: Int8Array } | undefined {
  const e = forms.get(p);
  if (!e) return undefined;
  e.packed ??= packI8(e.q, e.rows, e.cols);
  return { form: e, packed: e.packed };
}
