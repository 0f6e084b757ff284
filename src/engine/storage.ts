// Raw float32 / int32 buffers.
//
// Large tensors are allocated with Buffer.allocUnsafeSlow: plain malloc, no zero-fill, no pooling.
// That is what PyTorch's CPU allocator does too; a zero-filled `new Float32Array(n)` would memset
// every activation and gradient of every step (about 100 MB per encoder-block step), which costs
// as much as several GEMMs. Kernels always overwrite their outputs (see kernels.ts), so
// uninitialised memory is safe wherever an op fully writes its result; an op whose kernel
// accumulates must start from a zeroed `new Float32Array(n)`.

/** Below this many elements a zeroed typed array is as cheap and avoids malloc'd externals. */
export const SMALL = 1024;

// A caching pool for float buffers whose death is certain: intermediate gradients once autograd
// has consumed them, op-internal temporaries, and (backward with freeActivations) the forward
// activations. Without it every step creates hundreds of MB of new ArrayBuffers, and V8's
// external-memory accounting answers every ~64 MB with a full collection, whose cost grows with
// everything else alive in the heap (see autograd.ts).
// Buffers that user code may still hold are never released here; they are left to the GC.
//
// Buffers are pooled by capacity class (8 classes per power of two):
// batches of variable length make every activation a slightly different size, and an exact-size
// pool would hold buffers that no later request fits. emptyF32(n) returns a view of the first n
// floats of a free buffer of n's class or a little above.
//
// The cap must hold a whole step's working set, since a step gives all of it back at its end and
// the next asks for all of it again: six-task training from the base (batch 32, up to 128
// tokens) holds 780 MB at its peak. With the old cap of 512 MiB, the remainder was dropped to the
// GC every step and allocated afresh, and V8 answered with a full collection every other step,
// its concurrent marking taking the second core from the kernels' pool (docs/engine.md). The pool
// never holds more than the largest working set it has seen (its size stayed at 778 MB over 400
// six-task steps), so a high cap costs no memory that the step did not need anyway.
export const TRAINING_POOL_MB = 2048;
const pool = new Map<number, ArrayBuffer[]>();
let pooled = 0;
let POOL_LIMIT = Number(process.env.PATHWISE_POOL_MB ?? TRAINING_POOL_MB) * (1 << 18); // in floats

/**
 * Sets this thread's pool cap (MiB; PATHWISE_POOL_MB, else TRAINING_POOL_MB, at start), emptying
 * the pool if it holds more. An inference thread, whose batches are small, sets a lower one than
 * training needs.
 */
export function setPoolLimit(mb: number): void {
  if (!(Number.isFinite(mb) && mb >= 0)) throw new RangeError(`setPoolLimit: a size in MiB >= 0, got ${mb}`);
  POOL_LIMIT = mb * (1 << 18);
  if (pooled > POOL_LIMIT) clearPool();
}

/** The smallest class holding n floats (n >= SMALL). */
function classUp(n: number): number {
  const base = 2 ** Math.floor(Math.log2(n));
  const step = base / 8;
  return base + Math.ceil((n - base) / step) * step;
}

/** The largest class not above a capacity of n floats (n >= SMALL). */
function classDown(n: number): number {
  const base = 2 ** Math.floor(Math.log2(n));
  const step = base / 8;
  return base + Math.floor((n - base) / step) * step;
}

export function emptyF32(n: number): Float32Array {
  if (n < SMALL) return new Float32Array(n);
  const cls = classUp(n);
  // The smallest free buffer of this class or up to 8 classes (at most 2x) above: batches grow
  // and shrink from step to step, and a slightly larger buffer is better than a new one.
  for (let c = cls, k = 0; k <= 8; k++, c = classUp(c + 1)) {
    const free = pool.get(c);
    if (free !== undefined && free.length > 0) {
      const b = free.pop()!;
      pooled -= c;
      wraps.delete(b); // whoever wrapped it before is dead (release's contract)
      return new Float32Array(b, 0, n);
    }
  }
  const b = Buffer.allocUnsafeSlow(cls * 4);
  allocated += cls;
  ours.add(b.buffer);
  return new Float32Array(b.buffer, b.byteOffset, n);
}

