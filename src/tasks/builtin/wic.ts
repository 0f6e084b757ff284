// `wic`: word in context from WordNet 3.1 example sentences. A pair is two example sentences that
// both use one lemma; the label says whether they use it in the same sense (both examples belong
// to one synset of the lemma) or in different senses (examples of two different synsets of it).
//
// Lemmas: the `wic` lemma universe of splits.ts (lower-cased lemmas of at least two synsets that
// have examples), split by wicLemmaSplit(): every pair of a lemma lies in that lemma's split, and
// the pretraining corpus leaves out every synset of a dev/test lemma.
//
// An example "uses" a lemma when it contains it as whole words, case-insensitively: both are cut
// into runs of letters and digits, and the lemma's runs must occur consecutively, separated as in
// the lemma (where the lemma has a space or a hyphen, any run of spaces and hyphens will do;
// "o'clock" needs its apostrophe), the last word possibly inflected by simple regular rules chosen
// by the synset's part of speech (only when the lemma ends in a plain word):
//   noun:       -s, -es, consonant+y -> -ies
//   verb:       -s, -es, -ed, -ing; final e -> -d / -ing without the e; consonant+y -> -ies / -ied;
//               ie -> -ying; a doubled final consonant before -ed / -ing (stop -> stopped);
//               plus the forms of a short list of common irregular verbs (IRREGULAR_VERBS: take ->
//               took, taken; ...), since many of the most polysemous lemmas are irregular verbs.
//   adjective / adverb: -er, -est (final e -> -r / -st; consonant+y -> -ier / -iest; doubled
//               consonant: big -> bigger).
// Examples that do not use the lemma (the gloss shows another synonym of the synset) are skipped.
//
// Pairs of a lemma: SAME - every two distinct examples of one synset that both use it; DIFFERENT -
// every example of one synset with every example of another (both using it). Two sentences with
// the same text (ignoring case) never form a pair. WordNet has far fewer SAME candidates (a synset
// seldom has two examples with the lemma) than DIFFERENT ones, so each split keeps ALL its SAME
// pairs and exactly as many DIFFERENT pairs, drawn with a fixed seed round-robin over the split's
// lemmas (lemmas shuffled once; each lemma's candidates shuffled; one pair per lemma per round), so
// different-sense pairs are spread over as many lemmas as possible rather than dominated by the
// few lemmas with hundreds of candidates. Each split is balanced exactly.
//
// Example fields: text = `${lemma}: ${sentence 1}` (the target lemma, a colon and a space, then the
// first sentence), textPair = sentence 2 (unmarked), label 'same' | 'different'. Within a pair the
// sentence order is random (fixed seed); the pairs of a split are shuffled (fixed seed).
// wicPairs() gives the same pairs with their lemma, synsets and sentences kept apart.
//
// Sizes: 9,786 same-sense pairs exist under these rules, so 19,572 pairs in all (train / dev / test
// 15,146 / 2,350 / 2,076) from 6,993 lemmas (5,624 / 674 / 695); data-sources.md's "~24k pairs from
// 6,816 lemmas" was an estimate. Loading takes about a second (one WordNet parse).

import { Rng } from '../../engine/index.js';
import { loadWordNet, lemmaKey, type Synset, type WordNetPos } from '../../data/corpus/wordnet.js';
import { SPLIT_SEED, wordnetSplits } from '../../data/splits.js';
import type { Example, TaskData } from '../task.js';

const WIC_LABELS = ['different', 'same'];

