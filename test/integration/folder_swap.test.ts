// Model folders are never missing (issue 15, item 1): a save killed at any step of its folder swap
// leaves the old version or the new one, complete, once the next open has recovered it, and no
// temporary folder behind. The save pauses at a step through a test hook
// (PATHWISE_TEST_PAUSE_SAVE, src/util/atomic.ts) and is killed there with SIGKILL.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../helpers.js';
import { loadModel } from '../../src/model/index.js';
import { SWAP_STEPS, recoverDir } from '../../src/util/atomic.js';

/** Runs `args` with the save paused at `step`, and kills it there. */
function killAt(step: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, PATHWISE_TEST_PAUSE_SAVE: step }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes(`paused at ${step}`)) child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`the save was not paused at ${step} (exit ${code}): ${err}`))));
  });
}

const leftovers = (parent: string, name: string) => readdirSync(parent).filter((n) => n.startsWith(`.${name}.`));

describe('a save killed at each step of the folder swap', () => {
  it('leaves the old or the new version, complete, and nothing else after recovery', async () => {
    const work = mkdtempSync(join(tmpdir(), 'pw-swap-'));
    try {
      const atomic = pathToFileURL(join(ROOT, 'dist', 'src', 'util', 'atomic.js')).href;
      for (const step of SWAP_STEPS) {
        const dir = join(work, step);
        mkdirSync(dir);
        writeFileSync(join(dir, 'a.txt'), 'old a');
        writeFileSync(join(dir, 'b.txt'), 'old b');
        const script = `import(${JSON.stringify(atomic)}).then((m) => m.writeDirAtomic(${JSON.stringify(dir)}, { 'a.txt': 'new a', 'b.txt': 'new b' }))`;
        await killAt(step, ['-e', script]);
        assert.ok(leftovers(work, step).length > 0, `${step}: the killed save left its temporary folders`);
        assert.equal(existsSync(dir), step !== 'moved-old', `${step}: the folder is missing only between the two renames`);
        assert.equal(recoverDir(dir), true);
        // Up to "staged" the old version stays; from "moved-old" on the new one is complete.
        const want = step === 'written' || step === 'staged' ? 'old' : 'new';
        assert.deepEqual([readFileSync(join(dir, 'a.txt'), 'utf8'), readFileSync(join(dir, 'b.txt'), 'utf8')], [`${want} a`, `${want} b`], step);
        assert.deepEqual(leftovers(work, step), [], `${step}: leftovers reclaimed`);
        assert.equal(recoverDir(dir), false, `${step}: a recovered folder needs nothing more`);
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('pathwise add-task killed between its renames: the next open finds the model with the new task', async () => {
    const work = mkdtempSync(join(tmpdir(), 'pw-swap-model-'));
    try {
      const dir = join(work, 'model');
      cpSync(join(ROOT, 'test', 'fixtures', 'reference', 'dense_tiny'), dir, { recursive: true });
      const cli = join(ROOT, 'dist', 'src', 'cli', 'main.js');
      await killAt('moved-old', [cli, 'add-task', dir, '--task', 'wic', '--children', '1', '--steps', '2', '--batch-size', '8', '--eval-examples', '20']);
      assert.equal(existsSync(dir), false);
      const model = loadModel(dir);
      assert.deepEqual([...model.tasks.keys()], ['sent', 'pos', 'wic']);
      assert.deepEqual(leftovers(work, 'model'), []);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
