// Training refuses nonsense and never saves it (issue 15, item 3, first part): impossible numbers
// and cross-checks exit 2 before training, naming the config and the key; a run whose loss stops
// being finite stops with the step and task named and leaves the saved model as it was.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';

const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
const cliIn = (cwd: string, ...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8' });

describe('pathwise train refuses nonsense', () => {
  let work: string;
  let cfg: string;
  const words = ['good', 'bad', 'fine', 'awful', 'great', 'poor', 'nice', 'sad'];
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'pw-refuse-'));
    const rows = Array.from({ length: 40 }, (_, i) => ({ text: `${words[i % 8]} ${words[(i * 3) % 8]} film`, label: i % 2 ? 'pos' : 'neg' }));
    writeFileSync(join(work, 'toy.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n'));
    writeFileSync(join(work, 'one.jsonl'), JSON.stringify({ text: 'alone', label: 'pos' }));
    writeFileSync(join(work, 'mono.jsonl'), rows.map((r) => JSON.stringify({ ...r, label: 'pos' })).join('\n'));
    writeFileSync(join(work, 'a-file'), 'not a folder');
    cfg = join(work, 'cfg.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        tasks: [{ name: 'toy', type: 'classification', train: join(work, 'toy.jsonl'), devFraction: 0.2 }],
        scratch: { dModel: 16, layers: 1, heads: 2, ffn: 32, vocabSize: 300 },
        maxLen: 16,
        train: { steps: 6, batchSize: 4, evalEvery: 6, patience: 0, evalExamples: 8 },
        out: join(work, 'run'),
      }),
    );
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('exits 2 before training on impossible numbers and failed cross-checks, naming the config and key', () => {
    const withTasks = (tasks: unknown[]) => {
      const f = join(work, `cfg-${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(f, JSON.stringify({ ...JSON.parse(readFileSync(cfg, 'utf8')), tasks }));
      return f;
    };
    const task = (file: string) => ({ name: 'toy', type: 'classification', train: join(work, file), devFraction: 0.2 });
    const cases: [string[], RegExp][] = [
      [['--config', cfg, '--train.lr', '1e999'], /train\.lr must be .*got/],
      [['--config', cfg, '--train.clipNorm', '-1'], /train\.clipNorm must be a number > 0/],
      [['--config', cfg, '--train.steps', '2.5'], /train\.steps must be an integer/],
      [['--config', cfg, '--train.evalEvery', '0'], /train\.evalEvery must be an integer >= 1/],
      [['--config', cfg, '--train.freezeLayers', '99'], /cfg\.json: train\.freezeLayers is 99, but the model has 1 layers/],
      [['--config', cfg, '--perTask.nope.steps', '3'], /perTask\.nope: no task "nope" in "tasks" \(toy\)/],
      [['--config', withTasks([task('one.jsonl')])], /task "toy" has \d training example\(s\); training needs at least 2/],
      [['--config', withTasks([task('mono.jsonl')])], /task "toy" has 1 label\(s\) \(pos\); a classification task needs at least 2/],
      [
        ['--config', withTasks([{ ...task('toy.jsonl'), name: '../../evil\nname' }])],
        /tasks\[0\]\.name must be a name \(a letter, then up to 63 letters, digits, "_" or "-"\), got "\.\.\/\.\.\/evil\\nname"/,
      ],
      [['--config', cfg, '--out', join(work, 'a-file', 'run')], /out: cannot write to .*a-file\/run \(ENOTDIR: .*a-file\)/],
    ];
    for (const [args, msg] of cases) {
      const r = cli('train', ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg, args.join(' '));
      assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, 'no stack trace');
      assert.equal(existsSync(join(work, 'run')), false, `${args.join(' ')}: nothing written`);
    }
  });

  it('a run whose loss stops being finite stops with the step and task named; the saved model stays', () => {
    const good = cli('train', '--config', cfg);
    assert.equal(good.status, 0, good.stderr);
    const weights = readFileSync(join(work, 'run', 'model', 'model.safetensors'));
    const r = cli('train', '--config', cfg, '--train.lr', '1e30', '--train.warmupSteps', '0', '--train.clipNorm', '1e30');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /training diverged at step \d+ \(task "toy"\): the (loss|gradient norm) is (NaN|Infinity|-Infinity); nothing was saved/);
    assert.deepEqual(readFileSync(join(work, 'run', 'model', 'model.safetensors')), weights, 'the last good model is still the saved one');
  });

  it('saves data paths absolute, so the model can be scored from any folder', () => {
    const rel = join(work, 'rel.json');
    const c = JSON.parse(readFileSync(cfg, 'utf8'));
    writeFileSync(rel, JSON.stringify({ ...c, tasks: [{ ...c.tasks[0], train: 'toy.jsonl' }], out: 'rel-run' }));
    const r = cliIn(work, 'train', '--config', 'rel.json');
    assert.equal(r.status, 0, r.stderr);
    const saved = JSON.parse(readFileSync(join(work, 'rel-run', 'model', 'config.json'), 'utf8'));
    assert.equal(JSON.stringify(saved).includes(JSON.stringify(join(work, 'toy.jsonl'))), true, 'the absolute path is saved');
    const e = cliIn(tmpdir(), 'eval', join(work, 'rel-run', 'model'), '--split', 'dev');
    assert.equal(e.status, 0, e.stderr);
    assert.match(e.stdout, /^dev scores:\ntoy\s+score \d\.\d{4} +accuracy \d\.\d{4}/);
  });
});
