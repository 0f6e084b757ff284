// Mixed-task batches on real folders (`pathwise train`, then `pathwise add-task`): every task of
// the folder in one predictMixed call answers what each task's predict answers.

import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backendName } from '../../src/engine/index.js';
import { loadModel, type MixedRequest } from '../../src/model/index.js';
import { assertDeepClose } from '../helpers.js';
import { WORDS, makeFolders, type Folders } from '../cli_folders.js';

let root: string;
let folders: Folders;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'pw-mixed-'));
  folders = makeFolders(root);
});
after(() => rmSync(root, { recursive: true, force: true }));

for (const kind of ['run', 'grown'] as const) {
  it(`a ${kind === 'run' ? '`pathwise train`' : '`pathwise add-task`'} folder: a mixed batch of all its tasks answers as predict does`, async () => {
    const model = loadModel(folders[kind]);
    const tasks = [...model.tasks.keys()];
    assert.deepEqual(tasks, kind === 'run' ? ['toy', 'tags'] : ['toy', 'tags', 'toy2']);
    const reqs: MixedRequest[] = Array.from({ length: 30 }, (_, i) => {
      const text = Array.from({ length: 1 + ((i * 5) % 23) }, (_, k) => WORDS[(i + k * 3) % WORDS.length]).join(' ');
      return { task: tasks[i % tasks.length], input: text };
    });
    const got = await model.predictMixed(reqs, { batchSize: 8 });
    const tol = backendName() === 'ts' ? 0 : 1e-5;
    for (const task of tasks) {
      const idx = [...reqs.keys()].filter((i) => reqs[i].task === task);
      const want = await model.predict(
        task,
        idx.map((i) => reqs[i].input),
      );
      idx.forEach((i, k) => assertDeepClose(got[i], want[k], tol, `request ${i} (${task})`));
    }
  });
}
