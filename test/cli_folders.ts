// Tiny real model folders, written by the CLI as a user would write them (a 3-step pretrain, a
// 3-step `pathwise train` of two tasks, an `add-task` of one child × 2 steps): what tests of
// commands that read folders (predict, serve) run against. A few seconds in all.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

export const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

export function cliSync(cwd: string, ...args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, `pathwise ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

export const WORDS = 'the a film was good bad lovely awful story plot actor music long short fun dull great poor ending scene'.split(' ');

export interface Folders {
  /** `pathwise train`'s folder: tasks toy (classification) and tags (tagging) on the root blocks. */
  run: string;
  /** A copy of it grown by `pathwise add-task` with toy2 (classification). */
  grown: string;
}

/** Writes the corpus, task files and configs under `root` and makes the folders there. */
export function makeFolders(root: string): Folders {
  const doc = (d: number) => Array.from({ length: 40 }, (_, i) => WORDS[(d * 7 + i * i) % WORDS.length]).join(' ');
  writeFileSync(join(root, 'corpus.txt'), Array.from({ length: 60 }, (_, d) => `${doc(d)}.`).join('\n\n'));
  const rows = Array.from({ length: 60 }, (_, i) => JSON.stringify({ text: `${WORDS[i % 20]} ${WORDS[(i * 3) % 20]} film`, label: i % 2 ? 'pos' : 'neg' }));
  writeFileSync(join(root, 'toy.jsonl'), rows.join('\n'));
  const tagRows = Array.from({ length: 60 }, (_, i) => {
    const tokens = [WORDS[i % 20], WORDS[(i * 3) % 20], 'film', WORDS[(i * 7) % 20]];
    return JSON.stringify({ tokens, tags: tokens.map((w) => (w === 'film' ? 'B-THING' : w.length > 4 ? 'B-ADJ' : 'O')) });
  });
  writeFileSync(join(root, 'tags.jsonl'), tagRows.join('\n'));
  const task = (name: string) => ({ name, type: 'classification', train: join(root, 'toy.jsonl'), devFraction: 0.2 });
  writeFileSync(join(root, 'task2.json'), JSON.stringify(task('toy2')));
  const pretrain = {
    model: { dModel: 32, layers: 2, heads: 2, ffn: 64 },
    tokenizer: { vocabSize: 300 },
    data: { corpus: 'corpus.txt', seqLen: 32 },
    train: { steps: 3, batchSize: 4, warmupSteps: 1, evalEvery: 3, evalBatches: 1, checkpointEvery: 3, logEvery: 1 },
    out: 'pre',
  };
  writeFileSync(join(root, 'pre.json'), JSON.stringify(pretrain));
  const train = {
    base: 'pre/model',
    tasks: [task('toy'), { name: 'tags', type: 'tagging', train: join(root, 'tags.jsonl'), devFraction: 0.2 }],
    maxLen: 16,
    train: { steps: 3, batchSize: 4, warmupSteps: 1, evalEvery: 3, evalExamples: 8 },
    out: 'run',
  };
  writeFileSync(join(root, 'train.json'), JSON.stringify(train));
  cliSync(root, 'pretrain', '--config', 'pre.json');
  cliSync(root, 'train', '--config', 'train.json');
  cpSync(join(root, 'run', 'model'), join(root, 'grown'), { recursive: true });
  cliSync(root, 'add-task', 'grown', '--task', 'task2.json', '--children', '1', '--steps', '2');
  return { run: join(root, 'run', 'model'), grown: join(root, 'grown') };
}
