// `pathwise serve <model folder> [--config FILE.json] [--host 127.0.0.1] [--port 8080] [--max-wait-ms 5] ...`:
// every task of the model over HTTP (src/serve/server.ts). One flag per key of the serve config
// (src/serve/serve_config.ts), in kebab case; a serve config file holds the same keys, and flags
// given beside it win. Logs are pino's JSON lines on stdout; stderr says where it listens (the port
// chosen, with --port 0) and when it stops. SIGTERM (or SIGINT) stops taking requests, answers
// every queued one, and exits 0.
//
// --admin-token-file FILE turns the admin routes on (POST /v1/admin/reload): they need
// "Authorization: Bearer <the file's text>". The file is read once, at start; an unreadable or
// empty one is an error (exit 2). --watch reloads the folder when a save (add-task) replaces it.

import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { DEFAULT_SERVE_CONFIG, buildServer, loadVersion, serveConfigSchema } from '../serve/index.js';
import { InputError } from '../util/errors.js';
import { describeJson } from '../util/jsonl.js';
import { configFlags, configOfFlags, parseCommandLine, UsageError } from './args.js';

const SERVE_FLAGS = configFlags(Object.keys(serveConfigSchema.shape));

const USAGE = `usage: pathwise serve <model folder> [--config FILE.json] [--admin-token-file FILE] [--watch] ${[...SERVE_FLAGS]
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

/** The admin token: the file's text without surrounding white space; one word, not empty. */
export function readTokenFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`admin token file ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
  }
  const token = text.trim();
  if (!token) throw new InputError(`admin token file ${file}: it is empty; write the token in it`, file);
  if (/\s/.test(token)) throw new InputError(`admin token file ${file}: the token must be one line without spaces`, file);
  return token;
}

export async function serveCommand(argv: string[]): Promise<void> {
  const spec = {
    config: 'string',
    'admin-token-file': 'string',
    watch: 'boolean',
    ...Object.fromEntries([...SERVE_FLAGS.keys()].map((f) => [f, 'string'])),
  } as Record<string, 'string' | 'boolean'>;
  const { rest, flags } = parseCommandLine(argv, spec, USAGE);
  if (rest.length !== 1) throw new UsageError(USAGE);
  const [dir] = rest;
  const configFile = flags.config as string | undefined;
  const base = configFile !== undefined ? readConfigFile(configFile) : {};
  const config = configOfFlags(serveConfigSchema, SERVE_FLAGS, flags, base, configFile && `serve config ${configFile}`);
  const tokenFile = flags['admin-token-file'] as string | undefined;
  const adminToken = tokenFile === undefined ? undefined : readTokenFile(tokenFile);
  const watch = (flags as Record<string, unknown>).watch === true;
  const { model, version } = loadVersion(dir);
  const app = buildServer({ model, version, config, logger: true, folder: dir, adminToken, watch });
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
  process.stderr.write(
    `pathwise serve: ${dir} (version ${version}; tasks: ${[...model.tasks.keys()].join(', ')}${adminToken ? '; admin routes on' : ''}${watch ? '; watching it' : ''}) on http://${host}:${port}\n`,
  );
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  process.stderr.write(`pathwise serve: ${signal}: answering the queued requests, then stopping\n`);
  await app.close();
  process.stderr.write('pathwise serve: stopped\n');
}
