// The corpus parsers and the pretraining corpus on the real, pinned data packages: Brown, WordNet,
// State of the Union, Moby-Dick; the fixed downstream splits; the user-corpus reader's errors.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/engine/index.js';
import {
  BROWN_CATEGORIES,
  CorpusError,
  LEXNAMES,
  UNIVERSAL_TAGS,
  brownSplit,
  brownToUniversal,
  builtinPretrainDocuments,
  corpusStats,
  detokenize,
  firstInvalidUtf8,
  lemmaKey,
  loadBrown,
  loadMobyDickParts,
  loadSotuAddresses,
  loadWordNet,
  parseBrownFile,
  parseGloss,
  pretrainHeldOut,
  readCorpus,
  wicLemmaSplit,
  wordnetSplit,
  type BrownDocument,
  type PretrainDocument,
  type Synset,
} from '../../src/data/corpus/index.js';

let brownCache: { docs: BrownDocument[] } | null = null;
function brown(): { docs: BrownDocument[] } {
  brownCache ??= { docs: loadBrown() };
  return brownCache;
}
let wordnetCache: Synset[] | null = null;
const wordnet = (): Synset[] => (wordnetCache ??= loadWordNet());
let pretrainCache: PretrainDocument[] | null = null;
const pretrain = (): PretrainDocument[] => (pretrainCache ??= [...builtinPretrainDocuments()]);

const sha = (xs: Iterable<string>) =>
  createHash('sha256')
    .update([...xs].sort().join('\n'))
    .digest('hex')
    .slice(0, 16);

function sample<T>(xs: readonly T[], n: number, seed: number): T[] {
  const idx = Array.from(xs.keys());
  new Rng(seed).shuffle(idx);
  return idx.slice(0, n).map((i) => xs[i]);
}

/** Whether `needle` occurs in `hay` with no letter or digit glued to either end. */
function occursWordAligned(hay: string, needle: string): boolean {
  const w = /[\p{L}\p{N}]/u;
  for (let at = hay.indexOf(needle); at >= 0; at = hay.indexOf(needle, at + 1)) {
    const before = at === 0 || !w.test(hay[at - 1]) || !w.test(needle[0]);
    const end = at + needle.length;
    const after = end >= hay.length || !w.test(hay[end]) || !w.test(needle[needle.length - 1]);
    if (before && after) return true;
  }
  return false;
}

