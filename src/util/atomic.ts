// Atomic writes: a reader never sees a half-written file or checkpoint folder, even if the
// process is killed mid-write. Files are written to a temporary name in the same folder, flushed,
// then renamed over the target (rename is atomic within a filesystem).

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InputError } from './errors.js';

function tmpName(target: string): string {
  return join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${Date.now().toString(36)}`);
}

function writeAndSync(path: string, data: string | Uint8Array): void {
  const fd = openSync(path, 'w');
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
}

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tmpName(path);
  try {
    writeAndSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  syncDir(dirname(path));
}

// A folder is replaced in steps, each a rename within its parent, so that at every instant either
// the old or the new version is in place or can be put back by recoverDir:
//   1. the files go into ".<name>.tmp-<id>" (incomplete until step 2);
//   2. renamed ".<name>.new-<id>": complete;
//   3. the old folder renamed ".<name>.old-<id>"      (only here is <name> missing: new-<id> holds the new version);
//   4. ".<name>.new-<id>" renamed <name>;
//   5. ".<name>.old-<id>" removed.
// recoverDir, run before every write (and by the model loader when the folder is missing),
// finishes or undoes a swap that a kill interrupted and removes what a killed write left behind;
// it leaves alone what a live process is still writing.

/** The steps of writeDirAtomic, for a test that kills a save at each of them. */
export const SWAP_STEPS = ['written', 'staged', 'moved-old', 'swapped'] as const;

/**
 * For tests only: with PATHWISE_TEST_PAUSE_SAVE=<step>, writeDirAtomic says "paused at <step>" on
 * stderr after that step and waits there (for up to a minute) to be killed.
 */
function testPause(step: (typeof SWAP_STEPS)[number]): void {
  if (process.env.PATHWISE_TEST_PAUSE_SAVE !== step) return;
  process.stderr.write(`paused at ${step}\n`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
}

/** Whether the process that wrote a leftover ("...-<pid>-<time>") may still be writing it. */
function writerAlive(name: string): boolean {
  const pid = Number(/-(\d+)-[0-9a-z]+(?:-old)?$/.exec(name)?.[1]);
  if (!Number.isInteger(pid) || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The leftovers of `kind` next to `dir`, oldest first, except those a live writer still owns. */
function siblings(dir: string, kind: 'tmp' | 'new' | 'old'): string[] {
  const parent = dirname(dir);
  if (!existsSync(parent)) return [];
  const prefix = `.${basename(dir)}.${kind}-`;
  return readdirSync(parent)
    .filter((n) => n.startsWith(prefix) && !writerAlive(n))
    .sort()
    .map((n) => join(parent, n));
}

/**
 * Puts a folder whose replacement was interrupted back in a consistent state: a missing folder is
 * restored from the complete new version (step 3 done) or else from the old one, and leftover
 * temporary, staged and old versions are removed. Returns whether it changed anything.
 */
export function recoverDir(dir: string): boolean {
  let changed = false;
  if (!existsSync(dir)) {
    const staged = siblings(dir, 'new');
    // Versions before these steps named the old folder ".<name>.tmp-<id>-old".
    const old = [...siblings(dir, 'tmp').filter((n) => n.endsWith('-old')), ...siblings(dir, 'old')];
    const from = staged.length ? staged[staged.length - 1] : old.length ? old[old.length - 1] : null;
    if (from) {
      renameSync(from, dir);
      changed = true;
    }
  }
  if (existsSync(dir)) {
    for (const leftover of [...siblings(dir, 'tmp'), ...siblings(dir, 'new'), ...siblings(dir, 'old')]) {
      rmSync(leftover, { recursive: true, force: true });
      changed = true;
    }
  }
  if (changed) syncDir(dirname(dir));
  return changed;
}

/**
 * What a save may replace: nothing, an empty folder, or an earlier version of the folder being
 * written (plain files only, at least one of them named as one of the new version's). Anything
 * else (a file, a folder of other things: `--out ~`) is refused, because the swap would delete it.
 */
function checkReplaceable(dir: string, names: string[]): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new InputError(`${dir} is a file, not a folder; give a folder to write to`, dir);
  const entries = readdirSync(dir, { withFileTypes: true });
  // A folder written with subfolders (names with "/", e.g. an export's "sent/onnx/model.onnx") may
  // hold those subfolders; anything else that is not a plain file is not ours.
  const top = new Set(names.map((n) => n.split('/')[0]));
  const sub = entries.find((e) => !e.isFile() && !(e.isDirectory() && top.has(e.name)));
  if (sub)
    throw new InputError(
      `${dir} holds "${sub.name}", which is not a plain file, so it is not an earlier version of what is being written; give a new or empty folder`,
      dir,
    );
  if (entries.length && !entries.some((e) => top.has(e.name))) {
    throw new InputError(
      `${dir} holds other files (${entries
        .slice(0, 3)
        .map((e) => e.name)
        .join(
          ', ',
        )}${entries.length > 3 ? ', ...' : ''}) and none of the files being written, so it is not an earlier version of them; give a new or empty folder`,
      dir,
    );
  }
}

/**
 * Writes a whole folder atomically (the steps above): a reader finds the old version or the new
 * one, complete, whenever the writer is killed. `check` is called with the written folder before it
 * replaces anything (export loads what it wrote there): if it throws, nothing is replaced. A name
 * may hold "/": the file goes in that subfolder.
 */
export function writeDirAtomic(dir: string, files: Record<string, string | Uint8Array>, opts: { check?: (written: string) => void } = {}): void {
  mkdirSync(dirname(dir), { recursive: true });
  recoverDir(dir);
  checkReplaceable(dir, Object.keys(files));
  const id = `${process.pid}-${Date.now().toString(36)}`;
  const at = (kind: string) => join(dirname(dir), `.${basename(dir)}.${kind}-${id}`);
  const tmp = at('tmp');
  mkdirSync(tmp);
  try {
    for (const [name, data] of Object.entries(files)) {
      if (name.includes('/')) mkdirSync(dirname(join(tmp, name)), { recursive: true });
      writeAndSync(join(tmp, name), data);
    }
    for (const d of new Set(Object.keys(files).map((n) => dirname(n)))) if (d !== '.') syncDir(join(tmp, d));
    syncDir(tmp);
    opts.check?.(tmp);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  testPause('written');
  const staged = at('new');
  renameSync(tmp, staged);
  syncDir(dirname(dir));
  testPause('staged');
  if (existsSync(dir)) {
    const old = at('old');
    renameSync(dir, old);
    testPause('moved-old');
    renameSync(staged, dir);
    syncDir(dirname(dir));
    testPause('swapped');
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(staged, dir);
  }
  syncDir(dirname(dir));
}
