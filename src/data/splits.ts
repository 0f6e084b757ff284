// The fixed downstream splits (train / dev / test = 80 / 10 / 10) of the Brown and WordNet tasks.
//
// They are a function of the pinned data packages and SPLIT_SEED only: each universe of units is
// sorted by its key first, then shuffled with Rng(SPLIT_SEED), so neither file-system order nor
// Map/Set insertion order can change a split. Numbers are comparable run to run and machine to
// machine. Changing SPLIT_SEED (or a rule below) changes every reported number: don't.
//
// Why these units:
//  - Brown by DOCUMENT, stratified by category: sentences of one document share topic, names and
//    wording, so a sentence-level split would let `genre` and `pos` score on near-copies of
//    training sentences. Stratifying guarantees every one of the 15 genres has dev and test
//    documents (science_fiction has only 6 documents, humor 9).
//  - WordNet by SYNSET (`sense`): a synset's gloss and examples are one unit of text; splitting
//    them would put a test gloss's own examples in training.
//  - `wic` by LEMMA: a pair asks whether two usages of one lemma share a sense; if a lemma had
//    pairs on both sides, the model could memorise that lemma's sense inventory from training
//    pairs. The lemma universe is every lemma (lower-cased) in at least two synsets that have
//    example sentences: only those can form different-sense pairs. Lemmas outside it are not
//    `wic` lemmas and are unrestricted.
// The pretraining corpus leaves out every dev and test unit of all three (pretrain_corpus.ts).

import { Rng } from '../engine/index.js';
import { brownCategories } from './corpus/brown.js';
import { lemmaKey, loadWordNet, type Synset } from './corpus/wordnet.js';

export const SPLIT_SEED = 1234;
export const DEV_FRACTION = 0.1;
export const TEST_FRACTION = 0.1;

export interface Split {
  train: Set<string>;
  dev: Set<string>;
  test: Set<string>;
}

export interface FrozenSplit {
  train: readonly string[];
  dev: readonly string[];
  test: readonly string[];
}

const thaw = (s: FrozenSplit): Split => ({ train: new Set(s.train), dev: new Set(s.dev), test: new Set(s.test) });

/** Sorts (code-unit order), shuffles with `rng`, cuts test, then dev, off the front. */
function cut(keys: Iterable<string>, rng: Rng, minEach = 0): FrozenSplit {
  const sorted = [...new Set(keys)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  rng.shuffle(sorted);
  const nTest = Math.max(minEach, Math.round(sorted.length * TEST_FRACTION));
  const nDev = Math.max(minEach, Math.round(sorted.length * DEV_FRACTION));
  return { test: sorted.slice(0, nTest), dev: sorted.slice(nTest, nTest + nDev), train: sorted.slice(nTest + nDev) };
}

let brownMemo: FrozenSplit | null = null;
let wordnetMemo: FrozenSplit | null = null;
let wicMemo: FrozenSplit | null = null;

/**
 * Brown document ids ("ca01") -> train / dev / test, 80/10/10 within each category (at least one
 * dev and one test document per category). 396 / 52 / 52 documents.
 */
export function brownSplit(): Split {
  if (!brownMemo) {
    const byCat = new Map<string, string[]>();
    for (const [id, cat] of brownCategories()) {
      if (!byCat.has(cat)) byCat.set(cat, []);
      byCat.get(cat)!.push(id);
    }
    const rng = new Rng(SPLIT_SEED);
    const train: string[] = [];
    const dev: string[] = [];
    const test: string[] = [];
    for (const cat of [...byCat.keys()].sort()) {
      const s = cut(byCat.get(cat)!, rng, 1);
      train.push(...s.train);
      dev.push(...s.dev);
      test.push(...s.test);
    }
    brownMemo = { train, dev, test };
  }
  return thaw(brownMemo);
}

/** WordNet synset keys (`${pos}:${offset}`, e.g. "n:00001740") -> train / dev / test, 80/10/10. */
export function wordnetSplit(): Split {
  return thaw(wordnetSplits().synsets);
}

/** The `wic` lemma universe: lemmas (lemmaKey) of at least two synsets that have example sentences. */
export function wicLemmas(synsets: readonly Synset[] = loadWordNet()): string[] {
  const count = new Map<string, number>();
  for (const s of synsets) {
    if (s.examples.length === 0) continue;
    for (const w of new Set(s.words.map(lemmaKey))) count.set(w, (count.get(w) ?? 0) + 1);
  }
  return [...count].filter(([, n]) => n >= 2).map(([w]) => w);
}

/** `wic` lemmas (lower case, spaces: "bank", "take off") -> train / dev / test, 80/10/10. */
export function wicLemmaSplit(): Split {
  return thaw(wordnetSplits().lemmas);
}

/**
 * Both WordNet splits from one parse of the data files (each with its own Rng(SPLIT_SEED)).
 * `parsed` lets a caller that already holds loadWordNet()'s result skip a second parse; it must be
 * exactly that result (the pinned package), since the splits are computed once per process.
 */
export function wordnetSplits(parsed?: readonly Synset[]): { synsets: FrozenSplit; lemmas: FrozenSplit } {
  if (!wordnetMemo || !wicMemo) {
    const synsets = parsed ?? loadWordNet();
    wordnetMemo = cut(
      synsets.map((s) => s.key),
      new Rng(SPLIT_SEED),
    );
    wicMemo = cut(wicLemmas(synsets), new Rng(SPLIT_SEED));
  }
  return { synsets: wordnetMemo, lemmas: wicMemo };
}
