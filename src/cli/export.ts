// `pathwise export <model folder> --out DIR [--dtype f16|f32]`: rewrites a model folder's weights,
// e.g. as F16 (half the size; about 3 significant digits), with config.json and tokenizer.json
// copied. Written atomically. Works on any Pathwise model folder: dense, sparse, or a path system
// (whose loader reads F16 weights as well; an F16 copy predicts with rounded weights, so only an
// F32 export keeps the earlier tasks' logits bit-for-bit). The folder is loaded first, so that a
// folder that cannot be loaded is refused rather than copied; --out may not be the folder itself.

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readSafetensors, serializeSafetensors } from '../engine/index.js';
import { folderKind, loadModel, loadPretrained } from '../model/index.js';
import { writeDirAtomic } from '../util/atomic.js';
import { parseCommandLine, UsageError } from './args.js';

const USAGE = 'usage: pathwise export <model folder> --out DIR [--dtype f16|f32]';

export function exportCommand(argv: string[]): void {
  const { rest, flags } = parseCommandLine(argv, { out: 'string', dtype: 'string' }, USAGE);
  if (rest.length !== 1 || !flags.out) throw new UsageError(USAGE);
  const dtype = (flags.dtype ?? 'f16').toLowerCase();
  if (dtype !== 'f16' && dtype !== 'f32') throw new UsageError(`--dtype must be f16 or f32, got ${flags.dtype}`);
  const src = rest[0];
  const weights = join(src, 'model.safetensors');
  if (!existsSync(weights)) throw new UsageError(`${src}: no model.safetensors`);
  if (resolve(flags.out) === resolve(src)) throw new UsageError(`--out ${flags.out} is the folder being exported; give another folder`);
  // Only a folder that loads is exported: its weights and config are checked as a load checks them.
  const kind = folderKind(src);
  if (kind === 'components' || kind === 'encoder') loadModel(src);
  else loadPretrained(src);
  const { tensors, metadata } = readSafetensors(weights);
  const files: Record<string, string | Uint8Array> = {
    'model.safetensors': serializeSafetensors(tensors, metadata, { floatDtype: dtype === 'f16' ? 'F16' : 'F32' }),
  };
  for (const f of ['config.json', 'tokenizer.json']) if (existsSync(join(src, f))) files[f] = readFileSync(join(src, f));
  writeDirAtomic(flags.out, files);
  process.stdout.write(`wrote ${flags.out} (${dtype}, ${(files['model.safetensors'].length / 1e6).toFixed(1)} MB of weights)\n`);
}
