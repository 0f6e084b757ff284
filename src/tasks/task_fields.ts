// The field names a task file may use for each part of an example: ours, and the ones Hugging Face
// `datasets` rows carry (GLUE's sentence1 / sentence2, CoNLL's tokens / ner_tags), so users can
// bring such files as they are. Each part has one name per row; two names for the same part in
// one row are an error rather than a silent pick, since the row may mean either.

import type { TaskType } from './task.js';

/** The text (first segment). */
export const TEXT_FIELDS = ['text', 'sentence1'] as const;
/** The second segment, by the name of the first: each naming convention keeps to itself. */
export const PAIR_FIELD: Readonly<Record<(typeof TEXT_FIELDS)[number], string>> = { text: 'text_pair', sentence1: 'sentence2' };
/** Pre-split words (tagging). */
export const WORDS_FIELDS = ['tokens', 'words'] as const;
/** One tag per word (tagging). */
export const TAG_FIELDS = ['tags', 'ner_tags'] as const;

/** The field names one row (or a CSV header) uses; absent parts are undefined. */
export interface ChosenFields {
  text?: (typeof TEXT_FIELDS)[number];
  words?: (typeof WORDS_FIELDS)[number];
  pair?: string;
  tags?: (typeof TAG_FIELDS)[number];
}

const quoted = (names: readonly string[]) => names.map((n) => JSON.stringify(n)).join(' or ');
const PAIRS_HINT = `a pair is ${Object.entries(PAIR_FIELD)
  .map(([a, b]) => `"${a}" + "${b}"`)
  .join(', or ')}`;

/**
 * Which field names a row uses for its text, words, pair and tags, given which names it has.
 * `fail` gets a message naming the missing or clashing field and the accepted names, and must
 * throw; `csv` words it for a header row (columns) and says how CSV spells arrays. Without
 * `targets` (inputs to predict) neither tags nor a label are required.
 */
export function chooseFields(has: (name: string) => boolean, type: TaskType, fail: (what: string) => never, csv = false, targets = true): ChosenFields {
  const absent = (name: string) => (csv ? `the header row has no "${name}" column` : `missing field "${name}"`);
  const one = <N extends string>(names: readonly N[]): N | undefined => {
    const given = names.filter(has);
    if (given.length > 1) fail(`both ${given.map((n) => JSON.stringify(n)).join(' and ')} are given (two names for the same field; keep one)`);
    return given[0];
  };
  const out: ChosenFields = { text: one(TEXT_FIELDS) };
  if (type === 'tagging') {
    out.words = one(WORDS_FIELDS);
    if (!out.text && !out.words) {
      const arrays = csv ? 'words separated by spaces' : 'an array of strings';
      fail(`${absent(WORDS_FIELDS[0])} (give the words as ${quoted(WORDS_FIELDS)}, ${arrays}, or the text as ${quoted(TEXT_FIELDS)}, split on whitespace)`);
    }
    out.tags = one(TAG_FIELDS);
    if (!out.tags && targets) fail(`${absent(TAG_FIELDS[0])} (give the tags as ${quoted(TAG_FIELDS)}${csv ? ', separated by spaces' : ''})`);
    return out;
  }
  if (!out.text) fail(`${absent(TEXT_FIELDS[0])} (give the text as ${quoted(TEXT_FIELDS)})`);
  if (type === 'pair_classification' || type === 'regression') {
    const partner = PAIR_FIELD[out.text!];
    const foreign = Object.values(PAIR_FIELD).find((p) => p !== partner && has(p));
    if (foreign) fail(`field "${foreign}" does not go with "${out.text}" (${PAIRS_HINT})`);
    if (has(partner)) out.pair = partner;
    else if (type === 'pair_classification') fail(`${absent(partner)} (${PAIRS_HINT})`);
  }
  if (targets && !has('label'))
    fail(`${absent('label')} (${type === 'regression' ? 'a number' : `a string, or an integer index into the task config's "labels"`})`);
  return out;
}
