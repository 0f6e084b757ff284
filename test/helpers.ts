// Shared test utilities: fixtures, tolerant comparison, and running a suite on every backend.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { beforeEach, describe } from 'node:test';
import { Tensor, availableBackends, setBackend, type BackendName } from '../src/engine/index.js';
export type { BackendName };

/** The repository root (tests run from dist/test/). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface FxTensor {
  shape: number[];
  dtype: 'float32' | 'int32';
  data: number[];
}

export function loadFixture<T = unknown>(name: string): T {
  // JSON cannot hold infinities; the fixture script writes them as strings.
  const revive = (_k: string, v: unknown) => (v === '-Infinity' ? -Infinity : v === 'Infinity' ? Infinity : v === 'NaN' ? NaN : v);
  return JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', name), 'utf8'), revive) as T;
}

export function fromFx(fx: FxTensor, requiresGrad = false): Tensor {
  const data = fx.dtype === 'int32' ? Int32Array.from(fx.data) : Float32Array.from(fx.data);
  return new Tensor(data, fx.shape, requiresGrad && fx.dtype === 'float32');
}

export interface Tol {
  rtol?: number;
  atol?: number;
}

/** Asserts |a - e| <= atol + rtol |e| elementwise, naming the worst element on failure. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol: Tol = {}): void {
  const rtol = tol.rtol ?? 1e-4;
  const atol = tol.atol ?? 1e-5;
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} != ${expected.length}`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (a === e) continue; // covers matching infinities
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    assert.fail(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
  }
}

/**
 * Declares one describe() per available backend; each test inside runs with that backend
 * selected (set in beforeEach, because node:test runs test bodies after collecting them).
 */
export function describeEachBackend(title: string, body: (backend: BackendName) => void): void {
  for (const name of availableBackends()) {
    describe(`${title} [${name}]`, () => {
      beforeEach(() => setBackend(name));
      body(name);
    });
  }
}

/**
 * Asserts two JSON-like values equal: numbers within `tol` (0: bit for bit), everything else
 * (strings, keys, nulls, booleans) exactly. Returns the largest numeric difference seen.
 */
export function assertDeepClose(actual: unknown, expected: unknown, tol: number, where = 'value'): number {
  if (typeof expected === 'number') {
    assert.equal(typeof actual, 'number', `${where}: ${JSON.stringify(actual)} is not a number`);
    const d = Math.abs((actual as number) - expected);
    assert.ok(d <= tol, `${where}: ${actual} != ${expected} (difference ${d}, tolerance ${tol})`);
    return d;
  }
  if (expected === null || typeof expected !== 'object') {
    assert.strictEqual(actual, expected, where);
    return 0;
  }
  assert.ok(actual !== null && typeof actual === 'object', `${where}: ${JSON.stringify(actual)} is not an object`);
  assert.equal(Array.isArray(actual), Array.isArray(expected), `${where}: array against object`);
  assert.deepEqual(Object.keys(actual as object), Object.keys(expected), `${where}: keys`);
  let worst = 0;
  for (const [k, v] of Object.entries(expected)) worst = Math.max(worst, assertDeepClose((actual as Record<string, unknown>)[k], v, tol, `${where}.${k}`));
  return worst;
}
