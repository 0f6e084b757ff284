// The kernel interface: the only thing a backend implements.
//
// Every kernel works on flat, contiguous, row-major typed arrays and writes into an output array
// that the caller allocated. Outputs are always fully overwritten (never read) unless the doc
// says "accumulates"; callers may therefore hand in uninitialised memory. Shapes arrive as plain
// integers: the kernels know nothing of Tensor, autograd or broadcasting rules, which live in
// TypeScript above this line (tinygrad's split: few primitives, everything else composes them).
//
// Two implementations exist: the native addon (C++, OpenBLAS for every GEMM) and a pure
// TypeScript twin (`kernels_ts.ts`) that is the fallback and the oracle in tests. A kernel added
// here must be added to both, with a parity test.

export type F32 = Float32Array;
export type I32 = Int32Array;
export type U8 = Uint8Array;
export type I8 = Int8Array;

/** Element-wise binary ops. The second operand may repeat (see `binary`). */
// biome-ignore lint/suspicious/noConstEnum: inlined as plain numbers into the ops' kernel calls; internal to the engine (not exported by pathwise/engine) and compiled by tsc only
export const enum BinaryOp {
  Add = 0,
  Sub = 1,
  Mul = 2,
  Div = 3,
}

/** Element-wise unary ops with a backward. */
// biome-ignore lint/suspicious/noConstEnum: as BinaryOp
export const enum UnaryOp {
  /** exact GELU, x * Phi(x) with the error function (PyTorch's default). */
  Gelu = 0,
  Relu = 1,
  Tanh = 2,
  /** GELU with the tanh approximation (GPT-2's). */
  GeluTanh = 3,
}

export interface Kernels {
  readonly name: 'native' | 'ts';

  // ---------------------------------------------------------------------------------- GEMM
  /**
   * C = alpha * op(A) * op(B) + beta * C   (row-major; op(A) is M x K, op(B) is K x N).
   * lda/ldb/ldc are row strides in elements of the matrices as stored (A is M x K when not
   * transposed, K x M when transposed). With beta = 0, C is not read (may hold garbage/NaN).
   * K = 0 is legal and gives C = beta * C.
   */
  gemm(
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: F32,
    lda: number,
    B: F32,
    ldb: number,
    beta: number,
    C: F32,
    ldc: number,
  ): void;

  /**
   * `batch` independent GEMMs as in `gemm`; matrix i starts at element i*strideA of A (and
   * likewise for B and C). A stride of 0 reuses one matrix for every batch (e.g. a shared
   * weight).
   */
  gemmBatched(
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: F32,
    lda: number,
    strideA: number,
    B: F32,
    ldb: number,
    strideB: number,
    beta: number,
    C: F32,
    ldc: number,
    strideC: number,
    batch: number,
  ): void;

  /**
   * Grouped GEMM: G products with different shapes and operands in one call (mixture-of-experts
   * dispatch, where expert g multiplies its own row range by its own weight).
   * `groups` holds 6 int32 per group: [M, N, K, offA, offB, offC] (element offsets into A, B, C);
   * trans flags, alpha, beta and leading dimensions are shared. A group with M = 0 or N = 0 is
   * skipped; one with K = 0 gives C = beta * C.
   */
  gemmGrouped(transA: boolean, transB: boolean, groups: I32, alpha: number, A: F32, lda: number, B: F32, ldb: number, beta: number, C: F32, ldc: number): void;

  // ---------------------------------------------------------------------------- elementwise
  /**
   * out[i] = a[i] op b[i % bn]   for i < n.   bn must divide n: bn = n is the same-shape case,
   * bn = last-dim length broadcasts a row/bias, bn = 1 a scalar. `out` may alias `a`.
   */
  binary(op: BinaryOp, out: F32, a: F32, b: F32, n: number, bn: number): void;

  /**
   * Like `binary` but b is a column: out[r*cols + c] = a[r*cols + c] op b[r], r < rows.
   * (Per-row scaling, e.g. dividing by a row sum.) `out` may alias `a`.
   */
  binaryCol(op: BinaryOp, out: F32, a: F32, b: F32, rows: number, cols: number): void;

  /** out[i] = alpha * a[i] + beta * out[i] (beta = 0 does not read out). n = a.length. */
  axpby(out: F32, alpha: number, a: F32, beta: number): void;

  /** out[i] = f(x[i]). `out` may alias `x`. */
  unary(op: UnaryOp, out: F32, x: F32): void;

  /**
   * dx[i] = dy[i] * f'(.) where the saved value is x (the input) for Gelu, GeluTanh and Relu,
   * and y (the output) for Tanh. `dx` may alias `dy`.
   */
  unaryBackward(op: UnaryOp, dx: F32, saved: F32, dy: F32): void;

