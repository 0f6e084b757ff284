// A served model folder's version, and loading a folder with the version it was loaded at:
// in the calling thread (loadVersion), or in a thread of its own (loadVersionInThread: what a
// reload does, so that the server keeps answering while the folder is read and checked).

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { loadModel, type SharedModel, type TaskModel } from '../model/index.js';
import { withoutRandomInit } from '../nn/index.js';
import { InputError } from '../util/errors.js';
import type { LoadReply } from './load_worker.js';

/** A model folder's version: the first 12 hex digits of the SHA-256 of its config and weights. */
export function folderVersion(dir: string): string {
  const h = createHash('sha256');
  for (const f of ['config.json', 'model.safetensors']) h.update(readFileSync(join(dir, f)));
  return h.digest('hex').slice(0, 12);
}

/**
 * Loads a model folder and its version. The version is read before and after the load: if they
 * differ, a save replaced the folder meanwhile, and the load is tried again (three times at most).
 * A folder that cannot be read is an InputError naming the file. The model is for serving only
 * (built without random initial values: see withoutRandomInit).
 */
export function loadVersion(dir: string): { model: TaskModel; version: string } {
  const versionOf = () => {
    try {
      return folderVersion(dir);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new InputError(`${err.path ?? dir}: cannot read it (${err.code ?? err.message})`, err.path ?? dir);
    }
  };
  for (let i = 0; ; i++) {
    const before = versionOf();
    // A served model never trains: its modules need not draw initial values that the folder's
    // weights replace at once (most of a load's time otherwise).
    const model = withoutRandomInit(() => loadModel(dir));
    const version = versionOf();
    if (before === version) return { model, version };
    if (i === 2) throw new InputError(`${dir}: the folder kept changing while it was loaded; try again`, dir);
  }
}

const LOAD_WORKER = new URL('./load_worker.js', import.meta.url);

/**
 * loadVersion in a thread of its own, the model handed back shared (model/shared_model.ts: its
 * weights are not copied back). A folder that cannot be loaded is an InputError, as loadVersion's.
 */
export function loadVersionInThread(dir: string): Promise<{ shared: SharedModel; version: string }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(fileURLToPath(LOAD_WORKER), { workerData: { dir } });
    let answered = false;
    worker.once('message', (m: LoadReply) => {
      answered = true;
      if (m.kind === 'loaded') resolve({ shared: m.shared, version: m.version });
      else if (m.inputError) reject(new InputError(m.message, m.file ?? dir));
      else reject(new Error(`loading ${dir} failed: ${m.message}`));
    });
    worker.once('error', (e) => {
      answered = true;
      reject(new Error(`the thread loading ${dir} failed: ${e.message}`, { cause: e }));
    });
    worker.once('exit', (code) => {
      if (!answered) reject(new Error(`the thread loading ${dir} exited (code ${code}) without an answer`));
    });
  });
}