describe('Brown corpus', () => {
  it('has 500 documents, 15 categories, 57,340 sentences, 1,161,192 tokens', () => {
    const { docs } = brown();
    assert.equal(docs.length, 500);
    assert.deepEqual([...new Set(docs.map((d) => d.category))].sort(), [...BROWN_CATEGORIES]);
    assert.equal(docs[0].id, 'ca01');
    assert.equal(docs[0].category, 'news');
    assert.equal(docs[499].id, 'cr09');
    let sentences = 0;
    let tokens = 0;
    for (const d of docs) {
      for (const s of d.sentences) {
        sentences++;
        tokens += s.words.length;
        assert.equal(s.tags.length, s.words.length);
        assert.equal(s.universal.length, s.words.length);
      }
    }
    assert.equal(sentences, 57340); // exactly the count in data-sources.md
    assert.equal(tokens, 1161192);
  });

  it('maps every tag to the 12 universal tags, with NLTK totals to within 3 tokens', () => {
    const counts = new Map<string, number>();
    for (const d of brown().docs) for (const s of d.sentences) for (const u of s.universal) counts.set(u, (counts.get(u) ?? 0) + 1);
    assert.deepEqual([...counts.keys()].sort(), [...UNIVERSAL_TAGS].sort());
    // nltk.corpus.brown.tagged_words(tagset='universal'), whole corpus.
    const nltk: Record<string, number> = {
      NOUN: 275558,
      VERB: 182750,
      '.': 147565,
      ADP: 144766,
      DET: 137019,
      ADJ: 83721,
      ADV: 56239,
      PRON: 49334,
      CONJ: 38151,
      PRT: 29829,
      NUM: 14874,
      X: 1386,
    };
    let off = 0;
    for (const [t, n] of Object.entries(nltk)) {
      const d = (counts.get(t) ?? 0) - n;
      assert.ok(Math.abs(d) <= 3, `${t}: ${counts.get(t)} vs NLTK ${n}`);
      off += Math.abs(d);
    }
    assert.ok(off <= 6, `total difference ${off}`);
  });

  it('maps raw tags by the documented rules', () => {
    const cases: [string, string][] = [
      ['nn', 'NOUN'],
      ['nn-tl', 'NOUN'],
      ['at-tl-hl', 'DET'],
      ['np$', 'NOUN'],
      ['---hl', '.'],
      ['.-hl', '.'],
      ["''", '.'],
      ['fw-nn', 'X'],
      ['fw-in+at-tl', 'X'],
      ['nil', 'X'],
      ['pp$', 'DET'],
      ['pps', 'PRON'],
      ['ppss+bem', 'PRT'],
      ['wdt+bez', 'PRT'],
      ['vb+ppo', 'VERB'],
      ['md*', 'VERB'],
      ['bedz*', 'VERB'],
      ['rb+cs', 'ADV'],
      ['in+ppo', 'ADP'],
      ['cs', 'ADP'],
      ['ex', 'PRT'],
      ['to', 'PRT'],
      ['uh', 'PRT'],
      ['od', 'ADJ'],
      ['ap', 'ADJ'],
      ['cd', 'NUM'],
      ['cd$', 'NOUN'],
      ['*', 'ADV'],
      ['NN-TL', 'NOUN'],
    ];
    for (const [tag, u] of cases) assert.equal(brownToUniversal(tag), u, tag);
  });

  it('splits tokens on the last slash and detokenizes into natural text', () => {
    const [s] = parseBrownFile('\n\n\tHe/pps paid/vbd 1/2/cd ,/, and/or/cc //in less/ap ./.\n\n');
    assert.deepEqual(s.words, ['He', 'paid', '1/2', ',', 'and/or', '/', 'less', '.']);
    assert.deepEqual(s.tags, ['pps', 'vbd', 'cd', ',', 'cc', 'in', 'ap', '.']);
    assert.equal(s.text, 'He paid 1/2, and/or / less.');
    assert.equal(detokenize(['``', 'Hi', ',', "''", 'he', 'said', '(', 'quietly', ')', '.']), '"Hi," he said (quietly).');
    assert.equal(detokenize(['more', "'", 'pro', "'", 'letters', '?']), "more 'pro' letters?");
    assert.equal(detokenize(['won', 'by', 'Ivan', 'Allen', 'Jr.', '.']), 'won by Ivan Allen Jr.');
    const first = brown().docs[0].sentences[0].text;
    assert.equal(
      first,
      'The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced "no evidence" that any irregularities took place.',
    );
  });

  it('most-frequent-tag baseline on held-out documents beats the 89.5% floor', () => {
    const split = brownSplit();
    const byWord = new Map<string, Map<string, number>>();
    for (const d of brown().docs) {
      if (!split.train.has(d.id)) continue;
      for (const s of d.sentences) {
        s.words.forEach((w, i) => {
          const m = byWord.get(w) ?? new Map<string, number>();
          m.set(s.universal[i], (m.get(s.universal[i]) ?? 0) + 1);
          byWord.set(w, m);
        });
      }
    }
    const best = new Map([...byWord].map(([w, m]) => [w, [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0][0]]));
    let ok = 0;
    let n = 0;
    for (const d of brown().docs) {
      if (!split.test.has(d.id)) continue;
      for (const s of d.sentences) {
        for (const [i, w] of s.words.entries()) {
          n += 1;
          ok += (best.get(w) ?? 'NOUN') === s.universal[i] ? 1 : 0;
        }
      }
    }
    const acc = ok / n;
    assert.ok(acc > 0.9 && acc < 0.96, `most-frequent-tag accuracy ${acc}`); // 94.3% on universal tags
  });
});