/** Common irregular verbs: base -> past / participle / other forms. */
const IRREGULAR_VERBS: Record<string, string[]> = {
  be: ['am', 'is', 'are', 'was', 'were', 'been', 'being'],
  have: ['has', 'had', 'having'],
  do: ['does', 'did', 'done', 'doing'],
  go: ['goes', 'went', 'gone'],
  take: ['took', 'taken'],
  make: ['made'],
  get: ['got', 'gotten'],
  give: ['gave', 'given'],
  come: ['came'],
  see: ['saw', 'seen'],
  know: ['knew', 'known'],
  think: ['thought'],
  say: ['said'],
  tell: ['told'],
  find: ['found'],
  hold: ['held'],
  keep: ['kept'],
  bring: ['brought'],
  buy: ['bought'],
  catch: ['caught'],
  teach: ['taught'],
  fight: ['fought'],
  seek: ['sought'],
  leave: ['left'],
  feel: ['felt'],
  meet: ['met'],
  lead: ['led'],
  lose: ['lost'],
  send: ['sent'],
  spend: ['spent'],
  build: ['built'],
  lend: ['lent'],
  bend: ['bent'],
  stand: ['stood'],
  understand: ['understood'],
  sit: ['sat'],
  win: ['won'],
  run: ['ran'],
  begin: ['began', 'begun'],
  drink: ['drank', 'drunk'],
  sing: ['sang', 'sung'],
  ring: ['rang', 'rung'],
  swim: ['swam', 'swum'],
  sink: ['sank', 'sunk'],
  spring: ['sprang', 'sprung'],
  break: ['broke', 'broken'],
  speak: ['spoke', 'spoken'],
  choose: ['chose', 'chosen'],
  freeze: ['froze', 'frozen'],
  steal: ['stole', 'stolen'],
  wake: ['woke', 'woken'],
  drive: ['drove', 'driven'],
  ride: ['rode', 'ridden'],
  rise: ['rose', 'risen'],
  write: ['wrote', 'written'],
  strike: ['struck', 'stricken'],
  eat: ['ate', 'eaten'],
  fall: ['fell', 'fallen'],
  beat: ['beaten'],
  forget: ['forgot', 'forgotten'],
  hide: ['hid', 'hidden'],
  bite: ['bit', 'bitten'],
  shake: ['shook', 'shaken'],
  draw: ['drew', 'drawn'],
  grow: ['grew', 'grown'],
  throw: ['threw', 'thrown'],
  blow: ['blew', 'blown'],
  fly: ['flew', 'flown', 'flies'],
  show: ['shown'],
  wear: ['wore', 'worn'],
  tear: ['tore', 'torn'],
  bear: ['bore', 'borne', 'born'],
  swear: ['swore', 'sworn'],
  lie: ['lay', 'lain', 'lying'],
  lay: ['laid'],
  pay: ['paid'],
  sell: ['sold'],
  hear: ['heard'],
  mean: ['meant'],
  deal: ['dealt'],
  feed: ['fed'],
  read: [],
  shoot: ['shot'],
  stick: ['stuck'],
  hang: ['hung'],
  swing: ['swung'],
  dig: ['dug'],
  light: ['lit'],
  slide: ['slid'],
  shine: ['shone'],
  sleep: ['slept'],
  sweep: ['swept'],
  creep: ['crept'],
  weep: ['wept'],
  grind: ['ground'],
  wind: ['wound'],
  bind: ['bound'],
  tread: ['trod', 'trodden'],
  weave: ['wove', 'woven'],
  shrink: ['shrank', 'shrunk'],
  stink: ['stank', 'stunk'],
  split: [],
  put: [],
  set: [],
  cut: [],
  let: [],
  hit: [],
  shut: [],
  cast: [],
  cost: [],
  hurt: [],
  spread: [],
  burst: [],
  quit: [],
};

const VOWEL = /[aeiou]/;

