// The TaskModel interface at work (issue 14): typed predictions (BIO spans included), `pathwise
// predict` with --json and with many inputs from a JSONL file or stdin, and the folder format's
// version check. Uses the small committed model test/fixtures/reference/dense_tiny (sent, pos).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { Tensor, readSafetensors, serializeSafetensors } from '../../src/engine/index.js';
import { Pathwise } from '../../src/index.js';
import { decodePredictions, folderKind, loadModel, saveModel, type ClassPrediction, type TagPrediction } from '../../src/model/index.js';
import type { Batch } from '../../src/tasks/encode.js';

const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const DENSE = join(ROOT, 'test', 'fixtures', 'reference', 'dense_tiny');
const cli = (args: string[], input?: string) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', input });

describe('typed predictions', () => {
  it('decodes BIO tags into entity spans, and words past the maximum length into unseen "O"', () => {
    const labels = ['B-LOC', 'I-LOC', 'O', 'B-TIME'];
    // Four scored words (a fifth was cut off by maxLen): Munich Central Station at [5]
    const logits = new Tensor(Float32Array.from([5, 0, 0, 0, 0, 4, 0, 0, 0, 3, 1, 0, 0, 0, 0, 2]), [4, 4]);
    const batch = { wordsScored: [4] } as unknown as Batch;
    const [p] = decodePredictions({ name: 'slots', type: 'tagging', labels }, logits, batch, [{ text: 'Munich Central Station at 5' }]) as TagPrediction[];
    assert.deepEqual(
      p.words.map((w) => w.tag),
      ['B-LOC', 'I-LOC', 'I-LOC', 'B-TIME', 'O'],
    );
    assert.equal(p.words[4].score, null, 'the cut-off word was not seen by the model');
    const soft = (row: number[], k: number) => Math.exp(row[k]) / row.reduce((s, x) => s + Math.exp(x), 0);
    assert.ok(Math.abs(p.words[0].score! - soft([5, 0, 0, 0], 0)) < 1e-6);
    assert.deepEqual(
      p.spans.map(({ score: _s, ...rest }) => rest),
      [
        { label: 'LOC', start: 0, end: 3, text: 'Munich Central Station' },
        { label: 'TIME', start: 3, end: 4, text: 'at' },
      ],
    );
    const mean = (soft([5, 0, 0, 0], 0) + soft([0, 4, 0, 0], 1) + soft([0, 3, 1, 0], 1)) / 3;
    assert.ok(Math.abs(p.spans[0].score - mean) < 1e-6);
  });
});

