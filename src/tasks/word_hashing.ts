// Words and their hashed n-grams: what a head's n-gram bag (nn/ngram_bag.ts) and Naive Bayes prior
// (naive_bayes_prior.ts) read, and what the baselines count. This file imports nothing, so the
// same code runs in a web page beside an exported graph (export/lexical_inputs.ts,
// examples/browser/): a page must hash words exactly as training did.

const WORD = /[\p{L}\p{N}]+/gu;

/** Lower-cased words: runs of letters and digits. */
export function bagOfWords(text: string): string[] {
  return text.toLowerCase().match(WORD) ?? [];
}

/** N-grams hashed per example: a 3000-word mail is summarised by its first n-grams. */
export const MAX_NGRAMS = 1024;

/** A pair's second text is hashed apart from its first, so "good" in either is two features. */
const PAIR_SALT = 0x9e3779b9;

/** FNV-1a (32 bits) over the string's UTF-16 code units, after `salt`. */
function fnv1a(s: string, salt: number): number {
  let h = (0x811c9dc5 ^ salt) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function addGrams(out: number[], text: string, buckets: number, ngrams: number, salt: number): void {
  const words = bagOfWords(text);
  for (let n = 1; n <= ngrams; n++) {
    for (let i = 0; i + n <= words.length && out.length < MAX_NGRAMS; i++) {
      out.push(fnv1a(n === 1 ? words[i] : words.slice(i, i + n).join(' '), salt) % buckets);
    }
  }
}

/** A text's word n-grams (1 to `ngrams` words) as bucket ids, then its pair's (salted), at most MAX_NGRAMS. */
export function hashedGrams(text: string, textPair: string | undefined, buckets: number, ngrams: number): Int32Array {
  const out: number[] = [];
  addGrams(out, text, buckets, ngrams, 0);
  if (textPair !== undefined) addGrams(out, textPair, buckets, ngrams, PAIR_SALT);
  return Int32Array.from(out);
}

/** The first index of ascending `a` whose value is >= x: where a hashed bucket is looked up among counted ones. */
export function lowerBound(a: ArrayLike<number>, x: number): number {
  let [lo, hi] = [0, a.length];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