  // ----------------------------------------------------------------------- layout & reduce
  /**
   * Views a as (outer, n, inner) and writes out (outer, inner) = sum over the middle axis.
   * (Bias gradients: outer = 1, n = rows, inner = cols. Row sums: inner = 1.)
   */
  sumAxis(out: F32, a: F32, outer: number, n: number, inner: number): void;

  /** Inverse of sumAxis: out (outer, n, inner) = a (outer, inner) repeated along the middle. */
  expandAxis(out: F32, a: F32, outer: number, n: number, inner: number): void;

  /**
   * Swaps the two middle axes: a viewed as (outer, X, Y, inner) -> out (outer, Y, X, inner).
   * The head transpose (B,T,H,D) <-> (B,H,T,D) is outer=B, X=T, Y=H, inner=D; a 2-D matrix
   * transpose is outer=1, inner=1.
   */
  transpose(out: F32, a: F32, outer: number, X: number, Y: number, inner: number): void;

  /** Sum of squares of all elements (for the global gradient norm), accumulated in double. */
  sumSquares(a: F32): number;

  // ---------------------------------------------------------------------------- layer norm
  /**
   * y = (x - mean) * rstd * gamma + beta per row of length cols. Writes mean and rstd
   * (length rows) for the backward. rstd = 1/sqrt(var + eps), biased variance (as PyTorch).
   */
  layerNorm(y: F32, mean: F32, rstd: F32, x: F32, gamma: F32, beta: F32, rows: number, cols: number, eps: number): void;

  /** Writes dx; *accumulates* into dgamma and dbeta (length cols). */
  layerNormBackward(dx: F32, dgamma: F32, dbeta: F32, dy: F32, x: F32, mean: F32, rstd: F32, gamma: F32, rows: number, cols: number): void;

  // ------------------------------------------------------------------------------- softmax
  /**
   * Row-wise softmax (or log-softmax when `log`) of x (rows x cols) into y, after adding an
   * optional additive mask: row r uses mask[maskRow[r]*cols .. +cols]. mask and maskRow are
   * both null or both given. A row whose every entry is -Infinity gives zeros (softmax) rather
   * than NaN, so that fully padded query rows are harmless.
   */
  softmax(y: F32, x: F32, rows: number, cols: number, mask: F32 | null, maskRow: I32 | null, log: boolean): void;

  /**
   * From the saved output y: softmax   dx = y * (dy - sum(dy * y)),
   *                           log-softmax dx = dy - exp(y) * sum(dy).  `dx` may alias `dy`.
   */
  softmaxBackward(dx: F32, y: F32, dy: F32, rows: number, cols: number, log: boolean): void;

  // ------------------------------------------------------------------------- cross-entropy
  /**
   * Per-row cross-entropy of logits (rows x cols) against integer targets, with PyTorch's
   * semantics: rows whose target equals ignoreIndex contribute nothing; with label smoothing
   * eps, loss_r = (1-eps) * (lse - x[t]) + eps * (lse - mean_c x[c]).
   * Writes lse (log-sum-exp per row, for the backward) and returns the SUM of row losses over
   * non-ignored rows; the caller divides by the count.
   */
  crossEntropy(lse: F32, logits: F32, targets: I32, rows: number, cols: number, ignoreIndex: number, smoothing: number): number;

  /**
   * dlogits = scale * (softmax(logits) - q) where q = (1-eps) * onehot(t) + eps / cols,
   * and zero rows for ignored targets. `scale` is upstream grad / count.
   */
  crossEntropyBackward(
    dlogits: F32,
    logits: F32,
    lse: F32,
    targets: I32,
    rows: number,
    cols: number,
    ignoreIndex: number,
    smoothing: number,
    scale: number,
  ): void;

  // ---------------------------------------------------------------------- gather / scatter
  /** out[i, :] = src[idx[i], :] for i < idx.length (rows of length cols). */
  gatherRows(out: F32, src: F32, idx: I32, cols: number): void;

  /**
   * out[idx[i], :] += src[i, :]  (*accumulates*; repeated indices add up). zeroFirst: all of out
   * is set to 0 first (in the kernel, each thread zeroing the rows it then adds into: no separate
   * pass over a cold buffer), so out need not be initialised.
   */
  scatterAddRows(out: F32, src: F32, idx: I32, cols: number, zeroFirst?: boolean): void;

  /**
   * out[idx[i], :] += scale[i] · src[i, :]  (*accumulates*; repeated indices add up, in i order):
   * mixture-of-experts' combine, each expert's output row weighted by its gate.
   */
  scatterAddRowsScaled(out: F32, src: F32, scale: F32, idx: I32, cols: number, zeroFirst?: boolean): void;

