// Memory follows the model, not the input (issue 15, item 4): the real CLI, run as a child
// process, handles a 50 MB one-line task file (training from scratch, so the tokenizer is trained
// on it too; then predicting it) and a 50 MB one-line pretraining corpus with a peak resident size
// under 1 GB, read from the child itself (process.resourceUsage().maxRSS at exit). Before texts
// were cut before tokenizing, the same train run passed 12 GiB (and was killed there) and the
// pretrain run peaked at about 6.7 GB. A CSV file whose quote is never closed stops at the record bound, naming the line.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '../../src/data/tokenizer/index.js';
import { ROOT } from '../helpers.js';

const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const MB = 1 << 20;
const LIMIT = 1 << 30;
const BIG_WORDS = ['whale', 'ocean', 'harpoon', 'captain', 'sailor', 'ship', 'storm', 'deck', 'mast', 'sea', 'white', 'hunt'];

let work = '';

/** Seeded words joined by single spaces, at least `bytes` long (ASCII: one byte per character). */
function words(bytes: number, seed: number): string[] {
  const out: string[] = [];
  let s = seed;
  for (let n = 0; n < bytes; ) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const w = BIG_WORDS[(s >>> 16) % BIG_WORDS.length];
    out.push(w);
    n += w.length + 1;
  }
  return out;
}

/** Runs the CLI in a child that writes its peak resident size (bytes) at exit; returns both. */
function run(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string; maxRss: number } {
  const rssFile = join(work, `rss-${Math.random().toString(36).slice(2)}`);
  const r = spawnSync(process.execPath, ['--import', join(work, 'maxrss.mjs'), CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, PATHWISE_CACHE: join(work, 'cache'), ...env, PW_MAXRSS_FILE: rssFile },
    maxBuffer: 64 * MB,
  });
  // maxRSS is in KiB
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, maxRss: Number(readFileSync(rssFile, 'utf8')) * 1024 };
}

const mb = (b: number) => `${(b / MB).toFixed(0)} MB`;

