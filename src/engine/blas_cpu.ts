// Choosing OpenBLAS's kernel family for this CPU.
//
// Debian's OpenBLAS (0.3.21, DYNAMIC_ARCH) picks its kernels by CPU model, and falls back to the
// AVX2 "Haswell" kernels on CPUs it does not know, such as recent AMD EPYCs with AVX-512.
// On the project machine sgemm runs about half as fast with the Haswell kernels as with the
// SkylakeX (AVX-512) ones (docs/engine.md has the figures; `npm run bench:engine` prints them,
// with PATHWISE_BLAS_CORE=Haswell for the former). So when the CPU has the AVX-512 subsets the
// SkylakeX kernels need, we ask for them through OPENBLAS_CORETYPE. The library reads it once
// when it loads, so this runs before the addon is loaded. Child processes (the PyTorch reference
// in benchmarks) inherit the choice, so both sides of a comparison use the same kernels.
//
// An OPENBLAS_CORETYPE that names an *older* kernel family than the CPU supports is upgraded.
// This machine's environment sets Haswell on an AVX-512 CPU, presumably as a safe default for a
// CPU this OpenBLAS does not recognise. The CPU flags are checked, so the upgrade cannot select
// instructions the CPU lacks. PATHWISE_BLAS_CORE=keep keeps the environment's value;
// PATHWISE_BLAS_CORE=<name> forces a kernel family.

import { readFileSync } from 'node:fs';

const SKYLAKEX_FLAGS = ['avx512f', 'avx512cd', 'avx512bw', 'avx512dq', 'avx512vl'];

/** The OPENBLAS_CORETYPE to request, or null to leave OpenBLAS's own detection alone. */
function preferredBlasCore(cpuinfo?: string): string | null {
  if (process.platform !== 'linux' || process.arch !== 'x64') return null;
  let info = cpuinfo;
  if (info === undefined) {
    try {
      info = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return null;
    }
  }
  const line = info.split('\n').find((l) => l.startsWith('flags'));
  if (!line) return null;
  const flags = new Set(line.split(':')[1]?.trim().split(/\s+/) ?? []);
  return SKYLAKEX_FLAGS.every((f) => flags.has(f)) ? 'SkylakeX' : null;
}

/** Kernel families below SkylakeX on x86-64, which the upgrade may replace. */
const OLDER = new Set([
  'prescott',
  'core2',
  'penryn',
  'dunnington',
  'nehalem',
  'sandybridge',
  'haswell',
  'zen',
  'atom',
  'barcelona',
  'bulldozer',
  'piledriver',
  'steamroller',
  'excavator',
]);

/** Sets OPENBLAS_CORETYPE for the CPU (see the file comment). */
export function configureBlasCore(): void {
  const forced = process.env.PATHWISE_BLAS_CORE;
  const env = process.env.OPENBLAS_CORETYPE;
  if (forced === 'keep') return;
  if (forced) {
    process.env.OPENBLAS_CORETYPE = forced;
    return;
  }
  const best = preferredBlasCore();
  if (best !== null && (!env || OLDER.has(env.toLowerCase()))) process.env.OPENBLAS_CORETYPE = best;
}
