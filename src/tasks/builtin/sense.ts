// `sense`: a WordNet 3.1 synset's gloss -> its lexicographer file (supersense), 45-way, labels in
// LEXNAMES order (lex_filenum 0-44). Every one of the 117,791 synsets is one example.
//
// Text: `${lemmas}: ${definition}` - the synset's lemmas joined by ", " (in synset order, as
// WordNet writes them, underscores as spaces), then the definition, e.g.
//   "dog, domestic dog, Canis familiaris: a member of the genus Canis ...".
// Why the lemmas: a definition alone is often ambiguous between parts of speech ("the act of ..."
// is noun.act, but "(of light) ..." could be adj or verb), and a dictionary entry is the headword
// plus its definition; the lemmas also give the morphology (-ness, -ly, -ize) a real model uses.
// The examples are NOT included (they are the `wic` task's material). Pass `withLemmas: false` to
// get the definition alone (the baseline is measured both ways in the test).
//
// Split by synset with wordnetSplit() (80/10/10); the pretraining corpus holds only train synsets
// (and drops any train definition that is word-for-word a dev/test definition).

import { LEXNAMES, loadWordNet, type Synset } from '../../data/corpus/wordnet.js';
import { wordnetSplits } from '../../data/splits.js';
import type { Example, TaskData } from '../task.js';

function senseText(s: Pick<Synset, 'words' | 'definition'>, withLemmas = true): string {
  return withLemmas ? `${s.words.join(', ')}: ${s.definition}` : s.definition;
}

export function loadSenseTask(opts: { withLemmas?: boolean } = {}): TaskData {
  const synsets = loadWordNet();
  const split = wordnetSplits(synsets).synsets;
  const dev = new Set(split.dev);
  const test = new Set(split.test);
  const out = { train: [] as Example[], dev: [] as Example[], test: [] as Example[] };
  for (const s of synsets) {
    const ex: Example = { text: senseText(s, opts.withLemmas ?? true), label: s.lexName };
    (test.has(s.key) ? out.test : dev.has(s.key) ? out.dev : out.train).push(ex);
  }
  return { name: 'sense', type: 'classification', labels: [...LEXNAMES], ...out };
}