  /**
   * Its backward: dsrc[i, :] = scale[i] · dout[idx[i], :] and dscale[i] = Σ_j dout[idx[i], j] · src[i, j],
   * each product rounded to float and the sum taken in double (overwrites dsrc and dscale).
   */
  scatterAddRowsScaledBackward(dsrc: F32, dscale: F32, dout: F32, src: F32, scale: F32, idx: I32, cols: number): void;

  // ------------------------------------------------------------------------------ dropout
  /**
   * Inverted dropout with a counter-based RNG, so both backends draw identical masks:
   * keep element i iff hashUniform(seed, i) >= p, where hashUniform is defined in
   * `dropoutHash` below. y = keep ? x / (1 - p) : 0; mask[i] = keep ? 1 : 0.
   */
  dropout(y: F32, mask: U8, x: F32, p: number, seed: number): void;

  /** dx = dy * mask / (1 - p). `dx` may alias `dy`. */
  dropoutBackward(dx: F32, dy: F32, mask: U8, p: number): void;

  /**
   * An FFN's hidden layer in one pass: `unary(op, y, x)` then `dropout(y, mask, y, p, seed)`, with
   * the same bits as the two kernels one after the other.
   */
  unaryDropout(op: UnaryOp, y: F32, mask: U8, x: F32, p: number, seed: number): void;

  /**
   * Its backward: `dropoutBackward(dx, dy, mask, p)` then `unaryBackward(op, dx, saved, dx)`, same
   * bits. saved is the activation's input (Tanh's output for Tanh). `dx` may alias `dy`.
   */
  unaryDropoutBackward(op: UnaryOp, dx: F32, saved: F32, dy: F32, mask: U8, p: number): void;

  // ---------------------------------------------------------------------------- optimizer
  /**
   * One AdamW step over a flat parameter (PyTorch's torch.optim.AdamW semantics):
   *   p -= lr * weightDecay * p
   *   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g^2
   *   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
   * where bc1 = 1 - beta1^t and bc2 = 1 - beta2^t are passed in.
   */
  adamw(p: F32, g: F32, m: F32, v: F32, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, bc1: number, bc2: number): void;

  // ------------------------------------------------------------------------------ attention
  /**
   * Fused multi-head self-attention for inference (no backward: nothing is saved).
   * X is [batch, T, 3D] with D = H * Dh: row (b, t) holds q, k, v side by side, head h of q at
   * columns h*Dh .. (h+1)*Dh, of k at D + h*Dh, of v at 2D + h*Dh. ctx is [batch, T, D], head h at
   * columns h*Dh (fully written; must not overlap X). keyMask is null or [batch, T], additive
   * (0 keeps, -Infinity removes, finite values are added to the scores). For each b, h and
   * query row i:
   *
   *   the visible keys J = (j_1 < ... < j_n): every j < T (j <= i when causal) whose
   *   keyMask[b, j] is not -Infinity. Other keys are skipped, not weighted by zero, so what a row
   *   gets depends only on its q and its visible keys, in order: a padded sequence's real rows
   *   get bit for bit what the same sequence gets alone (packed, no mask).
   *   n = 0: the row is zeros.
   *   scores, all in float32 (fround after every operation):
   *     dot_j = fma(q[Dh-1], k_j[Dh-1], ... fma(q[1], k_j[1], fma(q[0], k_j[0], 0)))   (d ascending)
   *     x_j   = fround(dot_j * scale) (+ keyMask[b, j], when keyMask is given)   scale = fround(1/sqrt(Dh))
   *   m = max_j x_j over the non-NaN x_j; m = -Infinity: the row is NaN if some x_j is NaN, else
   *   zeros (the softmax kernel's fully masked row).
   *   e_j = exp(fround(x_j - m)) rounded to float32, 0 where x_j - m < -86.5
   *   s   = Σ_j e_j in float64 (any order);  inv = fround(1 / s);  p_j = fround(e_j * inv)
   *   ctx[d] = fma(p_{j_n}, v_{j_n}[d], ... fma(p_{j_1}, v_{j_1}[d], 0))   (keys ascending)
   *
   * The TypeScript twin does exactly this, with fround(a + b*c) for fma (double rounding: rarely
   * 1 ulp off) and Math.exp; natively exp is a float32 polynomial (about 1 ulp) and the sum of e
   * runs over vector lanes. The backends therefore agree to about 1e-6 relative (of
   * Σ_j p_j |v_j[d]|), not bit for bit. NaN inputs give NaN outputs as the arithmetic above says.
   * Natively the (b, h) pairs (and, when they are few, ranges of query rows) are split over the
   * BLAS thread count on the int8 pool; each row is computed by one thread in the order above,
   * so the thread count changes nothing.
   */
  attentionInference(ctx: F32, X: F32, batch: number, T: number, H: number, Dh: number, keyMask: F32 | null, causal: boolean): void;