describe('pathwise predict', () => {
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'pw-predict-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it("--json prints one typed prediction per input, equal to the library's; plain output is the label", async () => {
    const texts = ['A wonderful film.', 'Dull and far too long.'];
    const want = (await Pathwise.fromPretrained(DENSE).predict('sent', texts)) as ClassPrediction[];
    const r = cli(['predict', DENSE, '--task', 'sent', '--json', ...texts]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
      JSON.parse(JSON.stringify(want)),
    );
    const plain = cli(['predict', DENSE, '--task', 'sent', ...texts]);
    assert.equal(plain.stdout, want.map((p) => p.label).join('\n') + '\n');
  });

  it('reads many inputs from a JSONL file or stdin (strings, {text}, {tokens}), in input order', async () => {
    const lines = [JSON.stringify('A wonderful film.'), JSON.stringify({ text: 'Dull and far too long.' }), '', JSON.stringify({ sentence1: 'Fine.' })];
    const file = join(work, 'in.jsonl');
    writeFileSync(file, lines.join('\n') + '\n');
    const want = (await Pathwise.fromPretrained(DENSE).predict('sent', ['A wonderful film.', 'Dull and far too long.', 'Fine.'])).map(
      (p) => (p as ClassPrediction).label,
    );
    const fromFile = cli(['predict', DENSE, '--task', 'sent', '--input', file]);
    assert.equal(fromFile.status, 0, fromFile.stderr);
    assert.equal(fromFile.stdout, want.join('\n') + '\n');
    const fromStdin = cli(['predict', DENSE, '--task', 'sent', '--input', '-'], lines.join('\n'));
    assert.equal(fromStdin.stdout, fromFile.stdout);
    const tagged = cli(['predict', DENSE, '--task', 'pos', '--json', '--input', '-'], JSON.stringify({ tokens: ['The', 'dog', 'barked', '.'] }));
    assert.equal(tagged.status, 0, tagged.stderr);
    const p = JSON.parse(tagged.stdout) as TagPrediction;
    assert.deepEqual(
      p.words.map((w) => w.word),
      ['The', 'dog', 'barked', '.'],
    );
  });

  it('bad input exits 2 naming the file and line, or the problem; nothing is predicted', () => {
    const file = join(work, 'bad.jsonl');
    writeFileSync(file, '"fine"\n{"text": 3}\n');
    const cases: [string[], string | undefined, RegExp][] = [
      [['--input', file], undefined, /bad\.jsonl line 2: "text" must be a string/],
      [['--input', '-'], '"ok"\n{nope\n', /<stdin> line 2: not valid JSON/],
      [['--input', '-'], '[1, 2]\n', /<stdin> line 1: expected a JSON string or object, got an array/],
      [['--input', '-'], '{"label": "x"}\n', /<stdin> line 1: missing field "text" \(give the text as "text" or "sentence1"\)/],
      [['--input', join(work, 'missing.jsonl')], undefined, /cannot read .*missing\.jsonl: ENOENT/],
      [['--input', file, 'also a text'], undefined, /as arguments or with --input, not both/],
      [[], undefined, /no input to predict/],
      [['--inptu', file], undefined, /unknown option --inptu \(did you mean --input\?\)/],
    ];
    for (const [args, input, msg] of cases) {
      const r = cli(['predict', DENSE, '--task', 'sent', ...args], input);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg);
      assert.equal(r.stdout, '');
    }
  });
});

