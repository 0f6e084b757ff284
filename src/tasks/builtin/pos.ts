// `pos`: Brown corpus part-of-speech tagging with the 12 universal tags (UNIVERSAL_TAGS order;
// mapping in src/data/corpus/brown.ts). words = the Brown tokens as written (no token contains
// whitespace), tags = their universal tags, text = the words joined by single spaces (so a
// whitespace split gives back `words`; the detokenized sentence is what pretraining saw). Split by
// document with brownSplit(), like `genre`: 57,340 sentences, 1,161,192 tokens.

import { UNIVERSAL_TAGS, loadBrown, type BrownDocument } from '../../data/corpus/brown.js';
import type { Example, TaskData } from '../task.js';
import { brownDocumentsBySplit } from './genre.js';

export function loadPosTask(): TaskData {
  const parts = brownDocumentsBySplit(loadBrown());
  const examples = (docs: BrownDocument[]) =>
    docs.flatMap((d) => d.sentences.map((s): Example => ({ text: s.words.join(' '), words: s.words, tags: s.universal.slice() })));
  return { name: 'pos', type: 'tagging', labels: [...UNIVERSAL_TAGS], train: examples(parts.train), dev: examples(parts.dev), test: examples(parts.test) };
}
