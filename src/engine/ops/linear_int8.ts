// The int8 linear layer: y = act(x Wᵀ + b) with W's int8 form (engine/quantized.ts) and x
// quantized per row at run time, int8 × int8 products accumulated exactly in int32
// (kernels.ts: quantizeRowsI8, linearI8). Inference only: it records nothing for backward.

import { K, int8 } from '../backend.js';
import { isGradEnabled } from '../autograd.js';
import { ACTIVATION_OPS, type ActivationName } from './activation.js';
import { KBLOCK_I8 } from '../int8.js';
import { packedInt8 } from '../quantized.js';
import { emptyF32 } from '../storage.js';
import { Tensor, shapeStr } from '../tensor.js';

/**
 * Rows (tokens) per call below which a quantized linear layer runs in fp32 on its dequantized
 * weights, because there quantizing the activations would cost more than the int8 GEMM saves.
 * bench/infer.ts measures the crossover (docs/results/int8.md): on AMX and VNNI the int8 GEMM
 * is faster from one row up, so the default is 1. setInt8MinRows changes it.
 */
export const DEFAULT_INT8_MIN_ROWS = 1;
let minRows: number | null = null;

/**
 * Sets the crossover (rows per call from which int8 runs; null: the default for this CPU);
 * returns the previous setting.
 */
export function setInt8MinRows(rows: number | null): number | null {
  if (rows !== null && (!Number.isInteger(rows) || rows < 1)) throw new RangeError(`setInt8MinRows: rows must be an integer >= 1, got ${rows}`);
  const prev = minRows;
  minRows = rows;
  return prev;
}

/**
 * The crossover in effect. Without int8 dot-product instructions (the native 'avx2' and 'scalar'
 * paths) the int8 GEMM is slower than OpenBLAS's fp32 one at every size (0.7-0.9x measured on
 * AVX2), so there int8 never runs by default: a quantized folder still loads, as small, and
 * computes in fp32 on its dequantized weights.
 */
function crossover(): number {
  if (minRows !== null) return minRows;
  const isa = K.name === 'native' ? int8.isa() : 'ts';
  return isa === 'avx2' || isa === 'scalar' ? Number.POSITIVE_INFINITY : DEFAULT_INT8_MIN_ROWS;
}

/** Whether linearI8 would run for x through w: w has an int8 form per row, no gradient is wanted, enough rows. */
export function int8Applies(x: Tensor, w: Tensor): boolean {
  return !isGradEnabled() && x.rows >= crossover() && packedInt8(w) !== undefined;
}

// Quantized activations: int8 rows and their scales. Calls never overlap (one JS thread), and
// quantizeRowsI8 writes every byte the GEMM reads (padding included), so one buffer, grown when a
// call needs more, serves them all: no 1-4 MB allocation and zero-fill per layer. ffnI8's hidden
// layer has a buffer of its own, as its input's is still being read while it is written.
class QuantizedRows {
  private q = new Int8Array(0);
  private s = new Float32Array(0);
  take(R: number, Kp: number): { q: Int8Array; s: Float32Array } {
    if (this.q.length < R * Kp) this.q = new Int8Array(R * Kp);
    if (this.s.length < R) this.s = new Float32Array(R);
    return { q: this.q.subarray(0, R * Kp), s: this.s.subarray(0, R) };
  }
}
const inputRows = new QuantizedRows();
const hiddenRows = new QuantizedRows();

/** An activation the int8 GEMM's epilogue can apply. */
export type FusedActivation = ActivationName;

/**
 * x [..., in] through a quantized weight w [out, in] (its int8 form must exist) and bias b [out]:
 * [..., out], then `act` if given (fused into the GEMM's epilogue).
 */
export function linearI8(x: Tensor, w: Tensor, b: Tensor | null = null, act: FusedActivation | null = null): Tensor {
  if (isGradEnabled() && (x.requiresGrad || w.requiresGrad || b?.requiresGrad))
    throw new Error('linearI8: the int8 linear layer is for inference (it has no backward); run it under noGrad() or inference()');
  const p = packedInt8(w);
  if (!p) throw new Error(`linearI8: weight ${w.name || shapeStr(w.shape)} has no int8 form (quantize it first)`);
  if (w.ndim !== 2) throw new RangeError(`linearI8: weight must be [out, in], got ${shapeStr(w.shape)} (groupedLinearI8 takes stacked experts)`);
  const { rows: O, cols: I } = p.form;
  if (x.cols !== I) throw new RangeError(`linearI8: input ${shapeStr(x.shape)} does not end in ${I} (weight ${shapeStr(w.shape)})`);
  if (b && (b.ndim !== 1 || b.size !== O)) throw new RangeError(`linearI8: bias must be [${O}], got ${shapeStr(b.shape)}`);
  const R = x.rows;
  const Kp = Math.ceil(I / KBLOCK_I8) * KBLOCK_I8;
  const { q: qx, s: sx } = inputRows.take(R, Kp);
  K.quantizeRowsI8(qx, sx, x.f32, R, I, Kp);
  const Y = emptyF32(R * O);
  K.linearI8(R, O, Kp, qx, Kp, sx, p.packed, p.form.scale, b ? b.f32 : null, Y, act === null ? -1 : ACTIVATION_OPS[act]);
  return new Tensor(Y, [...x.shape.slice(0, -1), O]);
}

