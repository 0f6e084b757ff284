// Loads the native kernels (build/Release/pathwise.node, built by scripts/build-native.mjs) and
// exposes them as a `Kernels` object. The addon's exports take exactly the arguments of the
// interface methods, so they are bound directly, with no wrapper in between.

import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kernels } from './kernels.js';
import { configureBlasCore } from './blas_cpu.js';

export interface BlasControl {
  /** Threads OpenBLAS uses for a GEMM. */
  threads(): number;
  setThreads(n: number): void;
  /** OpenBLAS's build description (openblas_get_config). */
  config(): string;
  /**
   * The fp32 arithmetic, in GFLOP/s, that the pool's threads do together in about `ms`
   * milliseconds of fused multiply-adds held in registers: the ceiling any GEMM approaches.
   */
  fmaPeak(ms: number): number;
}

/** The native int8 GEMM paths (kernels.ts, "int8"): which exist, which runs. */
export interface Int8Control {
  /** The paths available in this process, best first: 'amx', 'avx512vnni', 'avxvnni', 'avx2', 'scalar'. */
  isas(): string[];
  /** The path gemmI8 / linearI8 run on (initially PATHWISE_INT8_ISA, else the best). */
  isa(): string;
  /** Selects a path; RangeError if it is not available. */
  setIsa(name: string): void;
}

export interface NativeLoad {
  kernels: Kernels | null;
  error: string | null;
  blas?: BlasControl;
  /** SIMD path of the element-wise kernels: 'avx2+fma', or 'scalar' on a CPU without them. */
  simd?: string;
  int8?: Int8Control;
}

/** Every kernel the addon must export (the methods of `Kernels`). */
const KERNEL_NAMES = [
  'gemm',
  'gemmBatched',
  'gemmGrouped',
  'binary',
  'binaryCol',
  'axpby',
  'unary',
  'unaryBackward',
  'sumAxis',
  'expandAxis',
  'transpose',
  'sumSquares',
  'layerNorm',
  'layerNormBackward',
  'softmax',
  'softmaxBackward',
  'crossEntropy',
  'crossEntropyBackward',
  'gatherRows',
  'scatterAddRows',
  'scatterAddRowsScaled',
  'scatterAddRowsScaledBackward',
  'dropout',
  'dropoutBackward',
  'unaryDropout',
  'unaryDropoutBackward',
  'adamw',
  'argmax',
  'topk',
  'quantizeRowsI8',
  'gemmI8',
  'linearI8',
  'linearI8Requant',
  'attentionInference',
] as const satisfies readonly Exclude<keyof Kernels, 'name'>[];

// Compile-time check that the list is complete: fails if Kernels gains a method not listed.
type Missing = Exclude<Exclude<keyof Kernels, 'name'>, (typeof KERNEL_NAMES)[number]>;
const complete: [Missing] extends [never] ? true : Missing = true;
void complete;

type Addon = Record<string, unknown>;

let cached: NativeLoad | null = null;

/**
 * Candidate addon paths: the repo root is three levels above dist/src/engine/ (two above
 * src/engine/). PATHWISE_ADDON names another build instead (tests run the kernels of builds for
 * other instruction sets this way: test/unit/native_isa.test.ts).
 */
function candidates(): string[] {
  if (process.env.PATHWISE_ADDON) return [process.env.PATHWISE_ADDON];
  const here = dirname(fileURLToPath(import.meta.url));
  const rel = join('build', 'Release', 'pathwise.node');
  return [join(here, '..', '..', '..', rel), join(here, '..', '..', rel)];
}

/**
 * Loads the native kernels once. Never throws: on failure `kernels` is null and `error` says
 * why (addon not built, fails to load, or stale).
 */
export function loadNativeKernels(): NativeLoad {
  if (cached) return cached;
  try {
    cached = load();
  } catch (e) {
    cached = { kernels: null, error: `native addon failed to load: ${(e as Error).message}` };
  }
  return cached;
}

function load(): NativeLoad {
  const paths = candidates();
  const path = paths.find((p) => existsSync(p));
  if (!path) {
    return {
      kernels: null,
      error: `native addon not built (looked for ${paths[0]}); run: node scripts/build-native.mjs`,
    };
  }
  let addon: Addon;
  try {
    configureBlasCore(); // before OpenBLAS is loaded with the addon
    const require = createRequire(import.meta.url);
    addon = require(path) as Addon;
  } catch (e) {
    return { kernels: null, error: `native addon ${path} failed to load: ${(e as Error).message}` };
  }
  const missing = [...KERNEL_NAMES, 'blasThreads', 'setBlasThreads', 'blasConfig', 'fmaPeak', 'simdPath', 'int8Isas', 'int8Isa', 'setInt8Isa'].filter(
    (n) => typeof addon[n] !== 'function',
  );
  if (missing.length > 0) {
    return {
      kernels: null,
      error: `native addon ${path} is stale (missing ${missing.join(', ')}); rebuild with: node scripts/build-native.mjs`,
    };
  }
  const kernels = { name: 'native' } as Record<string, unknown>;
  for (const n of KERNEL_NAMES) kernels[n] = addon[n];
  const blas: BlasControl = {
    threads: addon.blasThreads as () => number,
    setThreads: addon.setBlasThreads as (n: number) => void,
    config: addon.blasConfig as () => string,
    fmaPeak: addon.fmaPeak as (ms: number) => number,
  };
  const simd = (addon.simdPath as () => string)();
  const int8: Int8Control = {
    isas: addon.int8Isas as () => string[],
    isa: addon.int8Isa as () => string,
    setIsa: addon.setInt8Isa as (name: string) => void,
  };
  return { kernels: Object.freeze(kernels) as unknown as Kernels, error: null, blas, simd, int8 };
}
