// Fused multi-head self-attention from a packed QKV projection.
//
// qkv is [B, T, 3D] as a fused projection produces it: row (b, t) holds q, k, v side by side,
// each D = H * Dh wide. Head h of Q for sequence b is then a T x Dh matrix at offset
// b*T*3D + h*Dh with leading dimension 3D, so one grouped GEMM over all (b, h) reads Q, K and V
// in place, and the context is written straight into [B, T, D] (leading dimension D). No head
// transposes, no split, no concat: the only memory traffic besides the GEMMs is the T x T
// attention matrix (this is also why it is one op: split would cost a copy per piece).
//
// With no gradient to keep (qkv needs none) and no dropout, and a mask that is absent or a key
// padding mask [B, 1, 1, T], the fused kernel attentionInference runs instead: no T x T buffers
// at all, the softmax in registers, threaded. The two paths agree to about 1e-6 (natively, on
// OpenBLAS's AVX-512 kernels, usually bit for bit: the kernel's sums are the FMA chains of sgemm).

import { K } from '../backend.js';
import { needsGrad, record } from '../autograd.js';
import { emptyF32, emptyMask, release, releaseMask } from '../storage.js';
import { Tensor, shapeStr } from '../tensor.js';
import type { Rng } from '../rng.js';
import { maskRowMap } from './softmax.js';
import { add } from './elementwise.js';

export interface AttentionOptions {
  heads: number;
  /** Additive mask broadcastable to [B, H, T, T] (0 keeps, -Infinity removes), e.g. from paddingMask. */
  mask?: Tensor | null;
  /** Each query sees only keys at or before it. */
  causal?: boolean;
  /** Dropout on the attention probabilities (needs rng; only when training). */
  dropout?: number;
  rng?: Rng;
  training?: boolean;
  /**
   * Packed sequences: qkv is [1, N, 3D] holding sequences of these lengths (summing to N) end to
   * end, each attending only within itself (no padding, no mask).
   */
  segments?: ArrayLike<number> | null;
}

/** [B, T] of 1 (real token) / 0 (padding) -> additive key mask [B, 1, 1, T]. */
export function paddingMask(keep: Tensor): Tensor {
  if (keep.ndim !== 2) throw new RangeError(`paddingMask: expected [B, T], got ${shapeStr(keep.shape)}`);
  const m = new Float32Array(keep.size);
  for (let i = 0; i < m.length; i++) m[i] = keep.data[i] ? 0 : -Infinity;
  return new Tensor(m, [keep.shape[0], 1, 1, keep.shape[1]]);
}

const causalCache = new Map<number, Tensor>();
/** [T, T] additive causal mask. */
export function causalMask(T: number): Tensor {
  let m = causalCache.get(T);
  if (!m) {
    const d = new Float32Array(T * T);
    for (let q = 0; q < T; q++) for (let k = q + 1; k < T; k++) d[q * T + k] = -Infinity;
    m = new Tensor(d, [T, T]);
    causalCache.set(T, m);
  }
  return m;
}

interface Plan {
  scores: Int32Array; // S = Q Kᵀ
  ctx: Int32Array; // ctx = P V
  dP: Int32Array; // dP = dctx Vᵀ
  dV: Int32Array; // dV = Pᵀ dctx
  dQ: Int32Array; // dQ = dS K
  dK: Int32Array; // dK = dSᵀ Q
}

const planCache = new Map<string, Plan>();

/** Group tables [M, N, K, offA, offB, offC] for every (b, h); cached per shape. */
function plan(B: number, T: number, H: number, Dh: number): Plan {
  const key = `${B},${T},${H},${Dh}`;
  const hit = planCache.get(key);
  if (hit) return hit;
  const D = H * Dh;
  const n = B * H;
  const mk = () => new Int32Array(6 * n);
  const p: Plan = { scores: mk(), ctx: mk(), dP: mk(), dV: mk(), dQ: mk(), dK: mk() };
  const set = (a: Int32Array, i: number, ...v: number[]) => a.set(v, 6 * i);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const i = b * H + h;
      const q = b * T * 3 * D + h * Dh;
      const k = q + D;
      const v = q + 2 * D;
      const s = i * T * T;
      const c = b * T * D + h * Dh;
      set(p.scores, i, T, T, Dh, q, k, s);
      set(p.ctx, i, T, Dh, T, s, v, c);
      set(p.dP, i, T, T, Dh, c, v, s);
      set(p.dV, i, T, Dh, T, s, c, v);
      set(p.dQ, i, T, Dh, T, s, k, q);
      set(p.dK, i, T, Dh, T, s, q, k);
    }
  }
  if (planCache.size > 64) planCache.clear();
  planCache.set(key, p);
  return p;
}

