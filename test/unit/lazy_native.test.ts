// Importing pathwise must not load the native addon (and with it OpenBLAS): a user who imports it
// for the tokenizer or a config type pays no dlopen and sees no missing-addon warning. The addon
// is loaded by the first kernel call instead. Each case runs in a fresh Node process, because
// this test file's own process may already have loaded the addon, and reads that process's
// /proc/self/maps, which lists every shared object it has mapped.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadNativeKernels } from '../../src/engine/kernels_native.js';
import { ROOT } from '../helpers.js';

const onLinux = existsSync('/proc/self/maps');
// Whether the addon can load here at all (this process loading it is harmless).
const nativeLoads = loadNativeKernels().kernels !== null;

interface Probe {
  afterImport: boolean;
  afterTsBlock: boolean;
  tsBlockBackend: string;
  afterOp: boolean;
  backend: string;
  product: number[];
  available: string[];
  warnings: string[];
}

// Imports pathwise by its package name (the package's own "exports" map resolves it), so this is
// also what a user's `import 'pathwise'` loads.
const PROBE = `
import { readFileSync } from 'node:fs';
const mapped = () => readFileSync('/proc/self/maps', 'utf8').includes('pathwise.node');
const warnings = [];
process.on('warning', (w) => warnings.push(w.code ?? w.name));
await import('pathwise');
const E = await import('pathwise/engine');
const afterImport = mapped();
const tsBlockBackend = E.withBackend('ts', () => E.backendName());
const afterTsBlock = mapped();
const product = E.matmul(E.tensor([1, 2, 3, 4, 5, 6], [2, 3]), E.tensor([1, 0, 0, 1, 1, 1], [3, 2])).toArray();
const afterOp = mapped();
const backend = E.backendName();
const available = E.availableBackends();
await new Promise((r) => setImmediate(r));
console.log(JSON.stringify({ afterImport, afterTsBlock, tsBlockBackend, afterOp, backend, product, available, warnings }));
`;

function probe(env: Record<string, string | undefined>): Probe {
  const childEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', PROBE], { cwd: ROOT, env: childEnv, encoding: 'utf8' });
  assert.equal(r.status, 0, `probe failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Probe;
}

describe('the native addon is loaded on first use, not at import', { skip: onLinux ? false : 'needs /proc/self/maps' }, () => {
  it('import maps no addon; a withBackend("ts") block loads none; the first op loads it and runs natively', () => {
    const p = probe({ PATHWISE_BACKEND: undefined });
    assert.equal(p.afterImport, false, 'pathwise.node is mapped right after import');
    assert.equal(p.tsBlockBackend, 'ts');
    assert.equal(p.afterTsBlock, false, 'switching to the TypeScript backend loaded the addon');
    assert.deepEqual(p.product, [4, 5, 10, 11]);
    assert.equal(p.afterOp, nativeLoads, `after one op, pathwise.node mapped: ${p.afterOp}`);
    assert.equal(p.backend, nativeLoads ? 'native' : 'ts');
    assert.deepEqual(p.available, nativeLoads ? ['native', 'ts'] : ['ts']);
    // The missing-addon warning comes with the first op, once, and only when the addon is missing.
    assert.deepEqual(p.warnings, nativeLoads ? [] : ['PATHWISE_NO_NATIVE']);
  });

  it('PATHWISE_BACKEND=ts: ops never load the addon; asking which backends exist does', () => {
    const p = probe({ PATHWISE_BACKEND: 'ts' });
    assert.equal(p.afterImport, false);
    assert.deepEqual(p.product, [4, 5, 10, 11]);
    assert.equal(p.backend, 'ts');
    assert.equal(p.afterOp, false, 'an op on the TypeScript backend loaded the addon');
    assert.deepEqual(p.available, nativeLoads ? ['native', 'ts'] : ['ts']);
    assert.deepEqual(p.warnings, []);
  });
});
