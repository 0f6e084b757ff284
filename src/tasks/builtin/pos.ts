// `pos`: Brown corpus part-of-speech tagging with the 12 universal tags (UNIVERSAL_TAGS order;
// mapping in src/data/corpus/brown.ts). text = the Brown tokens as written joined by single spaces
// (no token contains whitespace, so exampleWords' whitespace split gives back the tokens), tags =
// their universal tags. Split by document with brownSplit(), like `genre`: 57,340 sentences,
// 1,161,192 tokens.
//
// The examples do not keep a `words` array: it would hold the corpus's 1.16M word strings alive,
// and V8's full collections, which every ~64 MB of tensor allocation triggers, mark every live
// object, so every string kept alive slows training down.

import { UNIVERSAL_TAGS, loadBrown, type BrownDocument } from '../../data/corpus/brown.js';
import type { Example, TaskData } from '../task.js';
import { brownDocumentsBySplit } from './genre.js';

export function loadPosTask(): TaskData {
  const parts = brownDocumentsBySplit(loadBrown());
  const examples = (docs: BrownDocument[]) => docs.flatMap((d) => d.sentences.map((s): Example => ({ text: s.words.join(' '), tags: s.universal.slice() })));
  return { name: 'pos', type: 'tagging', labels: [...UNIVERSAL_TAGS], train: examples(parts.train), dev: examples(parts.dev), test: examples(parts.test) };
}
