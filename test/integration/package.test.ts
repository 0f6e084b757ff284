// Pathwise as a user gets it from npm: `npm pack`, then `npm install <tarball>` into an empty
// project, offline, then the README's library examples run from that project.
// - The tarball holds what the "exports" map, the bin and the install script need, and no tests,
//   benchmarks, TypeScript sources or model weights.
// - The install script builds the native addon from the shipped sources (when this machine can
//   build it at all, i.e. the repository's own addon loads).
// - Every "exports" entry resolves at run time, and for TypeScript through its `types` condition;
//   a deep import of dist/ is refused, so no doc may teach one.
// - Every ```js run block of README.md runs, in order, as an .mjs file of that project, importing
//   only from `pathwise` and its subpaths. Blocks that load `runs/pretrain/model` or
//   `runs/train/model` find tiny models there, made first with the installed `pathwise` command.
//
// Offline: setup.sh's `npm ci` leaves every dependency's tarball in the npm cache, but not the
// registry metadata that `npm install` needs to resolve version ranges, so an offline install of
// the bare tarball fails with ENOTCACHED. The project therefore gets a package-lock.json made of
// the repository's own lock entries for the runtime dependencies (the versions a user would get
// from this lock), with which npm resolves nothing and reads every tarball from the cache.
//
// The install runs the native build (about 15 s of the install's ~20 s on the project machine,
// while other work ran), so the examples run on the native kernels, as a user's would.
//
// `npm pack` runs with --ignore-scripts: its `prepare` script would rebuild dist/, which `npm test`
// has just built and which other test files are reading meanwhile.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNativeKernels } from '../../src/engine/kernels_native.js';
import { ROOT } from '../helpers.js';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command without blocking the event loop (so the test runner's timeout still fires). */
function run(cmd: string, args: string[], cwd: string, timeoutMs: number, env: NodeJS.ProcessEnv = cleanEnv()): Promise<Run> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr, ms: performance.now() - t0 }));
  });
}

