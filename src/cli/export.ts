// `pathwise export <model folder> --out DIR [--dtype f16|f32]`: rewrites a model folder's weights,
// e.g. as F16 (half the size; about 3 significant digits), with its other files copied. Works on
// any Pathwise model folder: dense, sparse, or a path system (whose loader reads F16 weights as
// well; an F16 copy predicts with rounded weights, so only an F32 export keeps the earlier tasks'
// logits bit-for-bit). Only a folder that loads is exported, and the copy is loaded as it is
// written, before it replaces anything (util/atomic.ts): an export never leaves a folder that
// cannot be used. --out may be neither the folder itself nor inside it.
//
// `pathwise export <model folder> --format onnx --out DIR [--task T[,T...]] [--int8]`: one ONNX
// graph per task, each holding that task's path only, in the transformers.js folder layout
// (export/folder.ts; docs/export.md). --int8 adds onnx/model_quantized.onnx with the weights
// `pathwise quantize` would give (a folder already quantized keeps its own int8 weights).

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, serializeSafetensors } from '../engine/index.js';
import { folderKind, loadModel, loadPretrained, type TaskModel } from '../model/index.js';
import { exportOnnx } from '../export/index.js';
import { quantizeModel } from '../compress/index.js';
import { int8Of } from '../engine/index.js';
import { writeDirAtomic } from '../util/atomic.js';
import { checkOutsideOf, checkWritableFolder } from '../util/writable.js';
import { parseCommandLine, UsageError } from './args.js';

const USAGE =
  'usage: pathwise export <model folder> --out DIR [--dtype f16|f32]\n       pathwise export <model folder> --format onnx --out DIR [--task T[,T...]] [--int8]';

/** Loads a model folder as the commands that use it do; throws the loader's error if it cannot. */
function loadFolder(dir: string): void {
  const kind = folderKind(dir);
  if (kind === 'components' || kind === 'encoder') loadModel(dir);
  else loadPretrained(dir);
}

export function exportCommand(argv: string[]): void {
  const { rest, flags } = parseCommandLine(argv, { out: 'string', dtype: 'string', format: 'string', task: 'string', int8: 'boolean' }, USAGE);
  if (rest.length !== 1 || !flags.out) throw new UsageError(USAGE);
  const format = (flags.format ?? 'safetensors').toLowerCase();
  if (format === 'onnx') {
    if (flags.dtype) throw new UsageError(`--dtype is for --format safetensors; an ONNX export is fp32 (and int8 with --int8)\n${USAGE}`);
    exportOnnxCommand(rest[0], flags.out, flags.task, flags.int8 ?? false);
    return;
  }
  if (format !== 'safetensors') throw new UsageError(`--format must be safetensors or onnx, got ${flags.format}\n${USAGE}`);
  if (flags.task || flags.int8) throw new UsageError(`--task and --int8 are for --format onnx\n${USAGE}`);
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

/** Whether `pathwise quantize` already gave the model its int8 weights. */
function isQuantized(m: TaskModel): boolean {
  return m.namedParameters().some(([, p]) => int8Of(p) !== undefined);
}

function exportOnnxCommand(src: string, out: string, taskList: string | undefined, int8: boolean): void {
  const kind = folderKind(src);
  if (kind !== 'components' && kind !== 'encoder')
    throw new UsageError(`${src}: a ${kind} folder has no tasks to export; --format onnx exports a trained model's tasks`);
  const model = loadModel(src);
  checkOutsideOf(src, out, 'exported');
  checkWritableFolder(out, '--out');
  const tasks = taskList
    ? taskList
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '')
    : undefined;
  for (const t of tasks ?? [])
    if (!model.tasks.has(t)) throw new UsageError(`--task ${t}: ${src} has no task "${t}" (it has ${[...model.tasks.keys()].join(', ')})`);
  let int8Model: TaskModel | undefined;
  if (int8) {
    int8Model = isQuantized(model) ? model : loadModel(src);
    if (int8Model !== model) quantizeModel(int8Model);
  }
  const reports = exportOnnx(model, out, { tasks, int8Model });
  for (const r of reports) {
    const q = r.bytesInt8 === null ? '' : `, int8 ${(r.bytesInt8 / 1e6).toFixed(1)} MB`;
    process.stdout.write(`${out}/${r.task}: onnx/model.onnx ${(r.bytes / 1e6).toFixed(1)} MB${q}; inputs ${r.inputs.join(', ')}\n`);
  }
}
