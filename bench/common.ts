// Shared by the benchmarks: flags, medians, and the PyTorch reference run as a subprocess.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..');
export const PY = process.env.PATHWISE_TORCH_PYTHON ?? '/usr/bin/python3';

export function flag(name: string, dflt: number): number {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2 : NaN;
}

export const log = (s: string): void => {
  process.stderr.write(s + '\n');
};

/** null if PyTorch can be run, else why not. */
export function torchMissing(): string | null {
  if (!existsSync(PY)) return `${PY} not found`;
  const r = spawnSync(PY, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? null : 'PyTorch is not installed (apt-get install python3-torch, or PATHWISE_BENCH=1 bash scripts/setup.sh)';
}

/** Runs a bench/*.py script and returns the JSON object it prints last. */
export function runTorch(script: string, args: string[]): Record<string, any> {
  const r = spawnSync(PY, [join('bench', script), ...args], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr.slice(-2000)}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

/** PyTorch's fastest (intra-op, OpenBLAS) thread setting for a script, or null without PyTorch. */
export function pickTorchThreads(script: string, args: string[]): { intra: number; blas: number; info: Record<string, any> } | null {
  if (torchMissing() !== null) return null;
  const pick = runTorch(script, [...args, '--pick-threads', '--steps', '4', '--warmup', '2']);
  return { intra: pick.intra_threads, blas: pick.blas_threads, info: pick };
}
