#!/usr/bin/env node
// Builds the native kernels (build/Release/pathwise.node) with node-gyp, offline.
//
// This is the npm "install" script, so it must never fail the install: when OpenBLAS, the Node
// headers or a compiler are missing it prints one warning and exits 0, and Pathwise falls back
// to the pure-TypeScript kernels. Set PATHWISE_SKIP_NATIVE=1 to skip the build quietly.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FALLBACK = 'falling back to the pure-TypeScript backend';

function warn(reason, detail) {
  console.warn(`pathwise: native kernels not built (${reason}); ${FALLBACK}`);
  if (detail) console.warn(detail);
}

if (process.env.PATHWISE_SKIP_NATIVE === '1') process.exit(0);

// ------------------------------------------------------------------------------- OpenBLAS
const multiarch = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu', ppc64: 'powerpc64le-linux-gnu', s390x: 's390x-linux-gnu' }[process.arch];
const includeRoots = ['/usr/include', '/usr/local/include', '/opt/homebrew/opt/openblas/include', '/usr/local/opt/openblas/include'];
const libRoots = ['/usr/lib', '/usr/lib64', '/usr/local/lib', '/usr/local/lib64', '/opt/homebrew/opt/openblas/lib', '/usr/local/opt/openblas/lib'];
if (multiarch) {
  includeRoots.splice(1, 0, `/usr/include/${multiarch}`);
  libRoots.splice(1, 0, `/usr/lib/${multiarch}`);
}

function findHeader() {
  // Directories the compiler searches by default need no -I; others are passed to gyp.
  const defaults = new Set(['/usr/include', '/usr/local/include', multiarch ? `/usr/include/${multiarch}` : '']);
  for (const dir of includeRoots) {
    if (existsSync(join(dir, 'cblas.h'))) return { dir, extra: !defaults.has(dir) };
    for (const sub of ['openblas', 'openblas-pthread', 'openblas-openmp']) {
      const d = join(dir, sub);
      if (existsSync(join(d, 'cblas.h'))) return { dir: d, extra: true };
    }
  }
  return null;
}

function findLib() {
  const defaults = new Set(['/usr/lib', '/usr/lib64', '/usr/local/lib', multiarch ? `/usr/lib/${multiarch}` : '']);
  for (const dir of libRoots) {
    if (!existsSync(dir)) continue;
    let names;
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    if (names.some((n) => n === 'libopenblas.so' || n === 'libopenblas.dylib' || n === 'libopenblas.a')) {
      return { dir, extra: !defaults.has(dir) };
    }
  }
  return null;
}

const header = findHeader();
const lib = findLib();
if (!header || !lib) {
  warn('libopenblas-dev is missing: apt-get install libopenblas-dev');
  process.exit(0);
}

// ---------------------------------------------------------------------------- Node headers
function findNodeDir() {
  const prefix = dirname(dirname(process.execPath));
  if (existsSync(join(prefix, 'include', 'node', 'node.h'))) return prefix;
  if (existsSync('/usr/include/node/node.h')) return '/usr';
  return null;
}
const nodedir = findNodeDir();
if (!nodedir) {
  warn('the Node.js headers (include/node/node.h) were not found next to node or in /usr/include/node');
  process.exit(0);
}

// Our pinned node-gyp (a dev dependency), else the one npm bundles and names in
// npm_config_node_gyp during install scripts (when Pathwise is installed as a dependency).
const gypJs = [join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), process.env.npm_config_node_gyp ?? ''].find((p) => p && existsSync(p));
if (!gypJs) {
  warn('node-gyp is not available (run npm install without --omit=dev)');
  process.exit(0);
}

// ------------------------------------------------------------------------------------ build
const args = [gypJs, 'rebuild', `--nodedir=${nodedir}`, '--release'];
if (header.extra) args.push(`-Dpw_blas_include=${header.dir}`);
if (lib.extra) args.push(`-Dpw_blas_libdir=${lib.dir}`);

const res = spawnSync(process.execPath, args, {
  cwd: root,
  encoding: 'utf8',
  maxBuffer: 64 * 1024 * 1024,
});

if (res.error || res.status !== 0) {
  // The compiler's own messages, without node-gyp's chatter.
  const noise = /^gyp (info|ERR! (stack|System|command|cwd|node -v|node-gyp -v|not ok))/;
  const out = `${res.stdout ?? ''}\n${res.stderr ?? ''}`.split('\n').filter((l) => l.trim() !== '' && !noise.test(l));
  const tail = out
    .slice(-20)
    .map((l) => `  ${l}`)
    .join('\n');
  warn(res.error ? `could not run node-gyp: ${res.error.message}` : 'the C++ build failed', tail);
  process.exit(0);
}

const built = join(root, 'build', 'Release', 'pathwise.node');
if (!existsSync(built)) {
  warn(`node-gyp finished but ${built} is missing`);
  process.exit(0);
}
console.log(`pathwise: native kernels built (${built})`);
