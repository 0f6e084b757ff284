// The layering docs/architecture.md draws: each folder of src/ imports only from the folders below
// it (util is below everything). A new import that points up fails here, naming the file and line.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from '../helpers.js';

/** Lower number: lower layer. Folders of one rank may not import each other. */
const RANK: Record<string, number> = {
  util: 0,
  engine: 1,
  nn: 2,
  sparse: 3,
  data: 4,
  tasks: 5,
  model: 6,
  train: 7,
  evolve: 8,
  compress: 8,
  export: 8,
  serve: 9,
  cli: 10,
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

it('every import in src/ points to its own layer or one below it', () => {
  const src = join(ROOT, 'src');
  const bad: string[] = [];
  let checked = 0;
  for (const file of sources(src)) {
    const rel = relative(src, file);
    const layer = rel.split('/')[0];
    if (!(layer in RANK)) continue; // src/index.ts, the package's entry, sits above every layer
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        // `from '...'` also ends a multi-line import; import('...') is a dynamic one.
        const m = /\bfrom\s+'(\.[^']+)'/.exec(line) ?? /\bimport\s*\(?\s*'(\.[^']+)'/.exec(line);
        if (!m) return;
        const target = relative(src, join(file, '..', m[1])).split('/')[0];
        checked++;
        if (target === layer) return;
        if (!(target in RANK) || RANK[target] >= RANK[layer]) bad.push(`src/${rel}:${i + 1} (${layer}) imports ${m[1]} (${target})`);
      });
  }
  assert.ok(checked > 200, `${checked} imports checked`);
  assert.deepEqual(bad, []);
});