/**
 * softmax(Q Kᵀ / sqrt(Dh) + mask) V for every head; qkv [B, T, 3D] -> [B, T, D].
 *
 * With `segments`, qkv is [1, N, 3D]: sequences of those lengths laid end to end with no padding
 * (a packed batch), each attending only within itself. The work is then what the real tokens
 * need, Σ L² per head, not B T² for a batch padded to its longest row; what a position gets is
 * what it gets alone (the same GEMMs over the same values, and no masked keys in the softmax).
 */
export function selfAttention(qkv: Tensor, opts: AttentionOptions): Tensor {
  const H = opts.heads;
  if (qkv.ndim !== 3 || qkv.shape[2] % (3 * H) !== 0) {
    throw new RangeError(`selfAttention: qkv must be [B, T, 3*D] with D divisible by ${H} heads, got ${shapeStr(qkv.shape)}`);
  }
  const [B, T, D3] = qkv.shape;
  const D = D3 / 3;
  const p = opts.dropout ?? 0;
  const useDropout = (opts.training ?? true) && p > 0;
  if (useDropout && !opts.rng) throw new Error('selfAttention: dropout needs an rng');

  const segments = opts.segments;
  let lens: number[] | null = null;
  if (segments) {
    if (B !== 1) throw new RangeError(`selfAttention: packed segments need qkv [1, N, 3D], got ${shapeStr(qkv.shape)}`);
    if (opts.mask) throw new RangeError('selfAttention: segments replace the padding mask: give one or the other');
    lens = Array.from(segments, (len) => {
      if (!(Number.isInteger(len) && len > 0)) throw new RangeError(`selfAttention: segment lengths must be positive integers, got ${len}`);
      return len;
    });
    const total = lens.reduce((a, b) => a + b, 0);
    if (total !== T) throw new RangeError(`selfAttention: segments sum to ${total}, qkv has ${T} positions`);
  }

  // Inference (no gradient, no dropout) with no mask or a key-padding mask: the fused kernel,
  // which never materialises the T x T scores and skips masked keys (what a position gets is
  // still what it gets alone, padded or packed).
  if (!needsGrad(qkv) && !useDropout) {
    const mask = opts.mask ?? null;
    if (mask === null || isKeyPaddingMask(mask, B, T)) return attendInference(qkv, H, D, mask, opts.causal ?? false, lens);
  }

  // The pieces attention runs over: each [b, T] row, or each packed segment of the one row.
  let pieces: { start: number; len: number; batch: number; mask: Tensor | null }[];
  if (lens) {
    let total = 0;
    pieces = lens.map((len) => {
      const piece = { start: total, len, batch: 1, mask: opts.causal ? causalMask(len) : null };
      total += len;
      return piece;
    });
  } else {
    let mask = opts.mask ?? null;
    if (opts.causal) mask = mask ? add(mask, causalMask(T)) : causalMask(T);
    pieces = [{ start: 0, len: T, batch: B, mask }];
  }

  const X = qkv.f32;
  const ctx = emptyF32(B * T * D);
  const saved = pieces.map((pc) =>
    attendForward(
      X.subarray(pc.start * D3, (pc.start + pc.batch * pc.len) * D3),
      ctx.subarray(pc.start * D, (pc.start + pc.batch * pc.len) * D),
      pc,
      H,
      D,
      useDropout ? { p, rng: opts.rng! } : null,
    ),
  );
  const out = new Tensor(ctx, [B, T, D]);
  if (!needsGrad(qkv)) {
    for (const sv of saved) {
      release(sv.P);
      if (sv.Pd !== sv.P) release(sv.Pd);
    }
    return out;
  }
  return record(out, 'selfAttention', [qkv], (g) => {
    const dqkv = emptyF32(X.length); // every element is written by exactly one of dQ, dK, dV
    pieces.forEach((pc, i) => {
      const [a, b] = [pc.start, pc.start + pc.batch * pc.len];
      attendBackward(X.subarray(a * D3, b * D3), g.subarray(a * D, b * D), dqkv.subarray(a * D3, b * D3), pc, H, D, saved[i], p);
    });
    // The probabilities and the mask die with this backward (it runs once): back to the pool.
    for (const sv of saved) {
      release(sv.P);
      if (sv.Pd !== sv.P) release(sv.Pd);
      if (sv.dmask) releaseMask(sv.dmask);
    }
    return [dqkv];
  });
}

