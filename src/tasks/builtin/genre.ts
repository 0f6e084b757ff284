// `genre`: a Brown corpus sentence -> its document's category (15 genres, BROWN_CATEGORIES order).
// Text is the detokenized sentence (BrownSentence.text, as in the pretraining corpus). Split by
// DOCUMENT with brownSplit() (396 / 52 / 52 documents, stratified by genre), so every sentence of a
// dev/test document is held out of both training and pretraining. All 57,340 sentences are used;
// sentences are kept in document, then file, order.

import { BROWN_CATEGORIES, loadBrown, type BrownDocument } from '../../data/corpus/brown.js';
import { brownSplit } from '../../data/splits.js';
import type { Example, TaskData } from '../task.js';

/** Brown documents by split (brownSplit()), each in id order. */
export function brownDocumentsBySplit(docs: readonly BrownDocument[] = loadBrown()): { train: BrownDocument[]; dev: BrownDocument[]; test: BrownDocument[] } {
  const split = brownSplit();
  const out = { train: [] as BrownDocument[], dev: [] as BrownDocument[], test: [] as BrownDocument[] };
  for (const d of docs) {
    if (split.train.has(d.id)) out.train.push(d);
    else if (split.dev.has(d.id)) out.dev.push(d);
    else if (split.test.has(d.id)) out.test.push(d);
    else throw new Error(`Brown document ${d.id} is in no split`);
  }
  return out;
}

export function loadGenreTask(): TaskData {
  const parts = brownDocumentsBySplit();
  const examples = (docs: BrownDocument[]) => docs.flatMap((d) => d.sentences.map((s): Example => ({ text: s.text, label: d.category })));
  return {
    name: 'genre',
    type: 'classification',
    labels: [...BROWN_CATEGORIES],
    train: examples(parts.train),
    dev: examples(parts.dev),
    test: examples(parts.test),
  };
}
