// The built-in pretraining corpus: the public-domain / permissive texts of data-sources.md with
// every downstream dev and test unit left out, plus a small fixed held-out slice for measuring
// pretraining (MLM) loss on text the model never trained on.
//
// Rules (see splits.ts for the splits themselves):
//  - Brown: one document per Brown file, detokenized, ONLY files in brownSplit().train. The 104
//    dev and test files are left out whole. A train-file sentence whose exact text also occurs in
//    a dev/test file ("Yes.", a repeated quotation) is dropped too, so no held-out sentence
//    appears verbatim.
//  - WordNet: one document per synset: its definition, then its example sentences, one per line.
//    A synset is used ONLY if its key is in wordnetSplit().train AND none of its lemmas is a dev or
//    test lemma of wicLemmaSplit() (so no example sentence of a held-out `wic` lemma is seen; lemmas
//    outside the wic universe never exclude a synset). A definition or example of a used synset is
//    dropped when the same text is a definition or example of an excluded synset (WordNet repeats
//    some glosses verbatim across synsets).
//  - Held-out WordNet text elsewhere: some WordNet examples are quotations that also occur in the
//    other sources (a State of the Union sentence, a Brown sentence) or inside another gloss. Any
//    sentence (Brown, SOTU, Moby-Dick) or WordNet line that contains, word-aligned, a definition or
//    example of at least PHRASE_MIN_WORDS words from an excluded synset is dropped. Shorter
//    held-out strings ("a person", "he fell asleep") are common phrases and are not matched.
//  - State of the Union: one document per address; Moby-Dick: one document per chapter (plus
//    etymology, extracts, epilogue). Of each, a seeded 2% of the documents (rounded up: 5 of 233
//    addresses, 3 of 138 Moby-Dick parts) form pretrainHeldOut() and are excluded here.
// Documents come out source by source (Brown, SOTU, Moby-Dick, WordNet), each in a fixed order.

import { Rng } from '../../engine/index.js';
import { brownSplit, wordnetSplits } from '../splits.js';
import { brownDocumentText, loadBrown } from './brown.js';
import { loadMobyDickParts, loadSotuAddresses } from './texts.js';
import { lemmaKey, loadWordNet, type Synset } from './wordnet.js';

export type PretrainSource = 'brown' | 'sotu' | 'moby-dick' | 'wordnet';

export interface PretrainDocument {
  source: PretrainSource;
  /** Unique within its source: Brown file id, SOTU file stem, Moby-Dick part, WordNet synset key. */
  id: string;
  text: string;
}

export const PRETRAIN_HELDOUT_SEED = 1234;
/** Held-out WordNet strings of at least this many words are scrubbed from every source. */
export const PHRASE_MIN_WORDS = 5;
export const PRETRAIN_HELDOUT_FRACTION = 0.02;

/** Picks ceil(fraction * n) ids after sorting, with a fixed seed. */
function pickHeldOut(ids: readonly string[], seed: number): Set<string> {
  const sorted = [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  new Rng(seed).shuffle(sorted);
  return new Set(sorted.slice(0, Math.ceil(sorted.length * PRETRAIN_HELDOUT_FRACTION)));
}

// Word characters for phrase matching: letters and digits (surrogate halves count as letters).
let wordTable: Uint8Array | null = null;
function wordChars(): Uint8Array {
  if (!wordTable) {
    wordTable = new Uint8Array(65536);
    const re = /[\p{L}\p{N}]/u;
    for (let c = 0; c < 65536; c++) wordTable[c] = (c >= 0xd800 && c <= 0xdfff) || re.test(String.fromCharCode(c)) ? 1 : 0;
  }
  return wordTable;
}

/** Start offsets and 32-bit FNV-1a hashes of the word runs of `text`. */
function wordRuns(text: string): { starts: number[]; hashes: number[] } {
  const w = wordChars();
  const starts: number[] = [];
  const hashes: number[] = [];
  let h = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (w[c] === 1) {
      if (!inWord) {
        starts.push(i);
        h = 0x811c9dc5;
        inWord = true;
      }
      h = Math.imul(h ^ c, 0x01000193);
    } else if (inWord) {
      hashes.push(h >>> 0);
      inWord = false;
    }
  }
  if (inWord) hashes.push(h >>> 0);
  return { starts, hashes };
}