/** Regular and listed irregular forms of one (lower-case) word for a part of speech. */
export function inflections(word: string, pos: WordNetPos): string[] {
  const w = word;
  const forms = new Set<string>([w]);
  if (!/^[a-z]+$/.test(w)) return [...forms];
  const last = w[w.length - 1];
  const prev = w.length >= 2 ? w[w.length - 2] : '';
  const consY = last === 'y' && prev !== '' && !VOWEL.test(prev);
  // consonant-vowel-consonant ending of a short word (stop, big), not w/x/y
  const cvc = w.length >= 3 && !VOWEL.test(last) && !/[wxy]/.test(last) && VOWEL.test(prev) && !VOWEL.test(w[w.length - 3]);
  if (pos === 'n') {
    forms.add(w + 's').add(w + 'es');
    if (consY) forms.add(w.slice(0, -1) + 'ies');
  } else if (pos === 'v') {
    forms
      .add(w + 's')
      .add(w + 'es')
      .add(w + 'ed')
      .add(w + 'ing');
    if (last === 'e') forms.add(w + 'd').add(w.slice(0, -1) + 'ing');
    if (consY) forms.add(w.slice(0, -1) + 'ies').add(w.slice(0, -1) + 'ied');
    if (w.endsWith('ie')) forms.add(w.slice(0, -2) + 'ying');
    if (cvc) forms.add(w + last + 'ed').add(w + last + 'ing');
    for (const f of IRREGULAR_VERBS[w] ?? []) forms.add(f);
  } else {
    forms.add(w + 'er').add(w + 'est');
    if (last === 'e') forms.add(w + 'r').add(w + 'st');
    if (consY) forms.add(w.slice(0, -1) + 'ier').add(w.slice(0, -1) + 'iest');
    if (cvc) forms.add(w + last + 'er').add(w + last + 'est');
  }
  return [...forms];
}

interface Tokens {
  /** Lower-cased runs of letters and digits. */
  words: string[];
  /** seps[i]: the text between words[i] and words[i + 1]. */
  seps: string[];
}

const WORD_RUN = /[\p{L}\p{N}]+/gu;

function tokenize(text: string): Tokens {
  const words: string[] = [];
  const seps: string[] = [];
  let prevEnd = -1;
  for (const m of text.matchAll(WORD_RUN)) {
    if (prevEnd >= 0) seps.push(text.slice(prevEnd, m.index));
    words.push(m[0].toLowerCase());
    prevEnd = m.index! + m[0].length;
  }
  return { words, seps };
}

/** Separators between lemma parts: any run of spaces and hyphens is one kind; others must be equal. */
const sepKind = (s: string) => (/^[ -]+$/.test(s) ? ' ' : s);

/** A compiled lemma: its words, separators and the accepted forms of its last word. */
interface LemmaPattern {
  words: string[];
  seps: string[];
  lastForms: Set<string>;
}

function lemmaPattern(lemma: string, pos: WordNetPos): LemmaPattern {
  const key = lemmaKey(lemma);
  const t = tokenize(key);
  if (t.words.length === 0) throw new Error(`wic: lemma ${JSON.stringify(lemma)} has no letters or digits`);
  const last = t.words[t.words.length - 1];
  // inflect only a lemma that ends in a plain word (not "o'clock", "a.m.")
  const tail = key.split(/[ -]+/).pop()!;
  const forms = tail === last ? inflections(last, pos) : [last];
  return { words: t.words, seps: t.seps.map(sepKind), lastForms: new Set(forms) };
}

/** Whether `t` contains the lemma as whole words (see the rules at the top). */
function matchesLemma(t: Tokens, p: LemmaPattern): boolean {
  const m = p.words.length;
  outer: for (let i = 0; i + m <= t.words.length; i++) {
    for (let k = 0; k < m - 1; k++) {
      if (t.words[i + k] !== p.words[k] || sepKind(t.seps[i + k]) !== p.seps[k]) continue outer;
    }
    if (p.lastForms.has(t.words[i + m - 1])) return true;
  }
  return false;
}

/** Whether `sentence` uses `lemma` (as a word of a synset of part of speech `pos`). */
export function usesLemma(sentence: string, lemma: string, pos: WordNetPos): boolean {
  return matchesLemma(tokenize(sentence), lemmaPattern(lemma, pos));
}

export interface WicPair {
  lemma: string;
  split: 'train' | 'dev' | 'test';
  label: 'same' | 'different';
  sentence1: string;
  sentence2: string;
  /** Synset keys of sentence 1 and 2 (equal for 'same'). */
  synset1: string;
  synset2: string;
}

interface Use {
  synset: string;
  sentence: string;
}

