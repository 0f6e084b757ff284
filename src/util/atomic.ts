// Atomic writes: a reader never sees a half-written file or checkpoint folder, even if the
// process is killed mid-write. Files are written to a temporary name in the same folder, flushed,
// then renamed over the target (rename is atomic within a filesystem).

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

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

/**
 * Writes a whole folder atomically: the files go into a temporary sibling folder, which is then
 * renamed into place. An existing folder is replaced (moved aside first, removed after).
 */
export function writeDirAtomic(dir: string, files: Record<string, string | Uint8Array>): void {
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = tmpName(dir);
  mkdirSync(tmp);
  try {
    for (const [name, data] of Object.entries(files)) writeAndSync(join(tmp, name), data);
    syncDir(tmp);
    if (existsSync(dir)) {
      const old = tmpName(dir) + '-old';
      renameSync(dir, old);
      renameSync(tmp, dir);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, dir);
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  syncDir(dirname(dir));
}