describe('memory is bounded by the model, not the input', () => {
  let big = '';
  let corpusWords: string[] = [];
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'pw-mem-'));
    writeFileSync(
      join(work, 'maxrss.mjs'),
      "import { writeFileSync } from 'node:fs';\nprocess.on('exit', () => writeFileSync(process.env.PW_MAXRSS_FILE, String(process.resourceUsage().maxRSS)));\n",
    );
    // a task file: seven short rows and, on line 4, one 50 MB text
    big = words(50 * MB, 1).join(' ');
    const short = ['good film', 'bad film', 'fine plot', 'awful plot', 'great cast', 'poor cast', 'nice music'];
    const rows = short.map((text, i) => JSON.stringify({ text, label: i % 2 ? 'neg' : 'pos' }));
    rows.splice(3, 0, JSON.stringify({ text: big, label: 'pos' }));
    writeFileSync(join(work, 'big.jsonl'), rows.join('\n') + '\n');
    // a corpus: one 50 MB line
    corpusWords = words(50 * MB, 2);
    writeFileSync(join(work, 'corpus.txt'), corpusWords.join(' ') + '\n');
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('pathwise train and predict with a 50 MB line in the task file', (t) => {
    const cfg = join(work, 'train.json');
    const task = join(work, 'big.jsonl');
    writeFileSync(
      cfg,
      JSON.stringify({
        // the big text is in train (every batch: batchSize 8 takes all eight rows) and in dev
        tasks: [{ name: 'toy', type: 'classification', train: task, dev: task }],
        scratch: { dModel: 16, layers: 1, heads: 2, ffn: 32, vocabSize: 300 },
        maxLen: 32,
        train: { steps: 2, batchSize: 8, evalEvery: 2, patience: 0, evalExamples: 8 },
        out: join(work, 'run'),
      }),
    );
    const r = run(['train', '--config', cfg]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.maxRss < LIMIT, `train peaked at ${mb(r.maxRss)}`);
    t.diagnostic(`train: peak RSS ${mb(r.maxRss)}`);
    // the tokenizer was trained on the big text: its words (in no short row) are whole tokens
    const tok = Tokenizer.fromFile(join(work, 'run', 'model', 'tokenizer.json'));
    for (const w of ['Ġwhale', 'Ġharpoon', 'Ġcaptain']) assert.notEqual(tok.tokenToId(w), null, w);

    const p = run(['predict', join(work, 'run', 'model'), '--task', 'toy', '--input', task]);
    assert.equal(p.status, 0, p.stderr);
    assert.ok(p.maxRss < LIMIT, `predict peaked at ${mb(p.maxRss)}`);
    t.diagnostic(`predict: peak RSS ${mb(p.maxRss)}`);
    const answers = p.stdout.trim().split('\n');
    assert.equal(answers.length, 8);
    assert.ok(answers.every((a) => a === 'pos' || a === 'neg'));
  });

  it('pathwise pretrain on a 50 MB one-line corpus: every token becomes windows', async (t) => {
    const cfg = join(work, 'pretrain.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        model: { dModel: 16, layers: 1, heads: 2, ffn: 32 },
        tokenizer: { vocabSize: 300 },
        data: { seqLen: 16, heldOutFraction: 0.05, corpus: join(work, 'corpus.txt') },
        train: { steps: 2, batchSize: 4, warmupSteps: 1, logEvery: 1, evalEvery: 2, evalBatches: 1, checkpointEvery: 2 },
      }),
    );
    const r = run(['pretrain', '--config', cfg, '--out', join(work, 'pre')]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.maxRss < LIMIT, `pretrain peaked at ${mb(r.maxRss)}`);
    t.diagnostic(`pretrain: peak RSS ${mb(r.maxRss)}`);
    const log = r.stderr + r.stdout;
    const m = /tokenized (\d+) \+ (\d+) tokens/.exec(log);
    const seqs = /data: (\d+) training sequences of 16 tokens \((\d+) tokens\)/.exec(log);
    assert.ok(m && seqs, log);
    const [train, held] = [Number(m[1]), Number(m[2])];
    assert.equal(Number(seqs[2]), train);
    assert.equal(Number(seqs[1]), Math.floor(train / 14), 'windows of 14 tokens between [CLS] and [SEP]');
    // All of the corpus is used. Each word with its leading space is one pre-token, so the whole
    // line has the sum of its words' token counts ([SEP] ends each part); the held-out split may
    // cut one word in two.
    const tok = Tokenizer.fromFile(join(work, 'pre', 'model', 'tokenizer.json'));
    const ids = async (s: string) => (await tok.encode(s, null, { addSpecialTokens: false })).ids.length;
    const per = new Map<string, number>();
    for (const w of BIG_WORDS) per.set(w, await ids(' ' + w));
    let whole = await ids(corpusWords[0]);
    for (let i = 1; i < corpusWords.length; i++) whole += per.get(corpusWords[i])!;
    assert.ok(whole > 5_000_000);
    assert.ok(Math.abs(train - 1 + held - 1 - whole) <= 3, `${train} + ${held} tokens, the corpus has ${whole}`);
  });

  it('a CSV quote that is never closed stops at the record bound, naming the line, in bounded memory', (t) => {
    const csv = join(work, 'runaway.csv');
    writeFileSync(csv, `text,label\ngood film,pos\n"bad film,neg\n${'more text, and more,neg\n'.repeat((50 * MB) / 24)}`);
    const cfg = join(work, 'csv.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        tasks: [{ name: 'toy', type: 'classification', train: csv }],
        scratch: { dModel: 16, layers: 1, heads: 2, ffn: 32, vocabSize: 300 },
        maxLen: 32,
        train: { steps: 2, batchSize: 4 },
        out: join(work, 'csv-run'),
      }),
    );
    const r = run(['train', '--config', cfg]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      /runaway\.csv line 3: the record starting on this line is over 1,048,576 bytes \(field "text"; usually a quote that is never closed/,
    );
    assert.ok(r.maxRss < LIMIT, `train peaked at ${mb(r.maxRss)}`);
    t.diagnostic(`train on the runaway CSV: peak RSS ${mb(r.maxRss)}`);
  });
});
