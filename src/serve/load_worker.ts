// The entry of the thread a reload loads the model folder in (model_version.ts
// loadVersionInThread): the folder is read and checked here, off the server's event loop, and the
// model is posted back shared (its weights in a SharedArrayBuffer, not copied). One load, then exit.

import { parentPort, workerData } from 'node:worker_threads';
import { shareModel, type SharedModel } from '../model/index.js';
import { InputError } from '../util/errors.js';
import { loadVersion } from './model_version.js';

export type LoadReply =
  | { kind: 'loaded'; shared: SharedModel; version: string }
  /** inputError: the folder is at fault (an InputError, naming `file`), not the loader. */
  | { kind: 'failed'; inputError: boolean; message: string; file: string | null };

function load(port: NonNullable<typeof parentPort>, dir: string): void {
  let reply: LoadReply;
  try {
    const { model, version } = loadVersion(dir);
    reply = { kind: 'loaded', shared: shareModel(model), version };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    reply = { kind: 'failed', inputError: err instanceof InputError, message: err.message, file: err instanceof InputError ? (err.file ?? null) : null };
  }
  port.postMessage(reply);
}

if (parentPort) load(parentPort, (workerData as { dir: string }).dir);
