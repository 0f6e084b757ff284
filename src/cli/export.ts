// `pathwise export <model folder> --out DIR [--dtype f16|f32]`: rewrites a model folder's weights,
// e.g. as F16 (half the size; about 3 significant digits), with its other files copied. Works on
// any Pathwise model folder: dense, sparse, or a path system (whose loader reads F16 weights as
// well; an F16 copy predicts with rounded weights, so only an F32 export keeps the earlier tasks'
// logits bit-for-bit). Only a folder that loads is exported, and the copy is loaded as it is
// written, before it replaces anything (util/atomic.ts): an export never leaves a folder that
// cannot be used. --out may be neither the folder itself nor inside it.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, serializeSafetensors } from '../engine/index.js';
import { folderKind, loadModel, loadPretrained } from '../model/index.js';
import { writeDirAtomic } from '../util/atomic.js';
import { checkOutsideOf, checkWritableFolder } from '../util/writable.js';
import { parseCommandLine, UsageError } from './args.js';

const USAGE = 'usage: pathwise export <model folder> --out DIR [--dtype f16|f32]';

/** Loads a model folder as the commands that use it do; throws the loader's error if it cannot. */
function loadFolder(dir: string): void {
  const kind = folderKind(dir);
  if (kind === 'components' || kind === 'encoder') loadModel(dir);
  else loadPretrained(dir);
}

export function exportCommand(argv: string[]): void {
  const { rest, flags } = parseCommandLine(argv, { out: 'string', dtype: 'string' }, USAGE);
  if (rest.length !== 1 || !flags.out) throw new UsageError(USAGE);
  const dtype = (flags.dtype ?? 'f16').toLowerCase();
  if (dtype !== 'f16' && dtype !== 'f32') throw new UsageError(`--dtype must be f16 or f32, got ${flags.dtype}`);
  const src = rest[0];
  loadFolder(src);
  checkOutsideOf(src, flags.out, 'exported');
  checkWritableFolder(flags.out, '--out');
  const { tensors, metadata } = readSafetensors(join(src, 'model.safetensors'));
  const files: Record<string, string | Uint8Array> = {};
  for (const e of readdirSync(src, { withFileTypes: true })) if (e.isFile()) files[e.name] = readFileSync(join(src, e.name));
  files['model.safetensors'] = serializeSafetensors(tensors, metadata, { floatDtype: dtype === 'f16' ? 'F16' : 'F32' });
  writeDirAtomic(flags.out, files, { check: loadFolder });
  process.stdout.write(`wrote ${flags.out} (${dtype}, ${(files['model.safetensors'].length / 1e6).toFixed(1)} MB of weights)\n`);
}