describe('downstream splits', () => {
  it('Brown: 396/52/52 documents, disjoint, complete, every genre in dev and test, pinned', () => {
    const a = brownSplit();
    const b = brownSplit();
    assert.deepEqual([a.train.size, a.dev.size, a.test.size], [396, 52, 52]);
    assert.deepEqual([...a.test].sort(), [...b.test].sort());
    assert.deepEqual([...a.dev].sort(), [...b.dev].sort());
    const all = new Set([...a.train, ...a.dev, ...a.test]);
    assert.equal(all.size, 500);
    const cat = new Map(brown().docs.map((d) => [d.id, d.category]));
    assert.deepEqual([...all].sort(), [...cat.keys()].sort());
    for (const c of BROWN_CATEGORIES) {
      for (const part of [a.dev, a.test])
        assert.ok(
          [...part].some((id) => cat.get(id) === c),
          `${c} lacks held-out documents`,
        );
    }
    assert.equal(
      [...a.test].sort().join(' '),
      'ca02 ca05 ca21 ca25 cb02 cb05 cb17 cc03 cc15 cd07 cd16 ce19 ce27 ce29 ce35 cf06 cf26 cf29 cf45 cf48 cg28 cg32 cg37 cg38 ' +
        'cg52 cg55 cg71 cg73 ch24 ch27 ch28 cj14 cj16 cj21 cj42 cj53 cj61 cj69 cj78 ck01 ck04 ck16 cl09 cl21 cm01 cn09 cn10 cn12 ' +
        'cp09 cp20 cp28 cr02',
    );
  });

  it('WordNet synsets and wic lemmas: 80/10/10, disjoint, complete, pinned', () => {
    const s = wordnetSplit();
    assert.deepEqual([s.train.size, s.dev.size, s.test.size], [94233, 11779, 11779]);
    const keys = new Set(wordnet().map((x) => x.key));
    assert.equal(new Set([...s.train, ...s.dev, ...s.test]).size, keys.size);
    for (const k of [...s.dev, ...s.test]) assert.ok(keys.has(k) && !s.train.has(k));
    for (const k of s.dev) assert.ok(!s.test.has(k));
    const w = wicLemmaSplit();
    assert.deepEqual([w.train.size, w.dev.size, w.test.size], [8193, 1024, 1024]);
    assert.equal(new Set([...w.train, ...w.dev, ...w.test]).size, 10241);
    assert.deepEqual([sha(s.test), sha(w.test)], PINNED_WORDNET);
  });
});

// sha256 prefixes of the sorted test keys; a change means every reported number changes.
const PINNED_WORDNET = ['b1e70a6eb1a83520', '08d511aacde4c84e'];

describe('WordNet', () => {
  it('has 117,791 synsets over all 45 lexicographer files', () => {
    const syn = wordnet();
    assert.equal(syn.length, 117791);
    const byPos: Record<string, number> = {};
    for (const s of syn) byPos[s.pos] = (byPos[s.pos] ?? 0) + 1;
    assert.deepEqual(byPos, { n: 82192, v: 13789, a: 7468, s: 10717, r: 3625 });
    assert.equal(LEXNAMES.length, 45);
    assert.deepEqual([...new Set(syn.map((s) => s.lexName))].sort(), [...LEXNAMES].sort());
    const family: Record<string, string> = { n: 'noun.', v: 'verb.', a: 'adj.', s: 'adj.', r: 'adv.' };
    for (const s of syn) {
      assert.ok(s.lexName.startsWith(family[s.pos]), `${s.key} ${s.lexName}`);
      assert.ok(s.definition !== '', s.key);
      for (const w of s.words) assert.ok(!/_|\((a|p|ip)\)$/.test(w), `${s.key} "${w}"`);
    }
    assert.equal(
      syn.reduce((n, s) => n + s.examples.length, 0),
      48541,
    );
    const able = syn.find((s) => s.key === 'a:00001740')!;
    assert.deepEqual(able.words, ['able']);
    assert.equal(able.lexName, 'adj.all');
    assert.equal(able.definition, "(usually followed by `to') having the necessary means or skill or know-how or authority to do something");
    assert.deepEqual(able.examples.slice(0, 2), ['able to swim', 'she was able to program her computer']);
    assert.equal(syn.find((s) => s.key === 'n:00001740')!.lexName, 'noun.Tops');
  });

  it('separates definition, examples and attributions', () => {
    assert.deepEqual(parseGloss('a natural effortlessness; "they conversed with great facility"; "a happy readiness"--Jane Austen  '), {
      definition: 'a natural effortlessness',
      examples: ['they conversed with great facility', 'a happy readiness'],
    });
    assert.deepEqual(parseGloss('the letter "a" as a word'), { definition: 'the letter "a" as a word', examples: [] });
  });
});

describe('State of the Union and Moby-Dick', () => {
  it('keeps addresses and chapters as separate documents', () => {
    const sotu = loadSotuAddresses();
    assert.equal(sotu.length, 233);
    assert.equal(new Set(sotu.map((a) => a.id)).size, 233);
    assert.deepEqual([sotu[0].year, sotu[0].president], [1790, 'George Washington']);
    assert.equal(sotu[sotu.length - 1].year, 2021);
    const moby = loadMobyDickParts();
    assert.equal(moby.length, 138); // etymology, extracts, 135 chapters, epilogue (not the contents)
    assert.ok(moby[0].text.startsWith('ETYMOLOGY.'));
    assert.ok(moby[2].text.startsWith('CHAPTER 1. Loomings.\n\nCall me Ishmael.'));
    assert.equal(moby[137].id, 'epilogue');
  });
});