/** A key for three consecutive words (collisions are resolved by comparing the text). */
function key3(a: number, b: number, c: number): number {
  return (Math.imul(Math.imul(a, 0x9e3779b1) ^ b, 0x85ebca6b) ^ c) >>> 0;
}

/** Finds word-aligned occurrences of a fixed set of phrases (each of >= PHRASE_MIN_WORDS words). */
export class PhraseIndex {
  private readonly byKey = new Map<number, { phrase: string; lead: number }[]>();
  size = 0;

  add(phrase: string): void {
    const { starts, hashes } = wordRuns(phrase);
    if (starts.length < PHRASE_MIN_WORDS) return;
    const k = key3(hashes[0], hashes[1], hashes[2]);
    const list = this.byKey.get(k) ?? [];
    if (list.some((e) => e.phrase === phrase)) return;
    list.push({ phrase, lead: starts[0] });
    this.byKey.set(k, list);
    this.size++;
  }

  /** Character spans [start, end) of the phrases found in `text`. */
  find(text: string): [number, number][] {
    const out: [number, number][] = [];
    if (this.size === 0) return out;
    const { starts, hashes } = wordRuns(text);
    const w = wordChars();
    for (let i = 0; i + 2 < starts.length; i++) {
      const list = this.byKey.get(key3(hashes[i], hashes[i + 1], hashes[i + 2]));
      if (!list) continue;
      for (const { phrase, lead } of list) {
        const at = starts[i] - lead;
        if (at < 0 || !text.startsWith(phrase, at)) continue;
        const end = at + phrase.length;
        if (end < text.length && w[text.charCodeAt(end)] === 1 && w[text.charCodeAt(end - 1)] === 1) continue;
        out.push([at, end]);
      }
    }
    return out;
  }
}