// Buffers emptyF32 allocated: only these are ever freed on a tensor's behalf (releaseIfSole), so
// an array that user code made and wrapped in a Tensor never lands in the pool.
const ours = new WeakSet<ArrayBufferLike>();

/**
 * Returns a buffer for reuse by a later emptyF32. Only for buffers nothing else can reach (the
 * caller's guarantee). Views that do not start at their buffer's beginning are ignored.
 */
export function release(a: Float32Array): void {
  if (a.length < SMALL || a.byteOffset !== 0) return;
  const b = a.buffer as ArrayBuffer;
  const cls = classDown(b.byteLength / 4);
  if (pooled + cls > POOL_LIMIT) return;
  let free = pool.get(cls);
  if (free === undefined) pool.set(cls, (free = []));
  free.push(b);
  pooled += cls;
}

// How many Tensor objects wrap each pool-sized buffer (any view of its ArrayBuffer). Autograd may
// hand an intermediate's storage back to the pool only when its one Tensor is the sole wrapper:
// reshape, detach and split outputs share their input's buffer, and freeing one would corrupt the
// other. Small arrays are never pooled, so they are not counted (and their on-heap storage is not
// forced off the heap by reading .buffer).
const wraps = new WeakMap<ArrayBufferLike, number>();

/** Called by the Tensor constructor for every storage it wraps. */
export function noteWrap(a: Float32Array | Int32Array): void {
  if (a.length < SMALL) return;
  const b = a.buffer;
  wraps.set(b, (wraps.get(b) ?? 0) + 1);
}

/**
 * Gives a tensor's float storage back to the pool if nothing else can see it through a Tensor:
 * emptyF32 allocated it, it starts its buffer, and exactly one Tensor was ever made over that buffer.
 * Returns whether it did. (Raw arrays taken from the tensor, t.f32, are the caller's contract.)
 */
export function releaseIfSole(a: Float32Array | Int32Array): boolean {
  if (!(a instanceof Float32Array) || a.byteOffset !== 0) return false;
  return releaseIfAllSeen(a, 1);
}

/**
 * The same for storage that several Tensors view (a reshape's output and its input): gives the
 * whole buffer back if emptyF32 allocated it and exactly `seen` Tensors were ever made over it, the
 * caller having accounted for each (autograd, once its walk has passed every one of them).
 */
export function releaseIfAllSeen(a: Float32Array | Int32Array, seen: number): boolean {
  if (!(a instanceof Float32Array) || a.length < SMALL) return false;
  const b = a.buffer;
  if (!ours.has(b) || wraps.get(b) !== seen) return false;
  if (pooled + classDown(b.byteLength / 4) > POOL_LIMIT) return false;
  release(a.byteOffset === 0 ? a : new Float32Array(b));
  return true;
}

/** Empties the pool (its buffers are then freed by the GC). */
export function clearPool(): void {
  pool.clear();
  pooled = 0;
}

// Floats emptyF32 has allocated anew (missed the pool) since the thread started: what a training
// step adds to this is the new memory V8 answers with collections.
let allocated = 0;

/** Floats emptyF32 has allocated anew, not taken from the pool, since the thread started. */
export function allocatedFloats(): number {
  return allocated;
}

/** Floats currently held by the pool. */
export function pooledFloats(): number {
  return pooled;
}

export function emptyI32(n: number): Int32Array {
  if (n < SMALL) return new Int32Array(n);
  const b = Buffer.allocUnsafeSlow(n * 4);
  return new Int32Array(b.buffer, b.byteOffset, n);
}

/**
 * A byte mask (dropout's) from the float pool, for an op that hands it back with releaseMask once
 * its backward has used it: an unpooled mask was 6 MB of new memory per multi-task step, and new
 * memory is what makes V8 collect (see the pool above).
 */
export function emptyMask(n: number): Uint8Array {
  if (n < 4 * SMALL) return new Uint8Array(n);
  const f = emptyF32(Math.ceil(n / 4));
  return new Uint8Array(f.buffer, f.byteOffset, n);
}

/** Hands a mask from emptyMask back to the pool (only the op that made it may, once). */
export function releaseMask(m: Uint8Array): void {
  if (m.length < 4 * SMALL || m.byteOffset !== 0) return;
  release(new Float32Array(m.buffer, 0, SMALL));
}
