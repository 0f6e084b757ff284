// Raw float32 / int32 buffers.
//
// Large tensors are allocated with Buffer.allocUnsafeSlow: plain malloc, no zero-fill, no pooling.
// That is what PyTorch's CPU allocator does too; a zero-filled `new Float32Array(n)` would memset
// every activation and gradient of every step (about 100 MB per encoder-block step), which costs
// as much as several GEMMs. Kernels always overwrite their outputs (see kernels.ts), so
// uninitialised memory is safe wherever an op fully writes its result. Use `zerosF32` when a
// kernel accumulates.

/** Below this many elements a zeroed typed array is as cheap and avoids malloc'd externals. */
const SMALL = 1024;

// A caching pool for float buffers whose death is certain: intermediate gradients once autograd
// has consumed them, and op-internal temporaries. Without it every step creates ~150 MB of new
// ArrayBuffers, and V8's external-memory accounting answers with more than one full GC per step
// (measured: ~9 ms of a 78 ms encoder-block step). Buffers that user code may still hold are
// never released here; they are left to the GC as usual.
const pool = new Map<number, Float32Array[]>();
let pooled = 0;
const POOL_LIMIT = Number(process.env.PATHWISE_POOL_MB ?? 512) * (1 << 18); // in floats

export function emptyF32(n: number): Float32Array {
  if (n < SMALL) return new Float32Array(n);
  const free = pool.get(n);
  if (free !== undefined && free.length > 0) {
    pooled -= n;
    return free.pop()!;
  }
  const b = Buffer.allocUnsafeSlow(n * 4);
  return new Float32Array(b.buffer, b.byteOffset, n);
}

/**
 * Returns a buffer for reuse by a later emptyF32 of the same length. Only for buffers nothing
 * else can reach (the caller's guarantee). Views into a larger buffer are ignored.
 */
export function release(a: Float32Array): void {
  const n = a.length;
  if (n < SMALL || a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength) return;
  if (pooled + n > POOL_LIMIT) return;
  let free = pool.get(n);
  if (free === undefined) pool.set(n, (free = []));
  free.push(a);
  pooled += n;
}

/** Empties the pool (its buffers are then freed by the GC). */
export function clearPool(): void {
  pool.clear();
  pooled = 0;
}

/** Floats currently held by the pool. */
export function pooledFloats(): number {
  return pooled;
}

export function zerosF32(n: number): Float32Array {
  return new Float32Array(n);
}

export function emptyI32(n: number): Int32Array {
  if (n < SMALL) return new Int32Array(n);
  const b = Buffer.allocUnsafeSlow(n * 4);
  return new Int32Array(b.buffer, b.byteOffset, n);
}

export function emptyU8(n: number): Uint8Array {
  if (n < SMALL) return new Uint8Array(n);
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}
