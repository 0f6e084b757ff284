// Fuzzing the input parsers on their own (issue 15, item 6): seeded mutations of a valid
// safetensors file, of tokenizer.json files of each model type (BPE, WordPiece, WordLevel,
// Unigram), of task data files (JSONL and CSV, each task type) and of task configs. Each case
// either loads, and what it loaded holds together (tensors of their shapes' sizes, token ids
// within the vocabulary, examples with their fields), or is refused with an InputError that
// names the file: never another error, never a crash, memory bounded. The timeouts guard against
// a hang; they assert no timing.

import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Rng, Tensor, numel, parseSafetensors, serializeSafetensors } from '../../src/engine/index.js';
import { truncNormal } from '../../src/nn/index.js';
import { Tokenizer, type TokenizerJson } from '../../src/data/tokenizer/index.js';
import { loadTaskFromFiles, type TaskFileConfig } from '../../src/tasks/from_files.js';
import type { TaskType } from '../../src/tasks/task.js';
import { Prng, Tally, cases, mutateBytes, mutateJson, naming, tinyCharsmap, toJsonText } from '../fuzz.js';

/** Normalizers, pre-tokenizers and decoders of the kinds Hugging Face files hold, for a mutation to put in place (and then damage). */
const COMPONENTS: Record<'normalizer' | 'pre_tokenizer' | 'decoder', Record<string, unknown>[]> = {
  normalizer: [
    { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
    { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' },
    { type: 'Prepend', prepend: '▁' },
    { type: 'Precompiled', precompiled_charsmap: tinyCharsmap() },
    { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    { type: 'Strip', strip_left: true, strip_right: true },
    { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }, { type: 'StripAccents' }, { type: 'Nmt' }] },
  ],
  pre_tokenizer: [
    { type: 'Split', pattern: { Regex: '\\d' }, behavior: 'Isolated', invert: false },
    { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    { type: 'FixedLength', length: 3 },
    {
      type: 'Sequence',
      pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Digits', individual_digits: true }, { type: 'Punctuation', behavior: 'Isolated' }],
    },
    { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  ],
  decoder: [
    { type: 'Strip', content: ' ', start: 1, stop: 0 },
    { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
    {
      type: 'Sequence',
      decoders: [{ type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true }],
    },
    { type: 'WordPiece', prefix: '##', cleanup: true },
    { type: 'BPEDecoder', suffix: '</w>' },
    { type: 'CTC', pad_token: '[PAD]', word_delimiter_token: '|', cleanup: true },
  ],
};

const TEXTS = ['the film was good and the music was lovely', 'a bad plot, a dull ending and poor actors', 'Ada Lovelace lived in London', 'Ünïcödé — “quotes”'];

describe('fuzzing the input parsers', () => {
  let work = '';
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'pw-fuzz-inputs-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('safetensors: 3000 mutated files each parse into tensors of their shapes, or are refused naming the file', { timeout: 120_000 }, async (t) => {
    const rng = new Rng(3);
    const good = serializeSafetensors(
      new Map<string, Tensor>([
        ['a.weight', truncNormal([4, 3], rng, 1)],
        ['a.bias', new Tensor(new Float32Array(4), [4])],
        ['ids', new Tensor(Int32Array.from([1, -2, 3]), [3])],
        ['empty', new Tensor(new Float32Array(0), [0, 5])],
        ['scalar', new Tensor(Float32Array.from([7]), [])],
      ]),
      { format: 'pt' },
    );
    const hlen = Number(good.readBigUInt64LE(0));
    const header = JSON.parse(good.subarray(8, 8 + hlen).toString());
    const r = new Prng(0xbeef);
    const tally = new Tally('safetensors');
    const FILE = 'fuzz.safetensors';
    for (let i = 0; i < cases(3000); i++) {
      let m: { bytes: Buffer; what: string };
      if (r.chance(0.35)) {
        // Structure: the header's fields, written back with a correct length.
        const h = structuredClone(header);
        const what = mutateJson(h, r, /^(shape|data_offsets|dtype|__metadata__)$/);
        const text = Buffer.from(toJsonText(h));
        const len = Buffer.alloc(8);
        len.writeBigUInt64LE(BigInt(text.length));
        m = { bytes: Buffer.concat([len, text, good.subarray(8 + hlen)]), what: `header: ${what}` };
      } else if (r.chance(0.1)) {
        const out = Buffer.from(good);
        const v = r.pick([0n, 1n, 2n, 7n, BigInt(hlen - 1), BigInt(hlen + 1), BigInt(good.length), 1n << 40n, (1n << 64n) - 1n]);
        out.writeBigUInt64LE(v, 0);
        m = { bytes: out, what: `header length ${v}` };
      } else m = mutateBytes(good, r, r.chance(0.8) ? [0, 8 + hlen] : [0, good.length]);
      await tally.run(
        m.what,
        () => {
          const { tensors } = parseSafetensors(m.bytes, FILE);
          for (const [name, x] of tensors) assert.equal(x.size, numel(x.shape), name);
        },
        (e) => (e.file === FILE && e.message.startsWith(`${FILE}: `) ? null : `not about ${FILE}: file ${e.file}, ${e.message}`),
      );
    }
    t.diagnostic(tally.summary());
    tally.check();
  });

  it('tokenizer.json: 1200 mutated files of four model types each encode within their vocabulary, or are refused naming the file', {
    timeout: 120_000,
  }, async (t) => {
    const bpe = Tokenizer.train(TEXTS, { vocabSize: 280 }).toJson();
    const bertPost = {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: { '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] } },
    };
    const words = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'the', 'film', 'was', 'good', 'bad', 'a', '##s', '##ing', 'lovely', ',', '.'];
    const added = words.slice(0, 4).map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
    const shell = (model: Record<string, unknown>, more: Record<string, unknown> = {}) =>
      ({
        version: '1.0',
        truncation: null,
        padding: null,
        added_tokens: added,
        normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
        pre_tokenizer: { type: 'BertPreTokenizer' },
        post_processor: bertPost,
        decoder: null,
        model,
        ...more,
      }) as unknown as TokenizerJson;
    const vocab = Object.fromEntries(words.map((w, i) => [w, i]));
    const kinds: [string, TokenizerJson][] = [
      ['BPE', bpe],
      [
        'WordPiece',
        shell(
          { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
          { decoder: { type: 'WordPiece', prefix: '##', cleanup: true } },
        ),
      ],
      ['WordLevel', shell({ type: 'WordLevel', unk_token: '[UNK]', vocab })],
      [
        'Unigram',
        shell(
          { type: 'Unigram', unk_id: 1, byte_fallback: false, vocab: words.map((w, i) => [w.startsWith('##') ? w.slice(2) : w, -1 - i / 10]) },
          { pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true }, normalizer: null },
        ),
      ],
    ];
    const r = new Prng(0x70c);
    const tally = new Tally('tokenizer.json');
    const file = join(work, 'tokenizer.json');
    const dump = process.env.FUZZ_DUMP;
    if (dump) tally.dump = (name) => copyFileSync(file, join(dump, `${name}.json`));
    for (const [kind, json] of kinds) {
      // The unmutated file loads and encodes: what every case below is a mutation of.
      const tok = Tokenizer.fromJson(json, kind);
      assert.ok((await tok.encode('the film was good')).ids.length > 0, kind);
      const text = Buffer.from(JSON.stringify(json, null, 2));
      for (let i = 0; i < cases(300); i++) {
        let m: { bytes: Buffer; what: string };
        if (r.chance(0.4)) m = mutateBytes(text, r);
        else if (r.chance(0.3)) {
          // Another component in a slot, one of its settings damaged.
          const j = structuredClone(json) as unknown as Record<string, unknown>;
          const slot = r.pick(['normalizer', 'pre_tokenizer', 'decoder'] as const);
          const c = structuredClone(r.pick(COMPONENTS[slot]));
          let what = 'as is';
          if (c.type === 'Precompiled' && r.chance(0.6)) {
            // The map's bytes: the trie the binding walks unchecked.
            const m = mutateBytes(Buffer.from(c.precompiled_charsmap as string, 'base64'), r);
            c.precompiled_charsmap = m.bytes.toString('base64');
            what = `map: ${m.what}`;
          } else if (r.chance(0.7)) what = mutateJson(c, r, /^(pattern|String|Regex|content|prepend|start|stop|length|precompiled_charsmap|replacement|type)$/);
          j[slot] = c;
          m = { bytes: Buffer.from(toJsonText(j)), what: `${slot} ${c.type}: ${what}` };
        } else {
          const j = structuredClone(json) as unknown as Record<string, unknown>;
          const what = mutateJson(
            j,
            r,
            /^(id|ids|type_id|content|vocab|merges|added_tokens|model|type|special|unk_token|unk_id|single|pair|special_tokens|Sequence|SpecialToken)$/,
          );
          m = { bytes: Buffer.from(toJsonText(j)), what };
        }
        writeFileSync(file, m.bytes);
        await tally.run(
          `${kind}: ${m.what}`,
          async () => {
            const tok = Tokenizer.fromFile(file);
            for (const [a, b] of [
              [TEXTS[0], null],
              [TEXTS[3], TEXTS[2]],
            ]) {
              const e = await tok.encode(a as string, b, { maxLength: 32 });
              for (const id of e.ids) assert.ok(id >= 0 && id < tok.vocabSize, `id ${id} outside [0, ${tok.vocabSize})`);
              for (const ty of e.typeIds) assert.ok(ty >= 0 && ty < tok.typeVocabSize, `segment id ${ty} outside [0, ${tok.typeVocabSize})`);
              await tok.decode(e.ids);
            }
          },
          naming(file),
        );
      }
    }
    t.diagnostic(tally.summary());
    tally.check();
  });

  it('task files: 2400 mutated JSONL and CSV files of every task type each load into examples, or are refused naming the file', {
    timeout: 120_000,
  }, async (t) => {
    const jsonl = (rows: unknown[]) => rows.map((x) => JSON.stringify(x)).join('\n') + '\n';
    const sources: [TaskType, string, string][] = [
      ['classification', 'cls.jsonl', jsonl(TEXTS.map((text, i) => ({ text, label: i % 2 ? 'pos' : 'neg' })))],
      ['classification', 'cls.csv', 'text,label\n' + TEXTS.map((x, i) => `"${x.replaceAll('"', '""')}",${i % 2 ? 'pos' : 'neg'}`).join('\n') + '\n'],
      ['pair_classification', 'pair.jsonl', jsonl(TEXTS.map((text, i) => ({ sentence1: text, sentence2: TEXTS[(i + 1) % 4], label: i % 3 })))],
      ['regression', 'reg.csv', 'sentence1,label\n' + TEXTS.map((x, i) => `"${x.replaceAll('"', '""')}",${i / 2}`).join('\n') + '\n'],
      [
        'tagging',
        'tags.jsonl',
        jsonl(
          TEXTS.map((text) => {
            const words = text.split(' ');
            return { words, tags: words.map((w) => (/^[A-Z]/.test(w) ? 'B-PER' : 'O')) };
          }),
        ),
      ],
      [
        'tagging',
        'ner.jsonl',
        jsonl([
          { tokens: ['Ada', 'Lovelace'], ner_tags: [1, 2] },
          { tokens: ['in', 'London'], ner_tags: [0, 3] },
        ]),
      ],
    ];
    const r = new Prng(0x7a5c);
    const tally = new Tally('task files');
    for (const [type, name, content] of sources) {
      const file = join(work, name);
      const labels = name === 'ner.jsonl' ? ['O', 'B-PER', 'I-PER', 'B-LOC'] : undefined;
      const load = () => loadTaskFromFiles({ name: 't', type, train: file, devFraction: 0, ...(labels ? { labels } : {}) });
      writeFileSync(file, content);
      assert.ok((await load()).train.length > 0, name);
      for (let i = 0; i < cases(400); i++) {
        let m: { bytes: Buffer; what: string };
        if (r.chance(0.6) || name.endsWith('.csv')) m = mutateBytes(Buffer.from(content), r);
        else {
          const rows = content
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l));
          const what = mutateJson(rows, r, /^(text|label|words|tags|tokens|ner_tags|sentence1|sentence2)$/);
          m = { bytes: Buffer.from(rows.map((x: unknown) => toJsonText(x)).join('\n')), what };
        }
        writeFileSync(file, m.bytes);
        await tally.run(
          `${name}: ${m.what}`,
          async () => {
            const task = await load();
            for (const ex of task.train) {
              assert.equal(typeof ex.text, 'string');
              if (type === 'regression') assert.ok(Number.isFinite(ex.label), `label ${ex.label}`);
              else if (type === 'tagging') assert.ok(ex.tags!.every((x) => task.labels.includes(x)));
              else assert.ok(task.labels.includes(ex.label as string));
            }
          },
          naming(file),
        );
      }
    }
    t.diagnostic(tally.summary());
    tally.check();
  });

  it('task configs: 600 mutated configs each load, or are refused as input errors', { timeout: 120_000 }, async (t) => {
    const file = join(work, 'config-task.jsonl');
    writeFileSync(file, TEXTS.map((text, i) => JSON.stringify({ text, label: i % 2 ? 'pos' : 'neg' })).join('\n'));
    const config: TaskFileConfig = {
      name: 'cfg',
      type: 'classification',
      labels: ['neg', 'pos'],
      train: file,
      dev: file,
      devFraction: 0.25,
      seed: 3,
      format: 'auto',
    };
    const r = new Prng(0xc0f);
    const tally = new Tally('task configs');
    for (let i = 0; i < cases(600); i++) {
      const c = structuredClone(config) as unknown as Record<string, unknown>;
      const what = mutateJson(c, r);
      await tally.run(
        what,
        async () => assert.ok((await loadTaskFromFiles(JSON.parse(toJsonText(c)) as TaskFileConfig)).name),
        (e) => (/^task config: |task data file|\.jsonl/.test(e.message) ? null : `not about the task config: ${e.message}`),
      );
    }
    t.diagnostic(tally.summary());
    tally.check();
  });
});
