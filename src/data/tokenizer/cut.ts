// Cutting long texts before they are tokenized, so that memory follows the model's maximum length
// (or a fixed piece size), not the length of the input.
//
// Encoding a text with the `tokenizers` binding costs about 175 bytes of memory per character
// (offsets, alignments and token strings for every byte), and a truncated encoding is made in full
// first: one 50 MB line took a process to several GB. Two ways out, both built on one rule:
//  - texts encoded with a maxLength are cut first: `cutEnd` below, used by Tokenizer.encodeBatch;
//  - texts whose every id is used (pretraining) are encoded in pieces: `pieceEnds` below, used by
//    Tokenizer.encodeWhole.
//
// THE RULE. A cut at character index c (a UTF-16 index into the JS string) is a *boundary* when
// text[c] is a space (U+0020) and text[c - 1] is a letter, number, punctuation mark or symbol
// (Unicode L, N, P or S, in the BMP): never whitespace, a control or format character, a
// combining mark or half of a surrogate pair. For a tokenizer whose pipeline is in the list below
// ("proven"), encoding text[0, c) gives exactly the first ids of encoding the whole text, and
// encoding text[c, d) (d the next boundary, or the end) gives exactly the ids that the whole text
// has for those characters. So:
//   encode(text) = encode(text[0, c1)) ++ encode(text[c1, c2)) ++ ... ++ encode(text[ck, end)).
//
// Why. A tokenizer.json pipeline is: added tokens split out, normalizer, pre-tokenizer, model.
//  - Every model (BPE, WordPiece, WordLevel, Unigram) encodes each pre-token on its own, so the
//    ids follow from the pre-tokens; it is enough that the pieces' pre-tokens are the whole text's.
//  - Normalizers in the list act on single characters (Lowercase, StripAccents, BertNormalizer's
//    cleaning, accent stripping, lowercasing and spacing of CJK characters) or on sequences of
//    combining characters after a starter (NFC, NFD, NFKC, NFKD). A space is a starter that composes
//    with nothing and has no decomposition, so normalizing text[0, c) and text[c, end) apart gives
//    the normalized whole text, split at the same place. No L, N, P or S character normalizes to
//    a string that ends in whitespace (checked over all of Unicode for NF*, and lowercasing), so
//    the normalized first piece still ends with a non-space next to the space.
//  - Byte-level pre-tokenizers (ByteLevel with its GPT-2 regex, or a Split with the GPT-2 or
//    Llama 3 regex followed by a ByteLevel without one): each alternative of these patterns holds
//    a space only at its start (" ?\p{L}+") or only whitespace ("\s+(?!\S)"), so no match holds
//    both a non-space at c - 1 and the space at c: every match ends at or before c or starts at or
//    after it. Matching is leftmost-first and looks at most one character past a match ("\p{L}+"
//    stops at a non-letter, "(?!\S)" looks one ahead); at c that character is a space in the whole
//    text and the end of input in the piece, and every alternative that reaches c treats the two
//    alike (it needs a letter, digit, other non-space or newline there, or a non-\S, which both
//    are). The patterns have no look-behind or anchors, so matching from c in the whole text is
//    matching from 0 in text[c, end). Whitespace is kept (it becomes "Ġ" bytes), so the
//    normalizers allowed here are only those that keep a non-space last.
//  - Whitespace-splitting pre-tokenizers (BertPreTokenizer, Whitespace, WhitespaceSplit, with
//    Punctuation or Digits) split at every whitespace character and drop it, and split punctuation
//    and digits character by character: the space at c separates pre-tokens, whatever precedes it.
//  - Added tokens that the text may contain (the special ones only with parseSpecialTokens) are
//    found before normalization. If none holds whitespace and none strips the whitespace around it
//    (lstrip / rstrip), no occurrence holds the space at c, so each side finds the same ones.
// Any other pipeline (a normalizer that replaces or prepends text, no pre-tokenizer, Metaspace, a
// custom Split regex, BPE dropout) is "unproven": it is cut by the same rule, but four times
// further out, and its ids near a cut may differ from the whole text's.
//
// How far out. `tokenChars` is the longest string in the vocabulary (or among the added tokens the
// text may contain), in UTF-16 code units. For a byte-level BPE (ours, GPT-2, Llama 3) every byte
// of the text belongs to exactly one token, a token covers at most tokenChars bytes, and a
// character takes at least as many bytes as UTF-16 code units; so text[0, c) with
// c >= (maxLength + 1) * tokenChars gives more than maxLength ids: truncating its encoding to
// maxLength gives what truncating the whole text's does. Tokenizers that drop characters (BERT's
// whitespace and control characters) or map a long word to one [UNK] may give fewer:
// Tokenizer.encodeBatch then cuts again, further out (see there).
//
// No boundary. A text with no boundary between the cut and twice the cut (a long run of Chinese or
// Japanese without spaces, a base64 blob, one 50 MB "word") is cut at twice the cut, between two
// code points. Encoding the whole text is what cannot be done in bounded memory; the cut keeps
// more than maxLength ids, and only the pre-token that holds the cut (a run of letters, digits or
// punctuation for byte-level BPE) can come out differently: the ids differ from the whole text's
// only when that one pre-token spans from the first maxLength ids to past the cut.