/** A lemma's uses grouped by synset (synsets in file order, examples in gloss order). */
function usesOf(lemma: string, synsets: readonly Synset[], tokens: (sentence: string) => Tokens): Use[][] {
  const groups: Use[][] = [];
  const patterns = new Map<WordNetPos, LemmaPattern>();
  for (const s of synsets) {
    let p = patterns.get(s.pos);
    if (!p) patterns.set(s.pos, (p = lemmaPattern(lemma, s.pos)));
    const pat = p;
    const uses = s.examples.filter((e) => matchesLemma(tokens(e), pat)).map((sentence) => ({ synset: s.key, sentence }));
    if (uses.length > 0) groups.push(uses);
  }
  return groups;
}

const norm = (s: string) => s.toLowerCase();

/** All `wic` pairs, split by split, in the order the task uses. Deterministic; nothing is cached. */
export function wicPairs(): WicPair[] {
  const synsets = loadWordNet();
  const lemmaSplit = wordnetSplits(synsets).lemmas;
  const byLemma = new Map<string, Synset[]>();
  for (const s of synsets) {
    if (s.examples.length === 0) continue;
    for (const w of new Set(s.words.map(lemmaKey))) {
      const list = byLemma.get(w);
      if (list) list.push(s);
      else byLemma.set(w, [s]);
    }
  }
  const tokenCache = new Map<string, Tokens>();
  const tokens = (sentence: string): Tokens => {
    let t = tokenCache.get(sentence);
    if (!t) tokenCache.set(sentence, (t = tokenize(sentence)));
    return t;
  };
  const out: WicPair[] = [];
  const parts: ['train' | 'dev' | 'test', readonly string[]][] = [
    ['train', lemmaSplit.train],
    ['dev', lemmaSplit.dev],
    ['test', lemmaSplit.test],
  ];
  for (const [split, lemmas] of parts) {
    const rng = new Rng(SPLIT_SEED + (split === 'train' ? 11 : split === 'dev' ? 12 : 13));
    const same: WicPair[] = [];
    const diffByLemma: WicPair[][] = [];
    for (const lemma of [...lemmas].sort()) {
      const groups = usesOf(lemma, byLemma.get(lemma) ?? [], tokens);
      const diff: WicPair[] = [];
      const mk = (a: Use, b: Use, label: 'same' | 'different'): WicPair | null =>
        norm(a.sentence) === norm(b.sentence)
          ? null
          : { lemma, split, label, sentence1: a.sentence, sentence2: b.sentence, synset1: a.synset, synset2: b.synset };
      for (let g = 0; g < groups.length; g++) {
        const G = groups[g];
        for (let i = 0; i < G.length; i++) {
          for (let j = i + 1; j < G.length; j++) {
            const p = mk(G[i], G[j], 'same');
            if (p) same.push(p);
          }
          for (let h = g + 1; h < groups.length; h++) {
            for (const u of groups[h]) {
              const p = mk(G[i], u, 'different');
              if (p) diff.push(p);
            }
          }
        }
      }
      if (diff.length > 0) diffByLemma.push(rng.shuffle(diff) as WicPair[]);
    }
    rng.shuffle(diffByLemma);
    const chosen: WicPair[] = [];
    for (let round = 0; chosen.length < same.length; round++) {
      let took = false;
      for (const list of diffByLemma) {
        if (round < list.length) {
          chosen.push(list[round]);
          took = true;
          if (chosen.length === same.length) break;
        }
      }
      if (!took) throw new Error(`wic: only ${chosen.length} different-sense pairs for ${same.length} same-sense pairs in ${split}`);
    }
    const all = [...same, ...chosen];
    for (const p of all) {
      if (rng.uniform() < 0.5) {
        [p.sentence1, p.sentence2] = [p.sentence2, p.sentence1];
        [p.synset1, p.synset2] = [p.synset2, p.synset1];
      }
    }
    rng.shuffle(all);
    out.push(...all);
  }
  return out;
}

export function loadWicTask(): TaskData {
  const out = { train: [] as Example[], dev: [] as Example[], test: [] as Example[] };
  for (const p of wicPairs()) out[p.split].push({ text: `${p.lemma}: ${p.sentence1}`, textPair: p.sentence2, label: p.label });
  return { name: 'wic', type: 'pair_classification', labels: [...WIC_LABELS], ...out };
}
