// `pathwise serve <model folder> [--config FILE.json] [--host 127.0.0.1] [--port 8080] [--max-wait-ms 5] ...`:
// every task of the model over HTTP (src/serve/server.ts). One flag per key of the serve config
// (src/serve/serve_config.ts), in kebab case; a serve config file holds the same keys, and flags
// given beside it win. Logs are pino's JSON lines on stdout; stderr says where it listens (the port
// chosen, with --port 0) and when it stops. SIGTERM (or SIGINT) stops taking requests, answers
// every queued one, and exits 0.

import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { loadModel } from '../model/index.js';
import { DEFAULT_SERVE_CONFIG, buildServer, folderVersion, serveConfigSchema } from '../serve/index.js';
import { InputError } from '../util/errors.js';
import { describeJson } from '../util/jsonl.js';
import { configFlags, configOfFlags, parseCommandLine, UsageError } from './args.js';

const SERVE_FLAGS = configFlags(Object.keys(serveConfigSchema.shape));

const USAGE = `usage: pathwise serve <model folder> [--config FILE.json] ${[...SERVE_FLAGS]
  .map(([flag, key]) => `[--${flag} ${DEFAULT_SERVE_CONFIG[key as keyof typeof DEFAULT_SERVE_CONFIG]}]`)
  .join(' ')}`;

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`serve config ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new InputError(`serve config ${file}: not valid JSON (${(e as Error).message})`, file);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new InputError(`serve config ${file}: expected a JSON object, got ${describeJson(v)}`, file);
  return v as Record<string, unknown>;
}

export async function serveCommand(argv: string[]): Promise<void> {
  const spec = { config: 'string', ...Object.fromEntries([...SERVE_FLAGS.keys()].map((f) => [f, 'string'])) } as Record<string, 'string'>;
  const { rest, flags } = parseCommandLine(argv, spec, USAGE);
  if (rest.length !== 1) throw new UsageError(USAGE);
  const [dir] = rest;
  const base = flags.config !== undefined ? readConfigFile(flags.config) : {};
  const config = configOfFlags(serveConfigSchema, SERVE_FLAGS, flags, base, flags.config && `serve config ${flags.config}`);
  const model = loadModel(dir);
  const version = folderVersion(dir);
  const app = buildServer({ model, version, config, logger: true });
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
      await app.close();
      throw new UsageError(
        `cannot listen on ${config.host} port ${config.port}: ${code}${code === 'EADDRINUSE' ? ' (the port is taken; --port 0 picks a free one)' : ''}`,
      );
    }
    throw e;
  }
  const { port } = app.server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  process.stderr.write(`pathwise serve: ${dir} (version ${version}; tasks: ${[...model.tasks.keys()].join(', ')}) on http://${host}:${port}\n`);
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  process.stderr.write(`pathwise serve: ${signal}: answering the queued requests, then stopping\n`);
  await app.close();
  process.stderr.write('pathwise serve: stopped\n');
}