describe('pretraining corpus', () => {
  it('has every source, with the expected sizes, and a disjoint fixed held-out slice', () => {
    const docs = pretrain();
    const stats = corpusStats(docs);
    const words = (s: string) => stats.get(s)?.words ?? 0;
    assert.equal(stats.get('brown')?.documents, 396);
    assert.ok(words('brown') > 780_000 && words('brown') < 830_000, `brown ${words('brown')}`);
    assert.ok(words('sotu') > 1_700_000 && words('sotu') < 1_800_000, `sotu ${words('sotu')}`);
    assert.ok(words('moby-dick') > 190_000 && words('moby-dick') < 215_000, `moby ${words('moby-dick')}`);
    assert.ok(words('wordnet') > 1_000_000 && words('wordnet') < 1_100_000, `wordnet ${words('wordnet')}`);
    const held = pretrainHeldOut();
    assert.deepEqual(held.map((d) => d.source).sort(), ['moby-dick', 'moby-dick', 'moby-dick', 'sotu', 'sotu', 'sotu', 'sotu', 'sotu']);
    assert.deepEqual(
      pretrainHeldOut().map((d) => d.id),
      held.map((d) => d.id),
    );
    const ids = new Set(docs.map((d) => `${d.source}/${d.id}`));
    assert.equal(ids.size, docs.length);
    for (const h of held) assert.ok(!ids.has(`${h.source}/${h.id}`), `${h.id} is both held out and trained on`);
    const text = docs.map((d) => d.text).join('\n');
    for (const h of held) assert.ok(!text.includes(h.text.slice(200, 400)), `${h.id} text leaks`);
  });

  it('leaves out Brown dev/test documents and WordNet dev/test synsets and wic lemmas', () => {
    const docs = pretrain();
    const bs = brownSplit();
    const brownIds = docs.filter((d) => d.source === 'brown').map((d) => d.id);
    assert.deepEqual(brownIds.sort(), [...bs.train].sort());
    const ws = wordnetSplit();
    const wic = wicLemmaSplit();
    const heldLemmas = new Set([...wic.dev, ...wic.test]);
    const byKey = new Map(wordnet().map((s) => [s.key, s]));
    for (const d of docs) {
      if (d.source !== 'wordnet') continue;
      assert.ok(ws.train.has(d.id), `${d.id} is not a train synset`);
      assert.ok(!byKey.get(d.id)!.words.some((w) => heldLemmas.has(lemmaKey(w))), `${d.id} has a held-out wic lemma`);
    }
  });

  it('holds no sentence of a Brown dev/test document and no held-out WordNet gloss (sampled)', () => {
    const docs = pretrain();
    const text = docs.map((d) => d.text).join('\n\u0000\n');
    const bs = brownSplit();
    const longSentences = (keep: (id: string) => boolean) =>
      brown()
        .docs.filter((d) => keep(d.id))
        .flatMap((d) => d.sentences.filter((s) => s.words.length >= 8).map((s) => s.text));
    // The check can fail: train sentences are found.
    for (const s of sample(
      longSentences((id) => bs.train.has(id)),
      20,
      1,
    ))
      assert.ok(text.includes(s), `train sentence missing: ${s}`);
    for (const s of sample(
      longSentences((id) => !bs.train.has(id)),
      150,
      2,
    ))
      assert.ok(!text.includes(s), `held-out Brown sentence leaks: ${s}`);

    const ws = wordnetSplit();
    const wic = wicLemmaSplit();
    const heldLemmas = new Set([...wic.dev, ...wic.test]);
    const heldStrings: string[] = [];
    const trainStrings: string[] = [];
    for (const s of wordnet()) {
      const out = !ws.train.has(s.key) || s.words.some((w) => heldLemmas.has(lemmaKey(w)));
      for (const t of [s.definition, ...s.examples]) if (t.split(' ').length >= 5) (out ? heldStrings : trainStrings).push(t);
    }
    const heldSet = new Set(heldStrings);
    for (const t of sample(
      trainStrings.filter((t) => !heldSet.has(t)),
      20,
      3,
    ))
      assert.ok(text.includes(t), `train gloss missing: ${t}`);
    for (const t of sample(heldStrings, 150, 4)) assert.ok(!occursWordAligned(text, t), `held-out WordNet text leaks: ${t}`);
  });
});

