// `pathwise pretrain [--config FILE] [--a.b value ...] [--overwrite]`

import { loadPretrainConfig, pretrainConfigSchema } from '../train/pretrain_config.js';
import { pretrain } from '../train/pretrain.js';
import { keyPaths } from '../util/schema.js';
import { parseCommandLine, UsageError } from './args.js';

export { UsageError };

const PRETRAIN_USAGE = `usage: pathwise pretrain [--config FILE] [--KEY VALUE ...] [--overwrite]

Pretrains the encoder with masked (or causal) language modelling and writes OUT/model
(model.safetensors, config.json, tokenizer.json), OUT/checkpoints/ and OUT/metrics.jsonl.
A run whose OUT holds a checkpoint of the same config resumes from it.

  --config FILE     JSON config (docs/schemas/pretrain.schema.json); any key may also be given
                    as a flag, e.g. --train.steps 500 --model.layers 2 --data.corpus my.jsonl --out runs/x
  --overwrite       start over even if OUT holds a checkpoint of another config
`;

export async function pretrainCommand(argv: string[]): Promise<void> {
  const { overrides, rest, flags } = parseCommandLine(
    argv,
    { config: 'string', overwrite: 'boolean', help: 'boolean' },
    PRETRAIN_USAGE,
    keyPaths(pretrainConfigSchema),
  );
  if (flags.help) {
    process.stdout.write(PRETRAIN_USAGE);
    return;
  }
  if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
  const cfg = loadPretrainConfig(flags.config ?? null, overrides);
  await pretrain(cfg, { overwrite: flags.overwrite === true });
}
