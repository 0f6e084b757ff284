// `pathwise pretrain` end to end, as a user runs it: a real corpus file, a tiny model.
// - Killed with SIGKILL mid-run and resumed, the run ends with the same loss curve and the same
//   weights, byte for byte, as an uninterrupted run; no checkpoint is ever left unreadable.
// - Held-out MLM loss falls.
// - Bad input exits with code 2, a message naming the problem, and writes nothing.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors } from '../../src/engine/index.js';
import { loadPretrained } from '../../src/model/index.js';
import { loadMobyDick } from '../../src/data/corpus/index.js';
import { ROOT } from '../helpers.js';

const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
let work = '';
let env: NodeJS.ProcessEnv = {};

const TINY = {
  model: { dModel: 32, layers: 2, heads: 2, ffn: 64, dropout: 0.1, attentionDropout: 0.1 },
  tokenizer: { vocabSize: 400 },
  data: { seqLen: 32, heldOutFraction: 0.05 },
  train: { steps: 100, batchSize: 8, lr: 2e-3, warmupSteps: 5, logEvery: 1, evalEvery: 20, evalBatches: 4, checkpointEvery: 10, keepCheckpoints: 2, seed: 7 },
};

function cli(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8' });
}

function metrics(out: string): Record<string, number>[] {
  return readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

describe('pathwise pretrain', () => {
  let corpus = '';
  let config = '';
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'pw-pretrain-'));
    env = { ...process.env, PATHWISE_CACHE: join(work, 'cache') };
    // Real text: the first chapters of Moby-Dick, one document per chapter.
    corpus = join(work, 'moby.txt');
    writeFileSync(corpus, loadMobyDick().slice(0, 12).join('\n\n'));
    config = join(work, 'tiny.json');
    writeFileSync(config, JSON.stringify({ ...TINY, data: { ...TINY.data, corpus } }));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('a SIGKILLed run resumes from its last checkpoint and matches an uninterrupted run exactly', async () => {
    const a = join(work, 'a');
    const r = cli(['pretrain', '--config', config, '--out', a]);
    assert.equal(r.status, 0, r.stderr);

    const b = join(work, 'b');
    const child = spawn(process.execPath, [CLI, 'pretrain', '--config', config, '--out', b], { env, stdio: 'ignore' });
    // Kill it once it is past a checkpoint and mid-way between two.
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        try {
          const m = existsSync(join(b, 'metrics.jsonl')) ? metrics(b) : [];
          if (m.some((x) => x.step >= 35)) {
            clearInterval(timer);
            child.kill('SIGKILL');
            resolve();
          }
        } catch {
          /* the file is replaced atomically; a failed read is retried */
        }
      }, 5);
      child.on('exit', () => {
        clearInterval(timer);
        reject(new Error('the run finished before it could be killed'));
      });
    });
    await new Promise((res) => child.on('exit', res));
    assert.ok(!existsSync(join(b, 'model')), 'the killed run had not exported a model');
    // Every checkpoint on disk is complete and loadable.
    const ckdir = join(b, 'checkpoints');
    const steps = readdirSync(ckdir).filter((d) => d.startsWith('step-'));
    assert.ok(steps.length >= 1);
    for (const d of steps) {
      for (const f of ['model.safetensors', 'optimizer.safetensors']) readSafetensors(join(ckdir, d, f));
      JSON.parse(readFileSync(join(ckdir, d, 'trainer_state.json'), 'utf8'));
    }

    const r2 = cli(['pretrain', '--config', config, '--out', b]);
    assert.equal(r2.status, 0, r2.stderr);
    assert.match(r2.stderr, /resuming from .*step-000000[3-9]0/);
    const ma = metrics(a);
    const mb = metrics(b);
    assert.deepEqual(
      mb.map((m) => m.step),
      ma.map((m) => m.step),
      'one metrics line per step, none duplicated',
    );
    for (let i = 0; i < ma.length; i++) {
      for (const k of ['loss', 'heldout_loss', 'lr']) {
        if (k in ma[i]) assert.equal(mb[i][k], ma[i][k], `${k} at step ${ma[i].step}`);
      }
    }
    assert.ok(readFileSync(join(a, 'model', 'model.safetensors')).equals(readFileSync(join(b, 'model', 'model.safetensors'))), 'identical final weights');

    // Held-out MLM loss falls over the run.
    const held = ma.filter((m) => 'heldout_loss' in m).map((m) => m.heldout_loss);
    assert.equal(held.length, 5);
    assert.ok(held[4] < held[0] - 0.3, `held-out loss ${held.join(' -> ')}`);

    // The exported folder loads with loadPretrained and has its tokenizer.
    const loaded = loadPretrained(join(a, 'model'));
    assert.equal(loaded.config.dModel, 32);
    assert.equal(loaded.tokenizer?.vocabSize, 400);
  });

  it('a damaged checkpoint is named and never resumed from: exit 2, nothing written', () => {
    const c = join(work, 'damaged');
    const r0 = cli(['pretrain', '--config', config, '--train.steps', '10', '--out', c]);
    assert.equal(r0.status, 0, r0.stderr);
    const [last] = readdirSync(join(c, 'checkpoints')).sort().reverse();
    const f = join(c, 'checkpoints', last, 'model.safetensors');
    const buf = readFileSync(f);
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
    const name = Object.keys(header).find((k) => k !== '__metadata__' && header[k].dtype === 'F32')!;
    buf.writeFloatLE(Number.NaN, 8 + n + header[name].data_offsets[0]);
    writeFileSync(f, buf);
    const before = readFileSync(join(c, 'metrics.jsonl'));
    const r = cli(['pretrain', '--config', config, '--train.steps', '20', '--out', c]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`model\\.safetensors: "${name.replace(/\./g, '\\.')}" holds a non-finite value \\(NaN\\) at index 0`));
    assert.deepEqual(readFileSync(join(c, 'metrics.jsonl')), before, 'nothing written');
  });

  it('init: a dense model is upcycled to skills and pretrained further, each step on one of objective.skillRows', () => {
    const dense = join(work, 'init-dense');
    let r = cli(['pretrain', '--config', config, '--train.steps', '10', '--out', dense]);
    assert.equal(r.status, 0, r.stderr);
    const skills = { skills: ['g', 'a', 'b', 'c'], generic: 'g', table: { ta: ['a'], tb: ['b'], tc: ['c'] }, layers: [1] };
    const cfg2 = join(work, 'skill.json');
    writeFileSync(
      cfg2,
      JSON.stringify({
        ...TINY,
        data: { ...TINY.data, corpus },
        init: join(dense, 'model'),
        model: { sparse: { skills } },
        objective: { skillRows: ['ta', 'tb'] },
        train: { ...TINY.train, steps: 12, checkpointEvery: 12, evalEvery: 12 },
      }),
    );
    const out = join(work, 'init-skills');
    r = cli(['pretrain', '--config', cfg2, '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    const before = loadPretrained(join(dense, 'model'));
    const after = loadPretrained(join(out, 'model'));
    assert.deepEqual(after.sparse.skills?.skills, ['g', 'a', 'b', 'c']);
    const p = (m: typeof before, name: string) => Array.from(new Map(m.model.namedParameters()).get(name)!.f32);
    // Skill c is in no drawn row: it is still the dense FFN it was copied from. g, a and b trained.
    const ffn1 = p(before, 'layers.1.ffn.fc1.weight');
    assert.deepEqual(p(after, 'layers.1.ffn.skills.c.fc1.weight'), ffn1);
    for (const s of ['g', 'a', 'b']) assert.notDeepEqual(p(after, `layers.1.ffn.skills.${s}.fc1.weight`), ffn1, `skill ${s} trained`);
    // The tokenizer is the init model's, not a new one.
    assert.equal(readFileSync(join(out, 'model', 'tokenizer.json'), 'utf8'), readFileSync(join(dense, 'model', 'tokenizer.json'), 'utf8'));
    // A row that is not in the table is named.
    const cfg3 = join(work, 'skill-bad.json');
    writeFileSync(cfg3, JSON.stringify({ ...JSON.parse(readFileSync(cfg2, 'utf8')), objective: { skillRows: ['ta', 'nope'] } }));
    r = cli(['pretrain', '--config', cfg3, '--out', join(work, 'init-bad')]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /objective\.skillRows: "nope" is not a row/);
    assert.ok(!existsSync(join(work, 'init-bad')));
    // A sparse init keeps its own layout: asking for another one is an input error, nothing written.
    const cfg4 = join(work, 'skill-relayout.json');
    writeFileSync(cfg4, JSON.stringify({ ...TINY, data: { ...TINY.data, corpus }, init: join(out, 'model'), model: { sparse: { switch: { experts: 2 } } } }));
    r = cli(['pretrain', '--config', cfg4, '--out', join(work, 'init-relayout')]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /init: model\.sparse differs from the layout of .*init-skills/);
    assert.ok(!existsSync(join(work, 'init-relayout')));
  });

  const bad: [string, () => string[], RegExp][] = [
    ['a missing corpus', () => ['--data.corpus', join(work, 'nope.txt')], /corpus file not found: .*nope\.txt/],
    [
      'an empty corpus',
      () => {
        writeFileSync(join(work, 'empty.txt'), '\n  \n');
        return ['--data.corpus', join(work, 'empty.txt')];
      },
      /empty/,
    ],
    [
      'invalid UTF-8',
      () => {
        writeFileSync(join(work, 'bad.txt'), Buffer.concat([Buffer.from('fine line\nsecond ok\nbad \xff\xfe here\n', 'latin1')]));
        return ['--data.corpus', join(work, 'bad.txt')];
      },
      /bad\.txt.*line 3.*UTF-8|UTF-8.*bad\.txt.*line 3/,
    ],
    ['an unknown config key', () => ['--train.stpes', '10'], /unknown key "train\.stpes" \(did you mean "train\.steps"\?\)/],
    ['an impossible vocabulary size', () => ['--tokenizer.vocabSize', '100'], /tokenizer\.vocabSize must be an integer in \[261/],
    ['an impossible model shape', () => ['--model.dModel', '30', '--model.heads', '4'], /dModel \(30\) must be divisible by .*heads \(4\)/],
    ['a missing config file', () => ['--config', join(work, 'none.json')], /config file not found/],
    ['an init folder that is not a model', () => ['--init', work], /init: .*no config\.json/],
  ];
  for (const [what, args, message] of bad) {
    it(`${what}: exit code 2, a clear message, nothing written`, () => {
      const out = join(work, `bad-${what.replace(/\W+/g, '-')}`);
      const a = args();
      const withConfig = a.includes('--config') ? a : ['--config', config, ...a];
      const r = cli(['pretrain', ...withConfig, '--out', out]);
      assert.equal(r.status, 2, `exit code (stderr: ${r.stderr})`);
      assert.match(r.stderr, message);
      assert.ok(!existsSync(out), 'no output folder');
    });
  }
});