  // ----------------------------------------------------------------------------------- int8
  // Inference GEMMs on int8 operands: activations quantized per row (quantizeRowsI8), weights
  // per output channel and packed once at model load (engine/int8.ts: quantizeWeightsI8, packI8,
  // whose header defines the quantization rule and the packed "I8P" layout). Products are
  // accumulated exactly in int32, so every backend and every native ISA path (AMX, AVX-512 VNNI,
  // AVX-VNNI, AVX2, scalar; see backend.ts `int8`) gives the same accumulations bit for bit.
  // Operands must lie in [-127, 127] (the quantizers never produce -128; with -128 the result is
  // unspecified: the AVX2 path's 16-bit pair sums could saturate). Kp, the padded depth, is a
  // multiple of 64; the packed weight Wp holds ceil(N/16)*16 * Kp bytes, zero beyond W's K
  // columns, so A's columns K..Kp-1 meet zeros (quantizeRowsI8 zeroes them anyway).

  /**
   * Per-row symmetric dynamic quantization of x (rows x cols, row-major) by the rule in
   * engine/int8.ts: scale[r] = fround(absmax/127), q = clamp(roundHalfEven(fround(x * fround(127/absmax))), ±127),
   * with scale 0 and q 0 for a zero row (or one whose 127/absmax overflows), and scale NaN and
   * q 0 for a row holding NaN or ±Infinity. Row r is written at q[r*ldq .. r*ldq+cols) and
   * q[r*ldq+cols .. (r+1)*ldq) is set to 0 (the K padding); ldq >= cols. Both backends agree bit
   * for bit.
   */
  quantizeRowsI8(q: I8, scale: F32, x: F32, rows: number, cols: number, ldq: number): void;

  /**
   * acc[m*N + n] = sum_{k < Kp} A[m*lda + k] * W[n, k], exactly in int32, for m < M, n < N,
   * with W given packed (Wp, packed for N and some K <= Kp: at least ceil(N/16)*16 * Kp bytes).
   * Kp % 64 == 0 and lda >= Kp. A and W in [-127, 127]; sums cannot overflow for Kp <= 133120
   * (they would wrap modulo 2^32, alike on every path). Natively the rows (or, for few rows,
   * the columns) are split over the BLAS thread count; each element is summed by one thread, so
   * the thread count changes nothing. (The exact entry point of the tests.)
   */
  gemmI8(M: number, N: number, Kp: number, A: I8, lda: number, Wp: I8, acc: I32): void;

  /**
   * Fused int8 linear layer: with acc as in gemmI8,
   *   out[m*N + n] = act(fround(fround(fround(acc) * fround(sa[m] * sw[n])) + bias[n]))
   * (bias null: no addition), the multiplication and addition rounded separately (no fused
   * multiply-add), so that with act = -1 both backends agree bit for bit. act = -1 for none,
   * else a UnaryOp code applied exactly as `unary` computes it. sa: M per-row activation
   * scales, sw: N per-channel weight scales (quantizeRowsI8, quantizeWeightsI8), bias: N.
   */
  linearI8(M: number, N: number, Kp: number, A: I8, lda: number, sa: F32, Wp: I8, sw: F32, bias: F32 | null, out: F32, act: number): void;

  /**
   * linearI8 followed by quantizeRowsI8 of its [M, N] output into q (rows ldq >= N apart, zero
   * padded) and qscale, bit for bit, without the float32 output in memory: an FFN's hidden layer
   * handed, quantized, to the next int8 GEMM.
   */
  linearI8Requant(
    M: number,
    N: number,
    Kp: number,
    A: I8,
    lda: number,
    sa: F32,
    Wp: I8,
    sw: F32,
    bias: F32 | null,
    act: number,
    q: I8,
    qscale: F32,
    ldq: number,
  ): void;

  // ----------------------------------------------------------------------- no-grad helpers
  /** Index of the max of each row (first one on ties). */
  argmax(out: I32, x: F32, rows: number, cols: number): void;

  /** The k largest of each row, in descending order (ties: lower index first). */
  topk(values: F32, indices: I32, x: F32, rows: number, cols: number, k: number): void;
}

/**
 * The counter-based uniform used by dropout: a 32-bit integer hash of (seed, index) mapped to
 * [0, 1). Defined once here so that the native and TypeScript kernels agree bit for bit:
 *   h = (index * 0x9E3779B1 + seed) mod 2^32
 *   h ^= h >>> 16;  h = h * 0x7FEB352D mod 2^32;  h ^= h >>> 15;  h = h * 0x846CA68B mod 2^32;
 *   h ^= h >>> 16;  u = (h >>> 8) * 2^-24
 */
export function dropoutHash(seed: number, index: number): number {
  let h = (Math.imul(index, 0x9e3779b1) + seed) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return (h >>> 8) * 5.9604644775390625e-8;
}
