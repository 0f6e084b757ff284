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

export function emptyF32(n: number): Float32Array {
  if (n < SMALL) return new Float32Array(n);
  const b = Buffer.allocUnsafeSlow(n * 4);
  return new Float32Array(b.buffer, b.byteOffset, n);
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