/** `text` without the sentences (runs ending in . ! ? or a line end) that overlap `spans`. */
function dropSentences(text: string, spans: [number, number][]): string {
  if (spans.length === 0) return text;
  const cuts: [number, number][] = [];
  for (const [a, b] of spans) {
    let start = a;
    while (start > 0 && !/[.!?\n]/.test(text[start - 1])) start--;
    while (start < a && /[ \t]/.test(text[start])) start++;
    let end = b;
    while (end < text.length && !/[.!?\n]/.test(text[end - 1])) end++;
    while (end < text.length && /["')\]\u201d\u2019]/.test(text[end])) end++;
    while (end < text.length && /[ \t]/.test(text[end])) end++;
    cuts.push([start, end]);
  }
  cuts.sort((x, y) => x[0] - y[0]);
  let out = '';
  let pos = 0;
  for (const [a, b] of cuts) {
    if (a > pos) out += text.slice(pos, a);
    pos = Math.max(pos, b);
  }
  return (out + text.slice(pos)).trim();
}

/** Everything the corpus must keep out of WordNet: the excluded synsets and their text. */
interface WordNetHoldOut {
  usable: (s: Synset) => boolean;
  /** Exact definitions and examples of excluded synsets. */
  text: Set<string>;
  /** The same strings, of >= PHRASE_MIN_WORDS words, for word-aligned search. */
  phrases: PhraseIndex;
}

function wordnetHoldOut(synsets: readonly Synset[]): WordNetHoldOut {
  const splits = wordnetSplits(synsets);
  const train = new Set(splits.synsets.train);
  const heldLemmas = new Set([...splits.lemmas.dev, ...splits.lemmas.test]);
  const usable = (s: Synset) => train.has(s.key) && !s.words.some((w) => heldLemmas.has(lemmaKey(w)));
  const text = new Set<string>();
  const phrases = new PhraseIndex();
  for (const s of synsets) {
    if (usable(s)) continue;
    for (const t of [s.definition, ...s.examples]) {
      if (t === '') continue;
      text.add(t);
      phrases.add(t);
    }
  }
  return { usable, text, phrases };
}

function sotuDocs(): { train: PretrainDocument[]; heldOut: PretrainDocument[] } {
  const docs = loadSotuAddresses().map((a): PretrainDocument => ({ source: 'sotu', id: a.id, text: a.text }));
  const held = pickHeldOut(
    docs.map((d) => d.id),
    PRETRAIN_HELDOUT_SEED,
  );
  return { train: docs.filter((d) => !held.has(d.id)), heldOut: docs.filter((d) => held.has(d.id)) };
}

function mobyDocs(): { train: PretrainDocument[]; heldOut: PretrainDocument[] } {
  const docs = loadMobyDickParts().map((p): PretrainDocument => ({ source: 'moby-dick', id: p.id, text: p.text }));
  const held = pickHeldOut(
    docs.map((d) => d.id),
    PRETRAIN_HELDOUT_SEED + 1,
  );
  return { train: docs.filter((d) => !held.has(d.id)), heldOut: docs.filter((d) => held.has(d.id)) };
}

/**
 * Brown train documents, detokenized, without any sentence that also occurs in a dev/test document
 * or contains a held-out WordNet phrase.
 */
function brownDocs(phrases: PhraseIndex): PretrainDocument[] {
  const split = brownSplit();
  const docs = loadBrown();
  const heldSentences = new Set<string>();
  for (const d of docs) if (!split.train.has(d.id)) for (const s of d.sentences) heldSentences.add(s.text);
  const out: PretrainDocument[] = [];
  for (const d of docs) {
    if (!split.train.has(d.id)) continue;
    const sentences = d.sentences.filter((s) => !heldSentences.has(s.text) && phrases.find(s.text).length === 0);
    out.push({ source: 'brown', id: d.id, text: brownDocumentText({ ...d, sentences }) });
  }
  return out;
}

/** A synset as pretraining text: its definition, then one example per line. */
export function synsetText(s: Pick<Synset, 'definition' | 'examples'>): string {
  return [s.definition, ...s.examples].filter((t) => t !== '').join('\n');
}

/** WordNet train synsets (see the rules at the top of this file), in file order. */
function wordnetDocs(synsets: readonly Synset[], hold: WordNetHoldOut): PretrainDocument[] {
  const out: PretrainDocument[] = [];
  const keep = (t: string) => t !== '' && !hold.text.has(t) && hold.phrases.find(t).length === 0;
  for (const s of synsets) {
    if (!hold.usable(s)) continue;
    const text = synsetText({ definition: keep(s.definition) ? s.definition : '', examples: s.examples.filter(keep) });
    if (text !== '') out.push({ source: 'wordnet', id: s.key, text });
  }
  return out;
}

/** Drops the sentences of plain-text documents that hold a held-out WordNet phrase. */
function scrub(docs: PretrainDocument[], phrases: PhraseIndex): PretrainDocument[] {
  return docs.map((d) => {
    const spans = phrases.find(d.text);
    return spans.length === 0 ? d : { ...d, text: dropSentences(d.text, spans) };
  });
}

/**
 * The built-in pretraining documents: Brown train files, State of the Union addresses, Moby-Dick
 * chapters, WordNet train synsets, with every downstream dev/test unit and the pretrainHeldOut()
 * slice left out. `includeHeldOut` exists only to say so at call sites: it can only be false.
 */
export function* builtinPretrainDocuments(opts: { includeHeldOut?: false } = {}): Iterable<PretrainDocument> {
  if ((opts.includeHeldOut as unknown) === true) throw new RangeError('builtinPretrainDocuments: held-out documents are never included');
  const synsets = loadWordNet();
  const hold = wordnetHoldOut(synsets);
  yield* brownDocs(hold.phrases);
  yield* scrub(sotuDocs().train, hold.phrases);
  yield* scrub(mobyDocs().train, hold.phrases);
  yield* wordnetDocs(synsets, hold);
}

/** The fixed held-out slice for pretraining loss: 5 SOTU addresses and 3 Moby-Dick parts. */
export function pretrainHeldOut(): PretrainDocument[] {
  return [...sotuDocs().heldOut, ...mobyDocs().heldOut];
}

/** Whitespace-separated words in a text. */
export function countWords(text: string): number {
  let n = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const space = c === 32 || c === 10 || c === 9 || c === 13 || c === 12 || c === 11 || c === 0xa0;
    if (!space && !inWord) n++;
    inWord = !space;
  }
  return n;
}

/** Documents and words per source. */
export function corpusStats(docs: Iterable<PretrainDocument>): Map<string, { documents: number; words: number }> {
  const out = new Map<string, { documents: number; words: number }>();
  for (const d of docs) {
    const s = out.get(d.source) ?? { documents: 0, words: 0 };
    s.documents++;
    s.words += countWords(d.text);
    out.set(d.source, s);
  }
  return out;
}
