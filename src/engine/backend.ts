// Backend selection. `K` is a live ES-module binding: every op calls K.gemm(...) and sees the
// backend chosen here. The native addon is preferred; the pure-TypeScript twin is used when the
// addon is not built (with one warning naming the apt package) or when PATHWISE_BACKEND=ts.

import type { Kernels } from './kernels.js';
import { tsKernels } from './kernels_ts.js';
import { loadNativeKernels } from './kernels_native.js';

export type BackendName = 'native' | 'ts';

const native = loadNativeKernels();

/** The current kernels. */
export let K: Kernels = pickInitial();

function pickInitial(): Kernels {
  const want = process.env.PATHWISE_BACKEND;
  if (want !== undefined && want !== '' && want !== 'native' && want !== 'ts') {
    throw new Error(`PATHWISE_BACKEND must be "native" or "ts", got "${want}"`);
  }
  if (want === 'ts') return tsKernels;
  if (native.kernels) return native.kernels;
  if (want === 'native') {
    throw new Error(`PATHWISE_BACKEND=native but the native addon did not load: ${native.error}`);
  }
  process.emitWarning(
    `native kernels unavailable (${native.error}); using the pure-TypeScript backend, which is ` +
      'far slower. Install OpenBLAS (apt-get install libopenblas-dev) and run `npm rebuild`.',
    { code: 'PATHWISE_NO_NATIVE' },
  );
  return tsKernels;
}

/** Backends that can be selected in this process. */
export function availableBackends(): BackendName[] {
  return native.kernels ? ['native', 'ts'] : ['ts'];
}

export function backendName(): BackendName {
  return K.name;
}

/** Switches every subsequent op to the named backend. */
export function setBackend(name: BackendName): void {
  if (name === 'ts') K = tsKernels;
  else if (native.kernels) K = native.kernels;
  else throw new Error(`native backend unavailable: ${native.error}`);
}

/** Runs fn with the named backend, then restores the previous one. */
export function withBackend<T>(name: BackendName, fn: () => T): T {
  const prev = K;
  setBackend(name);
  try {
    return fn();
  } finally {
    K = prev;
  }
}

/** OpenBLAS thread control (null on the TypeScript backend). */
export const blas = native.blas ?? null;
