// Backend selection. `K` is a live ES-module binding: every op calls K.gemm(...) and sees the
// backend chosen here. The native addon is preferred; the pure-TypeScript twin is used when the
// addon is not built (with one warning naming the apt package) or when PATHWISE_BACKEND=ts.
//
// Nothing is chosen at import. Importing pathwise for its tokenizer, configs or types must not
// dlopen the addon and OpenBLAS (nor warn about a missing addon), so the choice is made by the
// first kernel call or the first question about backends or BLAS. Until then `K` is a stand-in
// whose methods make the choice, point `K` at the chosen kernels and forward the call; every
// later call goes straight to the chosen kernels, so ops pay nothing for the laziness.

import type { Kernels } from './kernels.js';
import { tsKernels } from './kernels_ts.js';
import { loadNativeKernels, type BlasControl, type Int8Control } from './kernels_native.js';

export type BackendName = 'native' | 'ts';

let initial: Kernels | null = null;

/** The backend used unless one is set: PATHWISE_BACKEND, else native when the addon loads. */
function initialKernels(): Kernels {
  initial ??= pickInitial();
  return initial;
}

function pickInitial(): Kernels {
  const want = process.env.PATHWISE_BACKEND;
  if (want !== undefined && want !== '' && want !== 'native' && want !== 'ts') {
    throw new Error(`PATHWISE_BACKEND must be "native" or "ts", got "${want}"`);
  }
  if (want === 'ts') return tsKernels;
  const native = loadNativeKernels();
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

type KernelFn = (...args: unknown[]) => unknown;

// Stands for the initial backend, so a reference to it kept across setBackend (withBackend's
// `prev`) still means "the initial backend" and never overrides a backend set meanwhile.
const unchosen: Kernels = (() => {
  const stub: Record<string, unknown> = {};
  for (const name of Object.keys(tsKernels)) {
    if (name === 'name') continue;
    stub[name] = (...args: unknown[]): unknown => {
      const k = initialKernels();
      if (K === unchosen) K = k;
      return (k as unknown as Record<string, KernelFn>)[name](...args);
    };
  }
  Object.defineProperty(stub, 'name', { enumerable: true, get: () => initialKernels().name });
  return Object.freeze(stub) as unknown as Kernels;
})();

/** The current kernels. */
export let K: Kernels = unchosen;

/** Backends that can be selected in this process (loads the addon if it is not loaded yet). */
export function availableBackends(): BackendName[] {
  return loadNativeKernels().kernels ? ['native', 'ts'] : ['ts'];
}

export function backendName(): BackendName {
  return K.name;
}

/** Switches every subsequent op to the named backend. */
export function setBackend(name: BackendName): void {
  if (name === 'ts') {
    K = tsKernels;
    return;
  }
  K = chosenNative();
}

/**
 * Selects `name` in a worker thread, which does not inherit its main thread's choice (a
 * setBackend in code): the worker must run the same kernels. Returns why it cannot, or null.
 */
export function followBackend(name: BackendName): string | null {
  if (backendName() === name) return null;
  if (!availableBackends().includes(name)) return `the ${name} kernels do not load in a worker thread (it has: ${availableBackends().join(', ')})`;
  setBackend(name);
  return null;
}

/** Runs fn with the named backend, then restores the previous one. */
export function withBackend<T>(name: BackendName, fn: () => T): T {
  return withKernels(name === 'ts' ? tsKernels : chosenNative(), fn);
}

/**
 * Runs fn with the given kernels, then restores the previous ones. For instruments: bench:engine
 * passes the current kernels with their GEMMs wrapped, to record the calls a training step makes.
 */
export function withKernels<T>(kernels: Kernels, fn: () => T): T {
  const prev = K;
  K = kernels;
  try {
    return fn();
  } finally {
    K = prev;
  }
}

/** The kernels ops call now (the backend chosen, or chosen on this call). */
export function currentKernels(): Kernels {
  if (K === unchosen) K = initialKernels();
  return K;
}

function chosenNative(): Kernels {
  const native = loadNativeKernels();
  if (!native.kernels) throw new Error(`native backend unavailable: ${native.error}`);
  return native.kernels;
}

export interface Blas extends Omit<BlasControl, 'fmaPeak'> {
  /** Whether OpenBLAS is loaded, i.e. the native addon is built and loads. */
  available(): boolean;
  /** BlasControl.fmaPeak; null without the native addon (the TypeScript kernels have no such figure). */
  fmaPeak(ms: number): number | null;
}

/**
 * OpenBLAS thread control. Each call loads the addon if it is not loaded yet. Without it there is
 * no thread pool: threads() is 1 (the TypeScript kernels run on the calling thread), setThreads()
 * does nothing and config() says why.
 */
export const blas: Blas = {
  available: () => loadNativeKernels().blas !== undefined,
  threads: () => loadNativeKernels().blas?.threads() ?? 1,
  setThreads: (n: number) => loadNativeKernels().blas?.setThreads(n),
  config: () => {
    const native = loadNativeKernels();
    return native.blas ? native.blas.config() : `none (${native.error})`;
  },
  fmaPeak: (ms: number) => loadNativeKernels().blas?.fmaPeak(ms) ?? null,
};

export interface Int8Paths extends Int8Control {
  /** Whether the native int8 kernels are loaded (the TypeScript kernels have a single path, 'ts'). */
  available(): boolean;
}

/**
 * The native int8 GEMM path (AMX, AVX-512 VNNI, AVX-VNNI, AVX2 or scalar; all give the same
 * results, exactly). Each call loads the addon if it is not loaded yet. Without it, isas() is
 * ['ts'], isa() 'ts', and setIsa() accepts only 'ts'.
 */
export const int8: Int8Paths = {
  available: () => loadNativeKernels().int8 !== undefined,
  isas: () => loadNativeKernels().int8?.isas() ?? ['ts'],
  isa: () => loadNativeKernels().int8?.isa() ?? 'ts',
  setIsa: (name: string) => {
    const c = loadNativeKernels().int8;
    if (c) c.setIsa(name);
    else if (name !== 'ts') throw new RangeError(`int8.setIsa: "${name}" is not available: the native kernels did not load`);
  },
};
