// The native kernels as CPUs without AVX-512 run them: the addon built for AVX2 (-march=haswell)
// and for plain x86-64 (SSE2: the scalar paths), loaded through PATHWISE_ADDON, must pass the
// kernel tests that hold the native kernels to their TypeScript twins. The project machine builds
// with -march=native (AVX-512), so without this the other paths would only ever be compiled on
// other machines.

import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';

const nodeInclude = join(process.execPath, '..', '..', 'include', 'node');
const headers = [nodeInclude, '/usr/include/node'].find((d) => existsSync(join(d, 'node_api.h')));
const gxx = spawnSync('g++', ['--version']).status === 0;
const skip = !gxx ? 'g++ not installed' : !headers ? 'Node headers (node_api.h) not found' : false;

const VARIANTS = [
  { name: 'avx2', march: 'haswell', simd: 'avx2+fma' },
  { name: 'scalar', march: 'x86-64', simd: 'scalar' },
];

for (const v of VARIANTS) {
  test(`native kernels built for ${v.name} (-march=${v.march}) pass the kernel tests`, { skip, timeout: 600_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), `pw-isa-${v.name}-`));
    try {
      const addon = join(dir, 'pathwise.node');
      const napi = createRequire(import.meta.url)('node-addon-api').include_dir as string;
      const build = spawnSync(
        'g++',
        [
          '-std=c++17',
          '-O2',
          `-march=${v.march}`,
          '-fno-math-errno',
          '-fPIC',
          '-shared',
          '-DNAPI_DISABLE_CPP_EXCEPTIONS',
          '-DNODE_ADDON_API_DISABLE_DEPRECATED',
          `-I${headers}`,
          `-I${napi.replace(/^"|"$/g, '')}`,
          ...['pathwise', 'kernels', 'int8', 'attention'].map((f) => join(ROOT, 'native', `${f}.cc`)),
          '-lopenblas',
          '-o',
          addon,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(build.status, 0, `g++ for ${v.name}: ${build.stderr}`);
      // NODE_TEST_CONTEXT would make the inner test run report to this one instead of printing.
      const { NODE_TEST_CONTEXT: _ctx, ...parent } = process.env;
      const env = { ...parent, PATHWISE_ADDON: addon };
      const which = spawnSync(
        process.execPath,
        ['-e', `import('${join(ROOT, 'dist', 'src', 'engine', 'kernels_native.js')}').then((m) => console.log(m.loadNativeKernels().simd))`],
        {
          env,
          encoding: 'utf8',
        },
      );
      assert.equal(which.stdout.trim(), v.simd, `the ${v.name} build runs its own paths: ${which.stderr}`);
      const run = spawnSync(
        process.execPath,
        ['--test', '--test-reporter=tap', ...['kernels', 'int8_kernels', 'attention_inference'].map((f) => join(ROOT, 'dist', 'test', 'unit', `${f}.test.js`))],
        {
          env,
          encoding: 'utf8',
        },
      );
      assert.equal(run.status, 0, `kernel tests on the ${v.name} build:\n${run.stdout.slice(-3000)}\n${run.stderr.slice(-2000)}`);
      assert.match(run.stdout, /# fail 0/);
      // and the native tests ran rather than skipping for want of an addon
      assert.doesNotMatch(run.stdout, /native addon unavailable/);
      assert.match(run.stdout, /# pass [1-9]/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