/** This process's environment without what `npm test` adds (npm_config_*, npm_lifecycle_*...), which would configure the inner npm. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
}

function explain(what: string, r: Run): string {
  return `${what} exited ${r.status}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`;
}

interface PackFile {
  path: string;
}
interface PackResult {
  filename: string;
  integrity: string;
  size: number;
  files: PackFile[];
}
interface LockEntry {
  dev?: boolean;
  version?: string;
  resolved?: string;
  [k: string]: unknown;
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  license: string;
  engines: Record<string, string>;
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  exports: Record<string, string | { types: string; import: string }>;
};

/** The consumer project's lock: the tarball, and the repository lock's runtime (non-dev) entries. */
function consumerLock(name: string, tarball: string, integrity: string): unknown {
  const repoLock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const packages: Record<string, unknown> = {
    '': { name, version: '1.0.0', dependencies: { [pkg.name]: `file:${tarball}` } },
    [`node_modules/${pkg.name}`]: {
      version: pkg.version,
      resolved: `file:${tarball}`,
      integrity,
      hasInstallScript: true,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  const runtime = Object.entries(repoLock.packages).filter(([path, entry]) => path !== '' && !entry.dev);
  const taken = new Set(runtime.map(([path]) => path));
  for (const [path, entry] of runtime) {
    // A runtime package nested only because the repository's dev tree holds another version at the
    // top (onnx-proto's protobufjs 6 beside onnxruntime-web's 7) sits at the top in a user's tree,
    // where npm would put it: left nested, npm would re-resolve it, which offline it cannot.
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const top = `node_modules/${name}`;
    // npm leaves `resolved` out of some entries (onnx-proto's nested protobufjs); without it npm
    // asks the registry where the tarball is, which offline it cannot, though the tarball is cached.
    const resolved = entry.resolved ?? (entry.version ? `https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${entry.version}.tgz` : undefined);
    const full = resolved ? { ...entry, resolved } : entry;
    if (path !== top && !taken.has(top)) {
      packages[top] = full;
      taken.add(top);
    } else packages[path] = full;
  }
  return { name, version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

/** README.md's runnable examples: every ```js run block, with the line it starts on. */
function readmeExamples(): { line: number; code: string }[] {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const out: { line: number; code: string }[] = [];
  for (const m of text.matchAll(/^```js run[^\S\n]*\n([\s\S]*?)^```[^\S\n]*$/gm)) {
    out.push({ line: text.slice(0, m.index).split('\n').length, code: m[1] });
  }
  return out;
}

/** Module specifiers a block imports, statically or dynamically. */
function importsOf(code: string): string[] {
  const specs = [...code.matchAll(/\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(?\s*['"]([^'"]+)['"]/g)];
  return specs.map((m) => m[1] ?? m[2]);
}

// Small models at the paths the README's examples load (what its `pathwise pretrain` and
// `pathwise train` commands write), made as small and quick as the commands allow.
const WORDS = 'the a film was good bad lovely awful story plot actor music long short fun dull great poor ending scene'.split(' ');
const PRETRAIN = {
  model: { dModel: 32, layers: 1, heads: 2, ffn: 64 },
  tokenizer: { vocabSize: 300 },
  data: { corpus: 'corpus.txt', seqLen: 32 },
  train: { steps: 3, batchSize: 4, warmupSteps: 1, evalEvery: 3, evalBatches: 1, checkpointEvery: 3, logEvery: 1 },
  out: 'runs/pretrain',
};
const TRAIN = {
  base: 'runs/pretrain/model',
  tasks: ['sent'],
  maxLen: 32,
  train: { steps: 3, batchSize: 4, warmupSteps: 1, evalEvery: 3, evalExamples: 20, logEvery: 1 },
  out: 'runs/train',
};

/**
 * Where the project goes: /dev/shm when it has room. The install writes ~18,000 files (255 MB,
 * mostly the data packages), and on a disk mounted with `discard` (the project machine) deleting
 * them afterwards took 47 s; on tmpfs it takes under a second, and the install runs faster too.
 */
function scratchRoot(): string {
  try {
    const fs = statfsSync('/dev/shm');
    if (fs.bavail * fs.bsize > 2 ** 30) return '/dev/shm';
  } catch {
    // no /dev/shm (not Linux): the system temporary folder
  }
  return tmpdir();
}

let work = '';
let project = '';
let packed: PackResult;
let pack: Run;
let install: Run;

describe('the npm package, installed offline into an empty project', { timeout: 300_000 }, () => {
  before(async () => {
    work = mkdtempSync(join(scratchRoot(), 'pathwise-pkg-'));
    pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT, 120_000);
    assert.equal(pack.status, 0, explain('npm pack', pack));
    packed = (JSON.parse(pack.stdout) as PackResult[])[0];

    project = join(work, 'project');
    mkdirSync(project);
    const tarball = `../${packed.filename}`;
    const name = 'readme-examples';
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name, version: '1.0.0', private: true, type: 'module', dependencies: { [pkg.name]: `file:${tarball}` } }, null, 2),
    );
    writeFileSync(join(project, 'package-lock.json'), JSON.stringify(consumerLock(name, tarball, packed.integrity), null, 2));
    install = await run('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], project, 240_000);
    assert.equal(install.status, 0, explain('npm install --offline', install));
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the tarball holds the exports, the bin and the native build inputs, and no tests, benchmarks, sources or weights', (t) => {
    t.diagnostic(
      `tarball ${(packed.size / 1e3).toFixed(0)} kB, ${packed.files.length} files; npm pack ${(pack.ms / 1000).toFixed(1)} s, offline install ${(install.ms / 1000).toFixed(1)} s`,
    );
    const files = new Set(packed.files.map((f) => f.path));
    const targets = Object.values(pkg.exports).flatMap((e) => (typeof e === 'string' ? [e] : [e.types, e.import]));
    const gyp = readFileSync(join(ROOT, 'binding.gyp'), 'utf8');
    const nativeSources = [...gyp.matchAll(/"(native\/[^"]+)"/g)].map((m) => m[1]);
    assert.ok(nativeSources.length >= 2, 'binding.gyp names its sources');
    for (const need of [
      ...targets.map((p) => p.replace(/^\.\//, '')),
      ...Object.values(pkg.bin),
      'binding.gyp',
      'scripts/build-native.mjs',
      ...nativeSources,
      'README.md',
    ]) {
      assert.ok(files.has(need), `${need} is missing from the tarball`);
    }
    const stray = [...files].filter(
      (f) => /^(src|test|bench|tools|models|configs|docs|build)\/|^dist\/(test|bench|tools)\/|\.map$|\.ts$/.test(f) && !f.endsWith('.d.ts'),
    );
    assert.deepEqual(stray, []);
  });

  it('the install script builds the native addon from the shipped sources', (t) => {
    const built = existsSync(join(project, 'node_modules', pkg.name, 'build', 'Release', 'pathwise.node'));
    const canBuild = loadNativeKernels().kernels !== null;
    if (!canBuild) t.diagnostic('the repository addon does not load here (no OpenBLAS?), so the installed package falls back to the TypeScript kernels');
    assert.equal(built, canBuild, `installed addon built: ${built}\n${install.stdout}\n${install.stderr}`);
  });

  it('every exports entry resolves, for Node and for TypeScript; a deep import into dist/ is refused', async () => {
    const subpaths = Object.keys(pkg.exports)
      .filter((k) => k !== './package.json')
      .map((k) => k.replace(/^\./, pkg.name));
    const probe = `
import { createRequire } from 'node:module';
const empty = [];
for (const s of ${JSON.stringify(subpaths)}) if (Object.keys(await import(s)).length === 0) empty.push(s);
if (empty.length) throw new Error('no exports: ' + empty.join(', '));
if (createRequire(import.meta.url)('${pkg.name}/package.json').version !== '${pkg.version}') throw new Error('package.json');
await import('${pkg.name}/dist/src/engine/index.js').then(
  () => { throw new Error('deep import resolved'); },
  (e) => { if (e.code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw e; },
);
`;
    writeFileSync(join(project, 'exports.mjs'), probe);
    const r = await run(process.execPath, ['exports.mjs'], project, 60_000);
    assert.equal(r.status, 0, explain('exports.mjs', r));

    // Each subpath's `types` condition, as a strict NodeNext TypeScript project sees it; a
    // non-existent export must be an error, or the check proves nothing.
    const ts = [
      ...subpaths.map((s, i) => `import * as m${i} from '${s}';`),
      `import { Tensor, zeros } from '${pkg.name}/engine';`,
      `const used: unknown[] = [${subpaths.map((_, i) => `m${i}`).join(', ')}];`,
      `const t: Tensor = zeros([2]);`,
      `export { used, t };`,
    ].join('\n');
    writeFileSync(join(project, 'types.ts'), ts);
    writeFileSync(join(project, 'bad.ts'), `import { noSuchExport } from '${pkg.name}/engine';\nexport { noSuchExport };\n`);
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const flags = [
      '--noEmit',
      '--strict',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--skipLibCheck',
      '--types',
      'node',
      '--typeRoots',
      join(ROOT, 'node_modules', '@types'),
    ];
    const r2 = await run(process.execPath, [tsc, ...flags, 'types.ts', 'bad.ts'], project, 120_000);
    const errors = r2.stdout.split('\n').filter((l) => / error TS\d+:/.test(l));
    assert.equal(errors.length, 1, explain('tsc types.ts bad.ts (one error expected, in bad.ts)', r2));
    assert.match(errors[0], /^bad\.ts\(.*has no exported member 'noSuchExport'/);
  });

  it("README.md's js run examples run from the installed package", async (t) => {
    const examples = readmeExamples();
    assert.ok(examples.length > 0, 'README.md has no ```js run examples');

    writeFileSync(
      join(project, 'corpus.txt'),
      Array.from({ length: 300 }, (_, i) => Array.from({ length: 5 + (i % 11) }, (_, j) => WORDS[(i * 7 + j * 13) % WORDS.length]).join(' ') + '.').join(
        '\n\n',
      ),
    );
    writeFileSync(join(project, 'pretrain.json'), JSON.stringify(PRETRAIN));
    writeFileSync(join(project, 'train.json'), JSON.stringify(TRAIN));
    const bin = join(project, 'node_modules', '.bin', 'pathwise');
    for (const [cmd, cfg] of [
      ['pretrain', 'pretrain.json'],
      ['train', 'train.json'],
    ]) {
      const r = await run(bin, [cmd, '--config', cfg], project, 120_000);
      assert.equal(r.status, 0, explain(`pathwise ${cmd}`, r));
    }

    for (const [i, ex] of examples.entries()) {
      const where = `README.md:${ex.line}`;
      const foreign = importsOf(ex.code).filter((s) => !/^pathwise(\/[\w.-]+)?$/.test(s));
      assert.deepEqual(foreign, [], `${where} imports from outside pathwise`);
      const file = `readme-${i + 1}.mjs`;
      writeFileSync(join(project, file), ex.code);
      const r = await run(process.execPath, [file], project, 120_000);
      assert.equal(r.status, 0, explain(`${where} (${file})`, r));
      t.diagnostic(`${where}: ran in ${(r.ms / 1000).toFixed(1)} s`);
    }
  });
});
