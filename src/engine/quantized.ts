// The int8 form of a parameter: what a quantized model folder stores for it, and what the int8
// inference path multiplies with.
//
// A quantized parameter is int8 with one float32 scale per output channel, symmetric
// (engine/int8.ts has the arithmetic): per row for a linear layer's weight [out, in] (stacked
// experts [E, F, D] are E·F rows), per column for an embedding table [entries, dim], whose
// output channels are its columns (a lookup is a one-hot product; and a row of a 16-wide n-gram
// bag would pay a 4-byte scale for 16 bytes). The parameter tensor itself keeps float32 values, the dequantized ones
// (q · scale): every op that reads it (the fp32 path below the int8 crossover, a gather from an
// embedding table, an export) computes with exactly the weights the folder holds, so a model's
// fp32 and int8 paths differ only by the activations' rounding.
//
// The int8 form hangs off the tensor (a WeakMap, no field on every Tensor). Training invalidates
// it: an optimizer that takes a parameter drops its int8 form (optim/adamw.ts), so a quantized
// folder used as a training base can never run stale int8 weights.

import { type Tensor, shapeStr } from './tensor.js';
import { dequantizeI8, packI8, packedLengthI8, quantizeWeightsI8 } from './int8.js';

export interface Int8Rows {
  /** The parameter as a matrix: every axis but the last is rows. */
  readonly rows: number;
  readonly cols: number;
  /** Which channels have a scale each: rows (linear layers) or columns (embedding tables). */
  readonly axis: 'row' | 'column';
  /** [rows, cols] row-major, values in [-127, 127]. */
  readonly q: Int8Array;
  /** [rows] or [cols], each >= 0: a value is q · its row's or column's scale. */
  readonly scale: Float32Array;
}

/** The float32 values an int8 form stands for (fround(q · scale), engine/int8.ts). */
export function dequantizeForm(f: Omit<Int8Rows, 'scale' | 'q'> & { q: Int8Array; scale: Float32Array }): Float32Array {
  if (f.axis === 'row') return dequantizeI8(f.q, f.scale, f.rows, f.cols);
  const w = new Float32Array(f.rows * f.cols);
  for (let r = 0; r < f.rows; r++) for (let c = 0; c < f.cols; c++) w[r * f.cols + c] = f.q[r * f.cols + c] * f.scale[c];
  return w;
}

function transposed<T extends Int8Array | Float32Array>(a: T, rows: number, cols: number): T {
  const out = new (a.constructor as new (n: number) => T)(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

interface Entry extends Int8Rows {
  /**
   * The GEMM layout (engine/int8.ts packI8) of each matrix of the last two axes (one for a linear
   * weight, one per expert of stacked experts [E, out, in]), one after another; made on first use.
   */
  packed?: Int8Array;
  /** Matrices packed, and each one's output channels. */
  groups?: number;
  groupRows?: number;
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
 * Quantizes a parameter per row (or per column), makes its values the dequantized ones and
 * records its int8 form. Throws (naming the parameter and row or column) on a value that is not
 * finite.
 */
export function quantizeParameter(p: Tensor, axis: 'row' | 'column' = 'row'): Int8Rows {
  const [rows, cols] = checkMatrix(p, 'quantizeParameter');
  let form: Int8Rows;
  try {
    if (axis === 'row') form = { rows, cols, axis, ...quantizeWeightsI8(p.f32, rows, cols) };
    else {
      // A column's scale is the row's of the transpose (the same arithmetic).
      const t = quantizeWeightsI8(transposed(p.f32, rows, cols), cols, rows);
      form = { rows, cols, axis, q: transposed(t.q, cols, rows), scale: t.scale };
    }
  } catch (e) {
    const msg = (e as Error).message;
    throw new RangeError(`${p.name || `parameter ${shapeStr(p.shape)}`}: ${axis === 'column' ? msg.replace('row', 'column') : msg}`);
  }
  p.f32.set(dequantizeForm(form));
  return setInt8(p, form);
}

/**
 * Records `form` as p's int8 form. p must already hold the dequantized values (a quantized
 * folder's tensors are read dequantized: model/quantized_weights.ts); they are not rewritten, so
 * a parameter whose storage other threads share (model/shared_model.ts) is only read.
 */
export function setInt8(p: Tensor, form: Int8Rows): Int8Rows {
  const [rows, cols] = checkMatrix(p, 'setInt8');
  if (form.rows !== rows || form.cols !== cols || form.q.length !== rows * cols || form.scale.length !== (form.axis === 'row' ? rows : cols))
    throw new RangeError(`setInt8: an int8 form of [${form.rows}, ${form.cols}] for a parameter of ${shapeStr(p.shape)}${p.name ? ` (${p.name})` : ''}`);
  const entry: Entry = { rows, cols, axis: form.axis, q: form.q, scale: form.scale };
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

/**
 * @internal p's packed weights for linearI8 (made once), or undefined when p has no int8 form per
 * row. For a weight of more than two axes ([E, out, in]), each matrix is packed on its own:
 * matrix g starts at g · packedLengthI8(out, in).
 */
export function packedInt8(p: Tensor): { form: Int8Rows; packed: Int8Array; groups: number; groupRows: number } | undefined {
  const e = forms.get(p);
  if (e?.axis !== 'row') return undefined;
  if (!e.packed) {
    const out = p.ndim > 2 ? p.shape[p.ndim - 2] : e.rows;
    const groups = e.rows / out;
    const size = packedLengthI8(out, e.cols);
    const packed = new Int8Array(groups * size);
    for (let g = 0; g < groups; g++) packed.set(packI8(e.q.subarray(g * out * e.cols, (g + 1) * out * e.cols), out, e.cols), g * size);
    e.packed = packed;
    e.groups = groups;
    e.groupRows = out;
  }
  return { form: e, packed: e.packed, groups: e.groups!, groupRows: e.groupRows! };
}
