// Recognising a model folder: its config.json, the folder format's version, and which kind of
// folder it is (folder.ts describes the kinds).

import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { recoverDir } from '../util/atomic.js';
import { InputError } from '../util/errors.js';
import { readFileOr } from '../util/read_file.js';
import { shown } from '../util/schema.js';
import { decodeUtf8Strict } from '../util/utf8.js';

/** A model folder that cannot be used: the message names the file and field. */
export class ModelFolderError extends InputError {}

/**
 * The folder format this version writes. 1: folders written before `format` existed (read as
 * they are). 2: adds "format", block components' "sparse", paths' "skills", and the
 * "components" kind's root "sparse" layout.
 */
export const FOLDER_FORMAT = 2;

export type FolderKind = 'base' | 'bert' | 'encoder' | 'components';

// ------------------------------------------------------------------------ recognising

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readJson(file: string): unknown {
  const text = decodeUtf8Strict(
    readFileOr(file, (code) => new ModelFolderError(`cannot read ${file}: ${code}`, file)),
    file,
    ModelFolderError,
  );
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelFolderError(`${file}: not valid JSON (${(e as Error).message})`, file);
  }
}

/** config.json of a model folder, checked to be a folder this version can read. */
export function readFolderConfig(dir: string): Record<string, unknown> {
  // A save killed between its two renames left no folder: finish or undo it (util/atomic.ts).
  // Other leftovers are the next save's to reclaim, so that reading never touches a folder that is
  // being written.
  if (!existsSync(dir)) recoverDir(dir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ModelFolderError(`${dir}: no such model folder`, dir);
  const file = join(dir, 'config.json');
  if (!existsSync(file)) throw new ModelFolderError(`${dir}: no config.json (is this a model folder?)`, file);
  const raw = readJson(file);
  if (!isObject(raw)) throw new ModelFolderError(`${file}: expected a JSON object`, file);
  const format = raw.format ?? 1;
  if (!Number.isInteger(format) || (format as number) < 1)
    throw new ModelFolderError(`${file}: "format" must be a positive integer, got ${shown(raw.format)}`, file);
  if ((format as number) > FOLDER_FORMAT) {
    throw new ModelFolderError(
      `${file}: written by a newer Pathwise (folder format ${format}; this version reads formats 1 to ${FOLDER_FORMAT}): upgrade pathwise to load it`,
      file,
    );
  }
  return raw;
}

/** What a folder's config.json describes. */
export function kindOfConfig(raw: Record<string, unknown>, file = 'config.json'): FolderKind {
  if (raw.model_type === 'bert') return 'bert';
  if (raw.model_type !== 'pathwise')
    throw new ModelFolderError(
      `${file}: ${raw.model_type === undefined ? 'no model_type' : `unsupported model_type ${shown(raw.model_type)}`} (expected "pathwise" or "bert")`,
      file,
    );
  if (raw.layout !== undefined && raw.layout !== 'encoder' && raw.layout !== 'components')
    throw new ModelFolderError(`${file}: layout must be "encoder" or "components" (or absent, for a pretrained base), got ${shown(raw.layout)}`, file);
  const arch = Array.isArray(raw.architectures) ? raw.architectures : [];
  if (raw.layout === 'components' || arch.includes('PathSystem')) return 'components';
  if (raw.layout === 'encoder' || Array.isArray(raw.tasks)) return 'encoder';
  return 'base';
}

/** The kind of the model folder `dir` (its config.json is read and checked). */
export function folderKind(dir: string): FolderKind {
  return kindOfConfig(readFolderConfig(dir), join(dir, 'config.json'));
}
