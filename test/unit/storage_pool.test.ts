// The buffer pool's cap (engine/storage.ts setPoolLimit): buffers given back are kept up to the
// cap, a lower cap empties a pool over it, and a nonsense cap is refused.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clearPool, emptyF32, pooledFloats, release, setPoolLimit } from '../../src/engine/storage.js';

describe('the buffer pool', () => {
  after(() => setPoolLimit(Number(process.env.PATHWISE_POOL_MB ?? 512)));

  it('keeps released buffers up to its cap; a lower cap empties it; a negative one is refused', () => {
    clearPool();
    setPoolLimit(1); // 262,144 floats
    release(emptyF32(100_000));
    const kept = pooledFloats();
    assert.ok(kept >= 100_000 && kept < 2 * 100_000, `one buffer of 100,000 floats' class kept (${kept})`);
    release(emptyF32(200_000)); // would pass the cap: not kept
    assert.equal(pooledFloats(), kept);
    setPoolLimit(0);
    assert.equal(pooledFloats(), 0);
    release(emptyF32(5000));
    assert.equal(pooledFloats(), 0, 'a cap of 0 keeps nothing');
    assert.throws(() => setPoolLimit(-1), /setPoolLimit: a size in MiB >= 0, got -1/);
  });
});