/**
 * A feed-forward network in int8: linearI8(act(linearI8(x, w1, b1)), w2, b2), the hidden layer
 * handed quantized from the first GEMM to the second (K.linearI8Requant) instead of written in
 * float32 and read back: bit for bit the two linearI8 calls, with less memory traffic.
 */
export function ffnI8(x: Tensor, w1: Tensor, b1: Tensor | null, act: FusedActivation, w2: Tensor, b2: Tensor | null): Tensor {
  const p2 = packedInt8(w2);
  if (!p2) throw new Error(`ffnI8: weight ${w2.name || shapeStr(w2.shape)} has no int8 form (quantize it first)`);
  const p1 = packedInt8(w1);
  if (!p1) throw new Error(`ffnI8: weight ${w1.name || shapeStr(w1.shape)} has no int8 form (quantize it first)`);
  if (isGradEnabled() && (x.requiresGrad || w1.requiresGrad || w2.requiresGrad || b1?.requiresGrad || b2?.requiresGrad))
    throw new Error('ffnI8: the int8 FFN is for inference (it has no backward); run it under noGrad() or inference()');
  const { rows: F, cols: I } = p1.form;
  const { rows: O, cols: F2 } = p2.form;
  if (w1.ndim !== 2 || w2.ndim !== 2 || F2 !== F) throw new RangeError(`ffnI8: weights ${shapeStr(w1.shape)} and ${shapeStr(w2.shape)} do not chain`);
  if (x.cols !== I) throw new RangeError(`ffnI8: input ${shapeStr(x.shape)} does not end in ${I}`);
  if (b1 && (b1.ndim !== 1 || b1.size !== F)) throw new RangeError(`ffnI8: first bias must be [${F}], got ${shapeStr(b1.shape)}`);
  if (b2 && (b2.ndim !== 1 || b2.size !== O)) throw new RangeError(`ffnI8: second bias must be [${O}], got ${shapeStr(b2.shape)}`);
  const R = x.rows;
  const Kp1 = Math.ceil(I / KBLOCK_I8) * KBLOCK_I8;
  const Kp2 = Math.ceil(F / KBLOCK_I8) * KBLOCK_I8;
  const { q: qx, s: sx } = inputRows.take(R, Kp1);
  K.quantizeRowsI8(qx, sx, x.f32, R, I, Kp1);
  const { q: qh, s: sh } = hiddenRows.take(R, Kp2);
  K.linearI8Requant(R, F, Kp1, qx, Kp1, sx, p1.packed, p1.form.scale, b1 ? b1.f32 : null, ACTIVATION_OPS[act], qh, sh, Kp2);
  const Y = emptyF32(R * O);
  K.linearI8(R, O, Kp2, qh, Kp2, sh, p2.packed, p2.form.scale, b2 ? b2.f32 : null, Y, -1);
  return new Tensor(Y, [...x.shape.slice(0, -1), O]);
}

/**
 * The int8 twin of groupedLinear (ops/grouped.ts), for Switch experts in inference: rows of x
 * grouped by expert (group e owns rows offsets[e] .. offsets[e+1]), each multiplied by its own
 * quantized weight w[e] [out, in] (w [E, out, in] with an int8 form) plus b[e], then `act`. The
 * activations are quantized once for all groups; an expert with no rows costs nothing.
 */
export function groupedLinearI8(x: Tensor, w: Tensor, b: Tensor | null, offsets: Int32Array, act: FusedActivation | null = null): Tensor {
  if (isGradEnabled() && (x.requiresGrad || w.requiresGrad || b?.requiresGrad))
    throw new Error('groupedLinearI8: the int8 layer is for inference (it has no backward); run it under noGrad() or inference()');
  const p = packedInt8(w);
  if (!p || w.ndim !== 3) throw new Error(`groupedLinearI8: weight ${w.name || shapeStr(w.shape)} must be [E, out, in] with an int8 form`);
  const [E, O, I] = w.shape;
  const M = x.rows;
  if (x.cols !== I) throw new RangeError(`groupedLinearI8: input ${shapeStr(x.shape)} does not end in ${I}`);
  if (offsets.length !== E + 1 || offsets[0] !== 0 || offsets[E] !== M)
    throw new RangeError(`groupedLinearI8: offsets must have ${E + 1} entries from 0 to ${M}`);
  if (b && (b.ndim !== 2 || b.shape[0] !== E || b.shape[1] !== O)) throw new RangeError(`groupedLinearI8: bias must be [${E}, ${O}], got ${shapeStr(b.shape)}`);
  const Kp = Math.ceil(I / KBLOCK_I8) * KBLOCK_I8;
  const { q: qx, s: sx } = inputRows.take(M, Kp);
  K.quantizeRowsI8(qx, sx, x.f32, M, I, Kp);
  const Y = emptyF32(M * O);
  const size = p.packed.length / E;
  const code = act === null ? -1 : ACTIVATION_OPS[act];
  for (let e = 0; e < E; e++) {
    const [r0, r1] = [offsets[e], offsets[e + 1]];
    if (r1 <= r0) continue;
    K.linearI8(
      r1 - r0,
      O,
      Kp,
      qx.subarray(r0 * Kp, r1 * Kp),
      Kp,
      sx.subarray(r0, r1),
      p.packed.subarray(e * size, (e + 1) * size),
      p.form.scale.subarray(e * O, (e + 1) * O),
      b ? b.f32.subarray(e * O, (e + 1) * O) : null,
      Y.subarray(r0 * O, r1 * O),
      code,
    );
  }
  return new Tensor(Y, [...x.shape.slice(0, -1), O]);
}
