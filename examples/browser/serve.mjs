#!/usr/bin/env node
// The browser demo's server: the page, one export folder (`pathwise export --format onnx`) under
// /models/, and the few library files the page imports, all from this one origin, so the page runs
// with no network. Usage: node examples/browser/serve.mjs EXPORT_DIR [--port N]   (0: any free port)
//
// Only GET routes over fixed folders: a path is taken a segment at a time, and `..`, `.`,
// backslashes and NULs are refused (400) before the file system is asked, then the resolved real path
// (symbolic links followed) must still be inside its folder.

import { createReadStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  // WebAssembly.instantiateStreaming refuses any other type.
  '.wasm': 'application/wasm',
  '.json': 'application/json; charset=utf-8',
  '.onnx': 'application/octet-stream',
  '.png': 'image/png',
};

/**
 * The library files the page needs. transformers.js's browser bundle inlines onnxruntime-web's
 * JavaScript but loads its WebAssembly (and the small module that instantiates it) at run time; the
 * two halves must be the same onnxruntime-web build, so the wasm comes from the copy transformers.js
 * pins (npm nests it under transformers.js when the project's own onnxruntime-web is another version).
 */
export function libraryFiles() {
  const tjs = join(ROOT, 'node_modules', '@huggingface', 'transformers');
  const pinned = JSON.parse(readFileSync(join(tjs, 'package.json'), 'utf8')).dependencies['onnxruntime-web'];
  const candidates = [join(tjs, 'node_modules', 'onnxruntime-web'), join(ROOT, 'node_modules', 'onnxruntime-web')];
  const found = [];
  for (const dir of candidates) {
    if (!existsSync(join(dir, 'package.json'))) continue;
    const version = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
    if (version === pinned) return { transformers: join(tjs, 'dist', 'transformers.min.js'), ortDist: join(dir, 'dist'), ortVersion: version };
    found.push(`${dir} is ${version}`);
  }
  throw new Error(`transformers.js pins onnxruntime-web ${pinned}, but no such copy is installed (${found.join('; ') || 'none found'}): run npm ci`);
}

/** The task folders of an export: those holding config.json and onnx/model.onnx. */
export function exportedTasks(exportDir) {
  return readdirSync(exportDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(exportDir, d.name, 'config.json')) && existsSync(join(exportDir, d.name, 'onnx', 'model.onnx')))
    .map((d) => d.name)
    .sort();
}

class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The file under `base` that the URL's remainder `rest` names, refusing anything that would leave it. */
async function fileUnder(base, rest) {
  const parts = rest.split('/');
  for (const p of parts)
    if (p === '.' || p === '..' || p.includes('\\') || p.includes('\0')) throw new HttpError(400, 'bad_path', `bad path segment ${JSON.stringify(p)}`);
  if (parts.includes('')) throw new HttpError(404, 'not_found', `no such file: ${rest}`);
  const type = TYPES[extname(rest).toLowerCase()];
  if (!type) throw new HttpError(404, 'not_found', `no such file: ${rest}`);
  let real;
  try {
    real = await realpath(join(base, ...parts));
  } catch {
    throw new HttpError(404, 'not_found', `no such file: ${rest}`);
  }
  const realBase = await realpath(base);
  if (!real.startsWith(realBase + sep)) throw new HttpError(400, 'bad_path', `${rest} leaves its folder`);
  const st = await stat(real);
  if (!st.isFile()) throw new HttpError(404, 'not_found', `no such file: ${rest}`);
  return { file: real, type, size: st.size };
}

/** Starts the server; resolves once it listens. `close()` stops it. */
export async function startDemoServer({ exportDir, port = 0, host = '127.0.0.1', logger = false }) {
  const models = resolve(exportDir);
  if (!existsSync(models)) throw new Error(`${models}: no such folder (make one with pathwise export MODEL --format onnx --out DIR)`);
  const lib = libraryFiles();
  const app = Fastify({ logger });

  const send = async (reply, base, rest) => {
    const { file, type, size } = await fileUnder(base, rest);
    // no-store: a re-export into the same folder must be what the next load sees.
    return reply.type(type).header('content-length', size).header('cache-control', 'no-store').send(createReadStream(file));
  };

  app.setErrorHandler((err, _req, reply) => {
    const status = err instanceof HttpError ? err.status : (err.statusCode ?? 500);
    const code = err instanceof HttpError ? err.code : status === 404 ? 'not_found' : status < 500 ? 'bad_request' : 'internal';
    reply.code(status).send({ error: { status, code, field: null, message: status < 500 ? err.message : 'internal error' } });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: { status: 404, code: 'not_found', field: null, message: `no such route: ${req.method} ${req.url}` } });
  });

  app.get('/', async (_req, reply) => send(reply, HERE, 'index.html'));
  app.get('/index.html', async (_req, reply) => send(reply, HERE, 'index.html'));
  app.get('/demo.js', async (_req, reply) => send(reply, HERE, 'demo.js'));
  app.get('/tasks.json', async () => ({ tasks: exportedTasks(models) }));
  app.get('/vendor/transformers.js', async (_req, reply) => send(reply, dirname(lib.transformers), 'transformers.min.js'));
  app.get('/vendor/ort/*', async (req, reply) => {
    const rest = req.params['*'];
    // Only the runtime's wasm builds and their loaders, not the rest of the package.
    if (rest.split('/').includes('..')) throw new HttpError(400, 'bad_path', `bad path segment "..": ${rest}`);
    if (!/^ort-wasm[\w.-]*\.(mjs|wasm)$/.test(rest)) throw new HttpError(404, 'not_found', `no such file: ${rest}`);
    return send(reply, lib.ortDist, rest);
  });
  app.get('/models/*', async (req, reply) => send(reply, models, req.params['*']));
  // Pathwise's word hashing for lexical heads, as built (npm run build): these two files only.
  const dist = join(ROOT, 'dist', 'src');
  for (const f of ['export/lexical_inputs.js', 'tasks/word_hashing.js']) app.get(`/pathwise/${f}`, async (_req, reply) => send(reply, dist, f));

  const address = await app.listen({ port, host });
  return { url: `${address}/`, close: () => app.close(), tasks: exportedTasks(models), ortVersion: lib.ortVersion };
}

async function main(argv) {
  const { values, positionals } = parseArgs({ args: argv, options: { port: { type: 'string', default: '8080' } }, allowPositionals: true });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be an integer 0..65535, got ${values.port}`);
  if (positionals.length !== 1) throw new Error('usage: node examples/browser/serve.mjs EXPORT_DIR [--port N]');
  const args = positionals;
  const { url, tasks, close } = await startDemoServer({ exportDir: args[0], port });
  const task = tasks[0];
  console.log(task ? `Pathwise browser demo: ${url}?task=${encodeURIComponent(task)}  (tasks: ${tasks.join(', ')})` : `${url} (no exported task found)`);
  const stop = () => close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e.message);
    process.exit(2);
  });
}
