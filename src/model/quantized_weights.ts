// A quantized folder's weights (`pathwise quantize`): every quantized parameter is stored as
//   <name>        I8, the parameter's shape, values in [-127, 127]
//   <name>_scale  F32, the same rank, one scale per output channel, broadcast as numpy does:
//                 [..., 1] per row (a linear layer's [out, in] weight: [out, 1]; stacked experts
//                 [E, F, D]: [E, F, 1]) or [1, ..., cols] per column (an embedding table
//                 [entries, dim]: [1, dim])
// and means q · scale. Every other tensor is stored as in any folder. A reader sees the
// dequantized float32 values under <name> (so every loader's checks of names, shapes and
// finiteness apply unchanged) and, beside them, the int8 forms the loader hands to the
// parameters (engine/quantized.ts) for the int8 GEMM. Such a folder also stores its heads' Naive
// Bayes priors compactly, without loss (compact_prior.ts).

import { Tensor, dequantizeForm, int8Of, readSafetensors, type Int8Rows, type PackedTensor } from '../engine/index.js';
import { compactPriors, expandPriors } from './compact_prior.js';
import { ModelFolderError } from './folder_config.js';

export const SCALE_SUFFIX = '_scale';

export interface ModelWeights {
  /** Every parameter's values by name; a quantized one's dequantized. */
  tensors: Map<string, Tensor>;
  /** The int8 form of each quantized parameter, by name. */
  int8: Map<string, Int8Rows>;
}

/** A folder's model.safetensors, quantized or not. Errors name the file and the tensor. */
export function readModelWeights(file: string): ModelWeights {
  const { tensors, dtypes } = readSafetensors(file);
  return dequantizeWeights(tensors, dtypes, file);
}

/** @internal The tensors of a safetensors file with their stored dtypes, int8 pairs dequantized. */
export function dequantizeWeights(tensors: Map<string, Tensor>, dtypes: Map<string, string>, file: string): ModelWeights {
  const fail = (msg: string): never => {
    throw new ModelFolderError(`${file}: ${msg}`, file);
  };
  tensors = new Map(tensors);
  expandPriors(tensors, dtypes, fail);
  const out = new Map<string, Tensor>();
  const int8 = new Map<string, Int8Rows>();
  for (const [name, t] of tensors) {
    if (name.endsWith(SCALE_SUFFIX)) {
      const of = name.slice(0, -SCALE_SUFFIX.length);
      if (dtypes.get(of) !== 'I8') fail(`tensor "${name}" is a scale, but "${of}" is ${tensors.has(of) ? `${dtypes.get(of)}, not I8` : 'missing'}`);
      continue;
    }
    if (dtypes.get(name) !== 'I8') {
      out.set(name, t);
      continue;
    }
    const scaleT = tensors.get(name + SCALE_SUFFIX);
    if (!scaleT) fail(`int8 tensor "${name}" has no scale tensor "${name}${SCALE_SUFFIX}"`);
    if (t.ndim < 2) fail(`int8 tensor "${name}" has shape [${t.shape.join(', ')}]; a quantized parameter has 2 or more axes`);
    const rows = t.rows;
    const cols = t.cols;
    const s = scaleT!;
    const lead = t.shape.slice(0, -1);
    const perRow = s.ndim === t.ndim && s.shape.slice(0, -1).every((d, i) => d === lead[i]) && s.cols === 1;
    const perColumn = s.ndim === t.ndim && s.shape.slice(0, -1).every((d) => d === 1) && s.cols === cols;
    if (dtypes.get(name + SCALE_SUFFIX) !== 'F32' || !(perRow || perColumn))
      fail(
        `scale "${name}${SCALE_SUFFIX}" must be F32 of shape [${[...lead, 1].join(', ')}] (per row) or [${[...lead.map(() => 1), cols].join(', ')}] (per column) for "${name}" [${t.shape.join(', ')}], got ${dtypes.get(name + SCALE_SUFFIX)} [${s.shape.join(', ')}]`,
      );
    const axis = perRow ? 'row' : 'column';
    const scale = new Float32Array(s.f32);
    for (let r = 0; r < scale.length; r++)
      if (!(scale[r] >= 0 && scale[r] < Infinity)) fail(`scale "${name}${SCALE_SUFFIX}" ${axis} ${r} is ${scale[r]}; scales are finite and >= 0`);
    const v = t.i32;
    const q = new Int8Array(v.length);
    for (let i = 0; i < v.length; i++) {
      // -128 has no negative twin: the symmetric scheme never writes it, so it marks a damaged file.
      if (v[i] < -127) fail(`int8 tensor "${name}" holds -128 at row ${Math.floor(i / cols)}, column ${i % cols}; quantized values are in [-127, 127]`);
      q[i] = v[i];
    }
    const form: Int8Rows = { rows, cols, axis, q, scale };
    out.set(name, new Tensor(dequantizeForm(form), t.shape));
    int8.set(name, form);
  }
  return { tensors: out, int8 };
}

/**
 * A folder's named tensors as written: each parameter with an int8 form becomes its I8 tensor and
 * its scale, the rest stay as they are; with any int8 form, the priors are stored compactly.
 */
export function withInt8(named: Iterable<[string, Tensor]>): [string, Tensor | PackedTensor][] {
  const out: [string, Tensor | PackedTensor][] = [];
  let quantized = false;
  for (const [name, t] of named) {
    const f = int8Of(t);
    if (!f) out.push([name, t]);
    else {
      quantized = true;
      const scaleShape = f.axis === 'row' ? [...t.shape.slice(0, -1), 1] : [...t.shape.slice(0, -1).map(() => 1), f.cols];
      out.push([name, { dtype: 'int8', data: f.q, shape: t.shape }], [name + SCALE_SUFFIX, new Tensor(f.scale, scaleShape)]);
    }
  }
  return quantized ? compactPriors(out) : out;
}
