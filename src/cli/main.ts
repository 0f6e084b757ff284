#!/usr/bin/env node
// The `pathwise` command line. Exit codes: 0 success, 1 internal failure, 2 bad input (usage,
// config, corpus), with the message on stderr and nothing written.

// Each command's module is imported when it runs, so that a command loads only what it uses
// (startup is most of a short command's time).

import { UsageError } from './args.js';
import { InputError } from '../util/errors.js';

const USAGE = `usage: pathwise <command> [options]

commands:
  pretrain   pretrain the encoder (masked / causal LM), dense or sparse; see pathwise pretrain --help
  inspect    parameters, activated parameters and FLOPs per token of a model, per task and layer
  train      train tasks jointly (built-in or from data files), from a pretrained base or scratch
  eval       score a trained model on its tasks' test (or dev) sets
  predict    predict with a trained model: pathwise predict <model> --task T [--json] [--input FILE|-] "text"
  export     rewrite a model folder's weights, e.g. as F16: pathwise export <model> --out DIR
  quantize   the model with int8 weights (faster inference, weights ~3.5x smaller): pathwise quantize <model> --out DIR
  add-task   add a task to a trained model in place by evolutionary path search (μ2Net):
             pathwise add-task <model> --task <task config .json | built-in task>
  tasks      list a model's tasks with their paths, activated and added parameters
  serve      serve every task of a model over HTTP, batching inputs of mixed tasks:
             pathwise serve <model> [--host 127.0.0.1] [--port 8080] [--config FILE.json] ...
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  switch (cmd) {
    case 'pretrain':
      await (await import('./pretrain.js')).pretrainCommand(args);
      return 0;
    case 'inspect':
      (await import('./inspect.js')).inspectCommand(args);
      return 0;
    case 'train':
      await (await import('./train.js')).trainCommand(args);
      return 0;
    case 'eval':
      await (await import('./train.js')).evalCommand(args);
      return 0;
    case 'predict':
      await (await import('./predict.js')).predictCommand(args);
      return 0;
    case 'export':
      (await import('./export.js')).exportCommand(args);
      return 0;
    case 'quantize':
      (await import('./quantize.js')).quantizeCommand(args);
      return 0;
    case 'add-task':
      await (await import('./add_task.js')).addTaskCommand(args);
      return 0;
    case 'tasks':
      (await import('./tasks.js')).tasksCommand(args);
      return 0;
    case 'serve':
      await (await import('./serve.js')).serveCommand(args);
      return 0;
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${cmd}"\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const err = e as Error;
    // Bad input (InputError, or a RangeError naming an impossible value): exit 2, nothing written.
    const bad = err instanceof InputError || err instanceof RangeError;
    process.stderr.write(`pathwise: ${bad ? '' : 'internal error: '}${err.message}\n`);
    if (!bad && process.env.PATHWISE_DEBUG) process.stderr.write(`${err.stack}\n`);
    process.exitCode = bad ? 2 : 1;
  },
);