import { GPT2_PATTERN, type TokenizerJson } from './bpe_trainer.js';

/** The Llama 3 (and cl100k) pre-tokenizer regex, as its tokenizer.json gives it to a Split. */
export const LLAMA3_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** How an unproven pipeline's cut is moved out (see the top of this file). */
export const UNPROVEN_FACTOR = 4;

export interface CutProfile {
  /** The pipeline is one of those for which a cut at a boundary is proven not to change ids. */
  proven: boolean;
  /** Why it is not proven ('' when it is). */
  reason: string;
  /** The longest vocabulary entry or matchable added token, in UTF-16 code units (at least 1). */
  tokenChars: number;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const typeOf = (v: unknown): string => (isObj(v) && typeof v.type === 'string' ? v.type : String(v));

const UNICODE_NORMALIZERS = new Set(['NFC', 'NFD', 'NFKC', 'NFKD', 'Lowercase']);
const CHAR_NORMALIZERS = new Set([...UNICODE_NORMALIZERS, 'StripAccents', 'BertNormalizer']);
const KNOWN_SPLIT_PATTERNS = new Set([GPT2_PATTERN, LLAMA3_PATTERN]);

/** Every normalizer in `n` (a Sequence flattened) is in `allowed`; the first that is not, or null. */
function normalizerOutside(n: unknown, allowed: Set<string>): string | null {
  if (n === null || n === undefined) return null;
  if (isObj(n) && n.type === 'Sequence' && Array.isArray(n.normalizers)) {
    for (const m of n.normalizers) {
      const bad = normalizerOutside(m, allowed);
      if (bad !== null) return bad;
    }
    return null;
  }
  return allowed.has(typeOf(n)) ? null : typeOf(n);
}

/** Which proven family a pre-tokenizer belongs to, or why it is none. */
function preTokenizerFamily(p: unknown): { family: 'bytes' | 'words' } | { reason: string } {
  if (p === null || p === undefined) return { reason: 'no pre-tokenizer (the whole text is one pre-token)' };
  const steps = isObj(p) && p.type === 'Sequence' && Array.isArray(p.pretokenizers) ? (p.pretokenizers as unknown[]) : [p];
  let family: 'bytes' | 'words' | null = null;
  let byteMapped = false;
  for (const s of steps) {
    const t = typeOf(s);
    const o = isObj(s) ? s : {};
    if (t === 'ByteLevel' && o.use_regex !== false) {
      if (byteMapped) return { reason: 'a ByteLevel pre-tokenizer after another' };
      family = 'bytes';
      byteMapped = true;
    } else if (t === 'ByteLevel') {
      byteMapped = true;
    } else if (t === 'Split') {
      const pat = isObj(o.pattern) ? o.pattern.Regex : undefined;
      if (typeof pat !== 'string' || !KNOWN_SPLIT_PATTERNS.has(pat) || o.behavior !== 'Isolated' || o.invert === true) {
        return { reason: 'a Split pre-tokenizer other than the GPT-2 or Llama 3 regex, isolated' };
      }
      if (byteMapped) return { reason: 'a Split pre-tokenizer after byte mapping' };
      family ??= 'bytes';
    } else if (t === 'BertPreTokenizer' || t === 'Whitespace' || t === 'WhitespaceSplit') {
      if (byteMapped) return { reason: `a ${t} pre-tokenizer after byte mapping` };
      family = 'words';
    } else if (t !== 'Punctuation' && t !== 'Digits') {
      return { reason: `pre-tokenizer ${t}` };
    }
  }
  return family === null ? { reason: 'no pre-tokenizer that splits at spaces' } : { family };
}

/** Analyses a tokenizer.json for cutting (see the top of this file). */
export function cutProfile(json: TokenizerJson, parseSpecialTokens: boolean): CutProfile {
  let tokenChars = 1;
  const vocab = json.model.vocab;
  if (Array.isArray(vocab)) {
    for (const e of vocab) if (Array.isArray(e) && typeof e[0] === 'string') tokenChars = Math.max(tokenChars, e[0].length);
  } else if (isObj(vocab)) {
    for (const t in vocab) tokenChars = Math.max(tokenChars, t.length);
  }
  let reason = '';
  for (const t of json.added_tokens ?? []) {
    if (t.special && !parseSpecialTokens) continue;
    tokenChars = Math.max(tokenChars, t.content.length);
    if (/\s/.test(t.content) || t.lstrip || t.rstrip) reason ||= `added token ${JSON.stringify(t.content)} holds or strips whitespace`;
  }
  const dropout = json.model.dropout;
  if (typeof dropout === 'number' && dropout > 0) reason ||= 'BPE dropout';
  const pre = preTokenizerFamily(json.pre_tokenizer);
  if ('reason' in pre) reason ||= pre.reason;
  else {
    const bad = normalizerOutside(json.normalizer, pre.family === 'bytes' ? UNICODE_NORMALIZERS : CHAR_NORMALIZERS);
    if (bad !== null) reason ||= `normalizer ${bad}`;
  }
  return { proven: reason === '', reason, tokenChars };
}

// L, N, P or S: letters, numbers, punctuation, symbols. Tested one UTF-16 unit at a time, so a
// surrogate (half of an astral character) never qualifies.
const VISIBLE = /^[\p{L}\p{N}\p{P}\p{S}]$/u;

/** Whether a cut at `c` is a boundary: text[c] is a space and text[c - 1] a visible BMP character. */
export function isBoundary(text: string, c: number): boolean {
  return c > 0 && c < text.length && text.charCodeAt(c) === 0x20 && VISIBLE.test(text[c - 1]);
}

/**
 * Where to end the first piece of `text[from, ...)` that is at least `minChars` long: text.length
 * when the rest is no longer; else the first boundary in [from + minChars, from + 2 * minChars);
 * else from + 2 * minChars, moved back one when it would split a surrogate pair.
 */
export function cutEnd(text: string, minChars: number, from = 0): number {
  if (!(Number.isInteger(minChars) && minChars >= 1)) throw new RangeError(`cutEnd: minChars must be a positive integer, got ${String(minChars)}`);
  const lo = from + minChars;
  if (text.length <= lo) return text.length;
  const hi = from + 2 * minChars;
  for (let c = text.indexOf(' ', lo); c !== -1 && c < hi; c = text.indexOf(' ', c + 1)) {
    if (isBoundary(text, c)) return c;
  }
  if (hi >= text.length) return text.length;
  const before = text.charCodeAt(hi - 1);
  const at = text.charCodeAt(hi);
  return before >= 0xd800 && before <= 0xdbff && at >= 0xdc00 && at <= 0xdfff ? hi - 1 : hi;
}

/** The ends of consecutive pieces of `text`, each (but the last) at least `minChars` long; the last end is text.length. */
export function pieceEnds(text: string, minChars: number): number[] {
  const ends: number[] = [];
  let from = 0;
  do {
    from = cutEnd(text, minChars, from);
    ends.push(from);
  } while (from < text.length);
  return ends;
}