describe('user corpus reader', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pathwise-corpus-'));
  const file = (name: string, content: string | Buffer) => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };
  const fails = (fn: () => unknown, re: RegExp) =>
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof CorpusError, `not a CorpusError: ${String(e)}`);
      assert.match((e as Error).message, re);
      return true;
    });

  it('reads txt blocks, jsonl records, CRLF, a BOM, and directories in sorted order', () => {
    const txt = file('a.txt', '\uFEFFFirst doc line one\r\nline two  \r\n\r\n  \r\nSecond doc\r\n\r\n');
    const docs = readCorpus(txt);
    assert.deepEqual(
      docs.map((d) => [d.id, d.line, d.text]),
      [
        ['a.txt:1', 1, 'First doc line one\nline two'],
        ['a.txt:5', 5, 'Second doc'],
      ],
    );
    const jl = file('b.jsonl', '\uFEFF{"text": "one", "id": 1}\r\n\r\n{"body": "x", "text": "two\\nlines"}\n{"text": "   "}\n');
    assert.deepEqual(
      readCorpus(jl).map((d) => [d.line, d.text]),
      [
        [1, 'one'],
        [3, 'two\nlines'],
      ],
    );
    const other = file('c.data', '{"body": "custom field"}\n');
    assert.deepEqual(
      readCorpus(other, { field: 'body' }).map((d) => d.text),
      ['custom field'],
    ); // auto: sniffed as jsonl
    assert.deepEqual(
      readCorpus(other, { format: 'txt' }).map((d) => d.text),
      ['{"body": "custom field"}'],
    );
    const sub = join(dir, 'multi');
    mkdirSync(sub);
    writeFileSync(join(sub, 'b.jsonl'), '{"text": "from jsonl"}\n');
    writeFileSync(join(sub, 'a.txt'), 'from txt\n');
    writeFileSync(join(sub, 'notes.md'), 'ignored\n');
    assert.deepEqual(
      readCorpus(sub).map((d) => [d.id, d.text]),
      [
        ['a.txt:1', 'from txt'],
        ['b.jsonl:1', 'from jsonl'],
      ],
    );
  });

  it('rejects bad corpora with the file and line in the message', () => {
    fails(() => readCorpus(join(dir, 'nope.txt')), /^corpus file not found: .*nope\.txt$/);
    fails(() => readCorpus(file('empty.txt', '')), /empty/);
    fails(() => readCorpus(file('blank.txt', '\n   \n\t\n')), /blank\.txt is empty/);
    const bad = file('bad.txt', Buffer.concat([Buffer.from('fine line\nsecond ok\nbad '), Buffer.from([0xff, 0xfe]), Buffer.from(' here\n')]));
    fails(() => readCorpus(bad), /bad\.txt line 3: invalid UTF-8 at byte offset 24 \(byte 5 of the line\): 0xff 0xfe/);
    const overlong = file('overlong.txt', Buffer.from([0x61, 0x0a, 0xc0, 0xaf]));
    fails(() => readCorpus(overlong), /overlong\.txt line 2: invalid UTF-8 at byte offset 2/);
    fails(() => readCorpus(file('j1.jsonl', '{"text": "ok"}\n{"text": "unterminated\n')), /j1\.jsonl line 2: not valid JSON/);
    fails(() => readCorpus(file('j2.jsonl', '{"text": "ok"}\n\n["text"]\n')), /j2\.jsonl line 3: expected a JSON object.*got an array/);
    fails(() => readCorpus(file('j3.jsonl', '{"text": "ok"}\n{"body": "no text"}\n')), /j3\.jsonl line 2: the object has no "text" field/);
    fails(() => readCorpus(file('j4.jsonl', '{"text": 42}\n')), /j4\.jsonl line 1: field "text" is a number, not a string/);
    fails(() => readCorpus(file('j5.jsonl', '{"text": "ok"}\n'), { field: 'body' }), /j5\.jsonl line 1: the object has no "body" field/);
    const emptyDir = join(dir, 'emptydir');
    mkdirSync(emptyDir);
    fails(() => readCorpus(emptyDir), /no \.txt or \.jsonl files/);
  });

  it('finds the first invalid UTF-8 sequence', () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    assert.equal(firstInvalidUtf8(enc('héllo 日本 🙂')), -1);
    assert.equal(firstInvalidUtf8(Uint8Array.from([0x61, 0xed, 0xa0, 0x80])), 1); // surrogate
    assert.equal(firstInvalidUtf8(Uint8Array.from([0x61, 0x62, 0xe6, 0x97])), 2); // truncated
    assert.equal(firstInvalidUtf8(Uint8Array.from([0x80])), 0); // stray continuation
    assert.equal(firstInvalidUtf8(Uint8Array.from([0xf4, 0x90, 0x80, 0x80])), 0); // above U+10FFFF
  });

  it('cleans up', () => rmSync(dir, { recursive: true, force: true }));
});