describe('model folders', () => {
  it('recognises every kind, saves a trained folder as the encoder kind again, and refuses a newer format', async () => {
    const work = mkdtempSync(join(tmpdir(), 'pw-folder-'));
    try {
      assert.equal(folderKind(DENSE), 'encoder');
      assert.equal(folderKind(join(ROOT, 'test', 'fixtures', 'reference', 'path_system')), 'components');
      assert.equal(folderKind(join(ROOT, 'models', 'base')), 'base');
      assert.equal(folderKind(join(ROOT, 'test', 'fixtures', 'bert')), 'bert');
      // Loaded and saved again, a trained folder keeps its kind and its predictions.
      const model = loadModel(DENSE);
      saveModel(join(work, 'again'), model);
      const cfg = JSON.parse(readFileSync(join(work, 'again', 'config.json'), 'utf8'));
      assert.equal(cfg.layout, 'encoder');
      assert.equal(cfg.format, 2);
      assert.deepEqual(await loadModel(join(work, 'again')).predict('sent', ['Fine.']), await model.predict('sent', ['Fine.']));
      // A folder from a newer Pathwise is refused, by the library and the CLI (exit 2).
      cpSync(DENSE, join(work, 'newer'), { recursive: true });
      writeFileSync(join(work, 'newer', 'config.json'), JSON.stringify({ ...cfg, format: 99 }));
      assert.throws(() => loadModel(join(work, 'newer')), /config\.json: written by a newer Pathwise \(folder format 99; this version reads formats 1 to 2\)/);
      const r = cli(['predict', join(work, 'newer'), '--task', 'sent', 'Fine.']);
      assert.equal(r.status, 2);
      assert.match(r.stderr, /written by a newer Pathwise/);

      // Weights that load silently elsewhere are refused here, naming the file and the tensor.
      const damaged = (name: string, change: (t: Map<string, Tensor>) => void) => {
        const dir = join(work, name);
        cpSync(DENSE, dir, { recursive: true });
        const { tensors, metadata } = readSafetensors(join(dir, 'model.safetensors'));
        change(tensors);
        writeFileSync(join(dir, 'model.safetensors'), serializeSafetensors(tensors, metadata));
        return dir;
      };
      const cases: [string, (t: Map<string, Tensor>) => void, RegExp][] = [
        ['nan', (t) => (t.get('layers.0.ffn.fc1.weight')!.f32[7] = Number.NaN), /"layers\.0\.ffn\.fc1\.weight" holds a non-finite value \(NaN\) at index 7/],
        ['inf', (t) => (t.get('heads.sent.out.bias')!.f32[0] = Number.POSITIVE_INFINITY), /"heads\.sent\.out\.bias" holds a non-finite value/],
        [
          'transposed',
          (t) => {
            const w = t.get('layers.1.ffn.fc2.weight')!;
            t.set('layers.1.ffn.fc2.weight', new Tensor(w.f32, [w.shape[1], w.shape[0]]));
          },
          /"layers\.1\.ffn\.fc2\.weight" has shape \[64,32\], .*config\.json implies \[32,64\]/,
        ],
        [
          'extra',
          (t) => t.set('layers.9.attn.qkv.weight', new Tensor(new Float32Array(4), [2, 2])),
          /tensor "layers\.9\.attn\.qkv\.weight" is no parameter of the model/,
        ],
      ];
      // A config that would allocate more than the file holds, a tokenizer with ids past the
      // vocabulary, and a tokenizer.json that is not UTF-8: refused, each naming its file.
      const huge = join(work, 'huge');
      cpSync(DENSE, huge, { recursive: true });
      writeFileSync(join(huge, 'config.json'), JSON.stringify({ ...cfg, dModel: 32768, heads: 1, ffn: 131072, vocabSize: 2000000 }));
      assert.throws(() => loadModel(huge), /config\.json \(.*dModel 32768.*\) describes [\d,]+ parameters, but .*model\.safetensors holds [\d,]+ values/);
      const small = damaged('small-vocab', (t) => {
        const w = t.get('embeddings.word.weight')!;
        t.set('embeddings.word.weight', new Tensor(w.f32.slice(0, 500 * w.shape[1]), [500, w.shape[1]]));
      });
      writeFileSync(join(small, 'config.json'), JSON.stringify({ ...cfg, vocabSize: 500 }));
      assert.throws(() => loadModel(small), /tokenizer\.json: token ".+" has id 599, but the model's vocabulary \(.*config\.json: vocabSize\) has 500 rows/);
      const badUtf8 = join(work, 'bad-utf8');
      cpSync(DENSE, badUtf8, { recursive: true });
      const tok = readFileSync(join(badUtf8, 'tokenizer.json'));
      const at = tok.indexOf('"model"');
      writeFileSync(join(badUtf8, 'tokenizer.json'), Buffer.concat([tok.subarray(0, at), Buffer.from([0xff]), tok.subarray(at)]));
      assert.throws(() => loadModel(badUtf8), new RegExp(`tokenizer\\.json line \\d+: invalid UTF-8 at byte offset ${at}`));

      // export refuses to overwrite its input, and refuses a folder that does not load.
      const same = cli(['export', DENSE, '--out', DENSE]);
      assert.equal(same.status, 2);
      assert.match(same.stderr, /--out .* is the folder being exported/);
      const broken = damaged('broken-for-export', (t) => (t.get('heads.sent.out.weight')!.f32[0] = Number.NaN));
      const ex = cli(['export', broken, '--out', join(work, 'exported')]);
      assert.equal(ex.status, 2, ex.stderr);
      assert.match(ex.stderr, /"heads\.sent\.out\.weight" holds a non-finite value/);
      assert.equal(existsSync(join(work, 'exported')), false, 'nothing written');

      for (const [name, change, msg] of cases) {
        const dir = damaged(name, change);
        assert.throws(() => loadModel(dir), msg, name);
        const p = cli(['predict', dir, '--task', 'sent', 'Fine.']);
        assert.equal(p.status, 2, `${name}: ${p.stderr}`);
        assert.match(p.stderr, /model\.safetensors: /);
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
