// The configs' zod schemas: the published JSON Schemas and the docs' key tables are what the
// schemas generate now; defaults satisfy their own bounds; errors name the source and the dotted
// key; command-line flags reach the schema unchanged.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { CONFIGS, generatedFiles, keyTable } from '../../tools/schemas.js';
import { parseCommandLine, UsageError } from '../../src/cli/args.js';
import { ConfigError, loadConfig } from '../../src/train/config.js';
import { DEFAULT_MULTITASK } from '../../src/train/multitask.js';
import { DEFAULT_PRETRAIN, pretrainConfigSchema } from '../../src/train/pretrain_config.js';
import { trainConfigSchema, trainOptionsSchema } from '../../src/train/train_config.js';
import { DEFAULT_SEARCH, searchConfigSchema } from '../../src/evolve/index.js';
import { DEFAULT_ENCODER, encoderConfigSchema } from '../../src/nn/index.js';
import { DEFAULT_SPARSE_SWITCH } from '../../src/sparse/index.js';
import { keyPaths } from '../../src/util/schema.js';

describe('generated files', () => {
  for (const [path, text] of Object.entries(generatedFiles())) {
    it(`${path} is what the schemas generate (else run npm run schemas)`, () => {
      assert.equal(readFileSync(join(ROOT, path), 'utf8'), text);
    });
  }

  it('every key of every config has a row in its docs table', () => {
    for (const c of CONFIGS) {
      const table = keyTable(c);
      const key = c.key ?? ((k: string) => k);
      // Keys under maps (perTask.<name>) are written with a placeholder, not walked by keyPaths.
      for (const k of keyPaths(c.schema))
        assert.ok(table.includes(`| \`${key(k)}\` |`) || table.includes(`| \`${key(k)}.`), `${c.name}: ${k} is not in the table`);
    }
  });
});

describe('defaults come from the schemas', () => {
  it('each default parses to itself (a default within its own bounds)', () => {
    assert.deepEqual(pretrainConfigSchema.parse(DEFAULT_PRETRAIN), DEFAULT_PRETRAIN);
    assert.deepEqual(encoderConfigSchema.parse(DEFAULT_ENCODER), DEFAULT_ENCODER);
    const { log: _l, ...search } = DEFAULT_SEARCH;
    assert.deepEqual(searchConfigSchema.parse(search), search);
    const { log: _m, progress: _p, perTask: _t, ...train } = DEFAULT_MULTITASK;
    assert.deepEqual(train, trainOptionsSchema.parse({}));
    assert.equal(DEFAULT_SPARSE_SWITCH.every, 2);
  });

  it('the committed quickstart config is a valid train config', () => {
    const cfg = loadConfig(trainConfigSchema, join(ROOT, 'configs', 'quickstart.json'));
    assert.equal(cfg.train.embeddingLrScale, 3);
    assert.equal(cfg.train.groupByLength, DEFAULT_MULTITASK.groupByLength, 'an omitted key takes its default');
  });
});

describe('config errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-schemas-'));
  const file = join(dir, 'cfg.json');
  writeFileSync(file, JSON.stringify({ tasks: ['sent', { name: 'mine', type: 'classification', train: 'x.jsonl' }], train: { steps: 10 } }));
  const fails = (fn: () => unknown, message: string) =>
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.equal(e.message, message);
      return true;
    });

  it('an unknown key is blamed on where it was written, with the nearest key', () => {
    fails(() => loadConfig(trainConfigSchema, file, { 'train.stpes': '5' }), 'command-line flags: unknown key "train.stpes" (did you mean "train.steps"?)');
    writeFileSync(join(dir, 'typo.json'), JSON.stringify({ tasks: ['sent'], sparse: { switch: { expertz: 4 } } }));
    fails(
      () => loadConfig(trainConfigSchema, join(dir, 'typo.json')),
      `${join(dir, 'typo.json')}: unknown key "sparse.switch.expertz" (did you mean "sparse.switch.experts"?)`,
    );
    fails(
      () => loadConfig(trainConfigSchema, file, { 'perTask.sent.stepz': '5' }),
      'command-line flags: unknown key "perTask.sent.stepz" (did you mean "perTask.sent.steps"?)',
    );
  });

  it('a bad value names the file, the dotted key, what it takes, and the flag that set it', () => {
    fails(() => loadConfig(trainConfigSchema, file, { 'train.lr': '0' }), `${file}: train.lr must be a number > 0, got 0 (set by --train.lr)`);
    fails(() => loadConfig(trainConfigSchema, file, { 'train.lr': 'fast' }), `${file}: train.lr must be a number > 0, got "fast" (set by --train.lr)`);
    fails(() => loadConfig(trainConfigSchema, file, { tasks: '[3]' }), `${file}: tasks[0] must be a non-empty string or an object, got 3 (set by --tasks)`);
    // A task inside the train config is checked by the task schema, keys as the train config writes them.
    fails(
      () => loadConfig(trainConfigSchema, file, { tasks: '[{"name":"a","type":"ranking","train":"x"}]' }),
      `${file}: tasks[0].type must be one of "classification", "pair_classification", "tagging", "regression", "image_classification", got "ranking" (set by --tasks)`,
    );
    fails(() => loadConfig(trainConfigSchema, file, { 'scratch.dModel': '30' }), `${file}: scratch.dModel (30) must be divisible by scratch.heads (4)`);
    fails(
      () => loadConfig(pretrainConfigSchema, null, { 'train.steps': '10' }),
      'command-line flags: train.warmupSteps (300) must be at most train.steps (10)',
    );
    fails(() => loadConfig(pretrainConfigSchema, join(dir, 'none.json')), `config file not found: ${join(dir, 'none.json')}`);
  });
  it('cleans up', () => rmSync(dir, { recursive: true, force: true }));
});

describe('command lines (node:util parseArgs)', () => {
  const keys = keyPaths(pretrainConfigSchema);
  it('passes config overrides through as text, negative numbers and --k=v included', () => {
    const { flags, rest, overrides } = parseCommandLine(
      ['--config', 'c.json', '--train.lr', '-1e-3', '--out=runs/x', '--overwrite', 'extra'],
      { config: 'string', overwrite: 'boolean' },
      'usage',
      keys,
    );
    assert.deepEqual(flags, { config: 'c.json', overwrite: true });
    assert.deepEqual(overrides, { 'train.lr': '-1e-3', out: 'runs/x' });
    assert.deepEqual(rest, ['extra']);
  });

  it('an undeclared key takes the next argument as its value, whatever it looks like', () => {
    const { overrides, rest } = parseCommandLine(['--perTask.pos.lrScale', '-0.5', 'x'], {}, 'usage', keys);
    assert.deepEqual(overrides, { 'perTask.pos.lrScale': '-0.5' });
    assert.deepEqual(rest, ['x']);
  });

  it('an unknown option of a command without overrides is a usage error with a suggestion', () => {
    assert.throws(
      () => parseCommandLine(['m', '--jsn'], { json: 'boolean' }, 'usage: tasks'),
      (e: unknown) => e instanceof UsageError && /^unknown option --jsn \(did you mean --json\?\)\nusage: tasks$/.test(e.message),
    );
    assert.throws(() => parseCommandLine(['m', '--task'], { task: 'string' }, 'usage'), /--task needs a value/);
  });
});