/** A mask of exactly [B, 1, 1, T] (what paddingMask makes): one additive value per key. */
function isKeyPaddingMask(mask: Tensor, B: number, T: number): boolean {
  const s = mask.shape;
  return s.length === 4 && s[0] === B && s[1] === 1 && s[2] === 1 && s[3] === T;
}

/** The no-gradient path: K.attentionInference over the batch (key mask: [B, 1, 1, T] as [B, T]) or per packed segment. */
function attendInference(qkv: Tensor, H: number, D: number, mask: Tensor | null, causal: boolean, lens: number[] | null): Tensor {
  const [B, T] = qkv.shape;
  const D3 = 3 * D;
  const Dh = D / H;
  const X = qkv.f32;
  const ctx = emptyF32(B * T * D);
  if (ctx.length > 0) {
    if (lens) {
      let start = 0;
      for (const len of lens) {
        K.attentionInference(ctx.subarray(start * D, (start + len) * D), X.subarray(start * D3, (start + len) * D3), 1, len, H, Dh, null, causal);
        start += len;
      }
    } else {
      K.attentionInference(ctx, X, B, T, H, Dh, mask ? mask.f32 : null, causal);
    }
  }
  return new Tensor(ctx, [B, T, D]);
}

interface Saved {
  P: Float32Array;
  Pd: Float32Array;
  dmask: Uint8Array | null;
}

/** One piece's attention: X [batch, len, 3D] -> ctx [batch, len, D]; keeps what the backward needs. */
function attendForward(
  X: Float32Array,
  ctx: Float32Array,
  pc: { len: number; batch: number; mask: Tensor | null },
  H: number,
  D: number,
  drop: { p: number; rng: Rng } | null,
): Saved {
  const { len: T, batch: B, mask } = pc;
  const D3 = 3 * D;
  const Dh = D / H;
  const rows = B * H * T;
  const rowMap = mask ? maskRowMap([B, H, T, T], mask.shape) : null;
  const pl = plan(B, T, H, Dh);
  const S = emptyF32(rows * T);
  K.gemmGrouped(false, true, pl.scores, 1 / Math.sqrt(Dh), X, D3, X, D3, 0, S, T);
  const P = emptyF32(rows * T);
  K.softmax(P, S, rows, T, mask ? mask.f32 : null, rowMap, false);
  release(S);
  let Pd = P;
  let dmask: Uint8Array | null = null;
  if (drop) {
    Pd = emptyF32(P.length);
    dmask = emptyMask(P.length);
    K.dropout(Pd, dmask, P, drop.p, drop.rng.nextU32());
  }
  K.gemmGrouped(false, false, pl.ctx, 1, Pd, T, X, D3, 0, ctx, D);
  return { P, Pd, dmask };
}

/** One piece's gradient: g [batch, len, D] -> dX [batch, len, 3D] (every element written). */
function attendBackward(
  X: Float32Array,
  g: Float32Array,
  dX: Float32Array,
  pc: { len: number; batch: number },
  H: number,
  D: number,
  { P, Pd, dmask }: Saved,
  p: number,
): void {
  const { len: T, batch: B } = pc;
  const D3 = 3 * D;
  const Dh = D / H;
  const rows = B * H * T;
  const scale = 1 / Math.sqrt(Dh);
  const pl = plan(B, T, H, Dh);
  const dP = emptyF32(rows * T);
  K.gemmGrouped(false, true, pl.dP, 1, g, D, X, D3, 0, dP, T);
  K.gemmGrouped(true, false, pl.dV, 1, Pd, T, g, D, 0, dX, D3);
  if (dmask) K.dropoutBackward(dP, dP, dmask, p);
  K.softmaxBackward(dP, P, dP, rows, T, false);
  K.gemmGrouped(false, false, pl.dQ, scale, dP, T, X, D3, 0, dX, D3);
  K.gemmGrouped(true, false, pl.dK, scale, dP, T, X, D3, 0, dX, D3);
  release(dP);
}
