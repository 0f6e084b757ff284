// `pathwise quantize <model folder> --out DIR`: the model with int8 weights (compress/quantize.ts):
// every weight matrix as I8 with one F32 scale per row, stored under the documented names
// (model/quantized_weights.ts). The folder opens like any other (predict, eval, serve, the
// library's fromPretrained) and runs its linear layers on the int8 GEMM. The copy is loaded as it
// is written, before it replaces anything (util/atomic.ts); --out may be neither the folder itself
// nor inside it.

import { statSync } from 'node:fs';
import { join } from 'node:path';
import { quantizeModel } from '../compress/index.js';
import { loadModel, modelFiles } from '../model/index.js';
import { writeDirAtomic } from '../util/atomic.js';
import { checkOutsideOf, checkWritableFolder } from '../util/writable.js';
import { parseCommandLine, UsageError } from './args.js';

const USAGE = 'usage: pathwise quantize <model folder> --out DIR';

export function quantizeCommand(argv: string[]): void {
  const { rest, flags } = parseCommandLine(argv, { out: 'string' }, USAGE);
  if (rest.length !== 1 || !flags.out) throw new UsageError(USAGE);
  const src = rest[0];
  const model = loadModel(src);
  checkOutsideOf(src, flags.out, 'quantized');
  checkWritableFolder(flags.out, '--out');
  const report = quantizeModel(model);
  const files = modelFiles(model);
  writeDirAtomic(flags.out, files, { check: (dir) => void loadModel(dir) });
  const before = statSync(join(src, 'model.safetensors')).size;
  const after = files['model.safetensors'].length;
  process.stdout.write(
    `wrote ${flags.out}: ${report.quantized.length} weight tensors int8 (${(report.int8Values / 1e6).toFixed(2)}M values), ` +
      `${(report.floatValues / 1e6).toFixed(2)}M values float32; weights ${(before / 1e6).toFixed(1)} MB -> ${(after / 1e6).toFixed(1)} MB (${(before / after).toFixed(2)}x smaller)\n`,
  );
}
