// Byte-level BPE trainer (GPT-2 / RoBERTa style) producing a Hugging Face tokenizer.json.
//
// Why our own: the official `tokenizers` Node binding encodes fast, but its `train(files)` takes no
// options (no vocabulary size, no special tokens, no initial byte alphabet), so training happens here
// and encoding is left to the binding (see tokenizer.ts).
//
// Algorithm, mirroring the Rust BpeTrainer of huggingface/tokenizers:
//   1. pre-tokenize every text with the GPT-2 regex (the exact pattern of HF's ByteLevel
//      pre-tokenizer) and count distinct pre-tokens ("words");
//   2. map each word to UTF-8 bytes, each byte to its GPT-2 bytes_to_unicode symbol; the initial
//      alphabet is all 256 byte symbols whether the corpus uses them or not, so no text can ever be
//      out of vocabulary (the tokenizer has no [UNK] fallback and never needs one);
//   3. ids: special tokens first (0..k-1), then the 256 byte symbols sorted by code point (the
//      GPT-2 encoder.json order), then one id per merge;
//   4. repeatedly merge the most frequent adjacent pair (ties: smallest (left id, right id), HF's
//      ordering), updating pair counts incrementally from a pair -> words index, with a max-heap
//      under lazy deletion; stop at vocabSize tokens or when the best pair is rarer than
//      minFrequency.
//
// A pre-token longer than MAX_TRAIN_WORD code units (a 50 MB line without spaces is one) is counted
// as pieces of that length, so that the merge phase, whose cost per merge grows with the length of
// the words it rewrites, stays bounded; long runs of one character dedupe into a single piece.
//
// Pre-tokenization uses JavaScript's regex engine and the binding uses Rust's; both read the same
// pattern, and the few characters their `\s` classes disagree on (U+0085, U+FEFF, U+180E) can only
// change which merges are learnt, never whether text is encodable: every byte is in the alphabet.

export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** A tokenizer.json object (Hugging Face schema). Only the fields we produce are typed tightly. */
export interface TokenizerJson {
  version: string;
  truncation: unknown;
  padding: unknown;
  added_tokens: AddedTokenJson[];
  normalizer: unknown;
  pre_tokenizer: unknown;
  post_processor: unknown;
  decoder: unknown;
  model: {
    type: string;
    vocab: Record<string, number> | unknown;
    merges?: ([string, string] | string)[];
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export interface BpeProgress {
  phase: 'count' | 'merge' | 'done';
  /** count phase: texts and words seen so far. */
  texts?: number;
  words?: number;
  /** merge phase: merges done so far and the current vocabulary size. */
  merges?: number;
  vocabSize?: number;
}

export interface BpeTrainOptions {
  /** Total vocabulary: special tokens + 256 byte symbols + merges. */
  vocabSize: number;
  /** Default ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'], given ids 0.. in this order. */
  specialTokens?: string[];
  /** A pair is merged only if it occurs at least this often (weighted by word counts). Default 2. */
  minFrequency?: number;
  /** Longest token, in bytes, that a merge may create. Default: no limit. */
  maxTokenLength?: number;
  /** Called now and then (every ~200k texts while counting, every 1000 merges) and once at the end. */
  onProgress?: (p: BpeProgress) => void;
}

export type BpeStopReason = 'vocab_size' | 'min_frequency' | 'no_pairs';

export interface BpeTrainReport {
  requestedVocabSize: number;
  /** The vocabulary actually produced; below the request when the corpus ran out of pairs. */
  vocabSize: number;
  merges: number;
  stopReason: BpeStopReason;
  texts: number;
  /** Pre-tokens counted (a pre-token over MAX_TRAIN_WORD counts once per piece), and distinct ones. */
  words: number;
  distinctWords: number;
  bytes: number;
  /** Wall time of the counting (pre-tokenization) and merging phases. */
  countSeconds: number;
  mergeSeconds: number;
}

export const DEFAULT_SPECIAL_TOKENS: readonly string[] = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

/**
 * Pre-tokens longer than this (UTF-16 code units) are counted as consecutive pieces of this length
 * (the last shorter, never splitting a surrogate pair). Far above any word of real text (the
 * longest in the built-in corpus and tasks is 305, a run of digits in spam); a merge could only
 * ever make a token this long from such a run.
 */
export const MAX_TRAIN_WORD = 1024;

/** The exact pattern of HF's ByteLevel pre-tokenizer (GPT-2). */
export const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** GPT-2's bytes_to_unicode: byte -> printable character. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const out = new Array<string>(256);
  for (const b of bs) out[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (out[b] === undefined) out[b] = String.fromCharCode(256 + n++);
  return out;
}

/** The 256 byte symbols sorted by code point, i.e. the GPT-2 / HF initial-alphabet order. */
export function byteAlphabet(): { symbols: string[]; byteOfSymbol: number[] } {
  const b2u = bytesToUnicode();
  const byteOfSymbol = Array.from({ length: 256 }, (_, b) => b).sort((x, y) => b2u[x].charCodeAt(0) - b2u[y].charCodeAt(0));
  return { symbols: byteOfSymbol.map((b) => b2u[b]), byteOfSymbol };
}

// ---------------------------------------------------------------------------------------------
// Small growable typed arrays.

class I32Vec {
  a: Int32Array<ArrayBuffer>;
  n = 0;
  constructor(cap = 1024) {
    this.a = new Int32Array(cap);
  }
  push(v: number): number {
    if (this.n === this.a.length) {
      const b = new Int32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n] = v;
    return this.n++;
  }
}

function growI32(a: Int32Array<ArrayBuffer>, need: number, fill = 0): Int32Array<ArrayBuffer> {
  if (need <= a.length) return a;
  let cap = a.length;
  while (cap < need) cap *= 2;
  const b = new Int32Array(cap);
  if (fill !== 0) b.fill(fill, a.length);
  b.set(a);
  return b;
}

function growF64(a: Float64Array<ArrayBuffer>, need: number): Float64Array<ArrayBuffer> {
  if (need <= a.length) return a;
  let cap = a.length;
  while (cap < need) cap *= 2;
  const b = new Float64Array(cap);
  b.set(a);
  return b;
}

// ---------------------------------------------------------------------------------------------

function checkOptions(opts: BpeTrainOptions, specials: string[]): void {
  if (opts === null || typeof opts !== 'object') throw new TypeError('trainBpe: options {vocabSize, ...} are required');
  const { vocabSize } = opts;
  if (typeof vocabSize !== 'number' || !Number.isInteger(vocabSize)) {
    throw new RangeError(`trainBpe: vocabSize must be an integer, got ${String(vocabSize)}`);
  }
  const floor = specials.length + 256;
  if (vocabSize < floor) {
    throw new RangeError(
      `trainBpe: vocabSize ${vocabSize} is too small: it must be at least ${floor} ` + `(${specials.length} special tokens + 256 byte symbols)`,
    );
  }
  if (vocabSize > 0x3fffffff) throw new RangeError(`trainBpe: vocabSize ${vocabSize} is too large`);
  if (opts.minFrequency !== undefined && !(Number.isFinite(opts.minFrequency) && opts.minFrequency >= 0)) {
    throw new RangeError(`trainBpe: minFrequency must be a finite number >= 0, got ${String(opts.minFrequency)}`);
  }
  if (opts.maxTokenLength !== undefined && !(Number.isInteger(opts.maxTokenLength) && opts.maxTokenLength >= 2)) {
    throw new RangeError(`trainBpe: maxTokenLength must be an integer >= 2, got ${String(opts.maxTokenLength)}`);
  }
}

function checkSpecials(specials: unknown, alphabet: Set<string>): string[] {
  if (!Array.isArray(specials)) throw new TypeError('trainBpe: specialTokens must be an array of strings');
  const seen = new Set<string>();
  specials.forEach((s, i) => {
    if (typeof s !== 'string' || s.length === 0) {
      throw new TypeError(`trainBpe: specialTokens[${i}] must be a non-empty string`);
    }
    if (seen.has(s)) throw new Error(`trainBpe: specialTokens[${i}] "${s}" is repeated`);
    if (alphabet.has(s)) throw new Error(`trainBpe: specialTokens[${i}] "${s}" collides with a byte symbol`);
    seen.add(s);
  });
  return specials as string[];
}

/** Trains a byte-level BPE tokenizer; returns the tokenizer.json object and a report. */
export function trainBpeWithReport(texts: Iterable<string>, opts: BpeTrainOptions): { tokenizer: TokenizerJson; report: BpeTrainReport } {
  const { symbols: alphabet, byteOfSymbol } = byteAlphabet();
  const specials = checkSpecials(opts?.specialTokens ?? [...DEFAULT_SPECIAL_TOKENS], new Set(alphabet));
  checkOptions(opts, specials);
  if (texts === null || texts === undefined || typeof (texts as Iterable<string>)[Symbol.iterator] !== 'function') {
    throw new TypeError('trainBpe: texts must be an iterable of strings');
  }
  const vocabSize = opts.vocabSize;
  const minFrequency = Math.max(1, opts.minFrequency ?? 2);
  const maxTokenLength = opts.maxTokenLength ?? Infinity;
  const onProgress = opts.onProgress;

  // ---- 1. count pre-tokens ----
  const t0 = performance.now();
  const re = new RegExp(GPT2_PATTERN, 'gu');
  const wordCounts = new Map<string, number>();
  let nTexts = 0;
  let nWords = 0;
  for (const text of texts) {
    if (typeof text !== 'string') throw new TypeError(`trainBpe: texts[${nTexts}] is ${typeof text}, not a string`);
    nTexts++;
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      const w = m[0];
      if (w.length <= MAX_TRAIN_WORD) {
        wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
        nWords++;
        continue;
      }
      for (let a = 0; a < w.length; ) {
        let b = Math.min(a + MAX_TRAIN_WORD, w.length);
        const c = w.charCodeAt(b - 1);
        if (b < w.length && c >= 0xd800 && c <= 0xdbff) b--; // keep a surrogate pair together
        const piece = w.slice(a, b);
        wordCounts.set(piece, (wordCounts.get(piece) ?? 0) + 1);
        nWords++;
        a = b;
      }
    }
    if (onProgress && nTexts % 200_000 === 0) onProgress({ phase: 'count', texts: nTexts, words: nWords });
  }
  if (nWords === 0) {
    throw new Error(`trainBpe: the corpus is empty (${nTexts} texts, no characters): nothing to learn merges from`);
  }

  // ---- 2. words -> byte-symbol ids ----
  const k = specials.length;
  const idOfByte = new Int32Array(256);
  byteOfSymbol.forEach((b, i) => (idOfByte[b] = k + i));
  const tokens: string[] = [...specials, ...alphabet];
  const tokLen: number[] = [...specials.map(() => Infinity), ...alphabet.map(() => 1)]; // bytes
  const idOf = new Map<string, number>(tokens.map((t, i) => [t, i]));
  const specialSet = new Set(specials);

  // Words in a deterministic order (by first appearance: Map insertion order).
  const nW = wordCounts.size;
  const freq = new Float64Array(nW);
  const wStart = new Int32Array(nW);
  const wLen = new Int32Array(nW);
  const enc = new TextEncoder(); // lone surrogates become U+FFFD (EF BF BD), as in Tokenizer.encode
  let symsBuf = new Int32Array(1 << 20);
  let nSyms = 0;
  let maxLen = 0;
  let nBytes = 0;
  {
    let scratch = new Uint8Array(1024);
    let wi = 0;
    for (const [w, c] of wordCounts) {
      if (scratch.length < w.length * 3) scratch = new Uint8Array(w.length * 3);
      const { written } = enc.encodeInto(w, scratch);
      if (nSyms + written > symsBuf.length) symsBuf = growI32(symsBuf, nSyms + written);
      for (let j = 0; j < written; j++) symsBuf[nSyms + j] = idOfByte[scratch[j]];
      freq[wi] = c;
      wStart[wi] = nSyms;
      wLen[wi] = written;
      nSyms += written;
      nBytes += c * written;
      if (written > maxLen) maxLen = written;
      wi++;
    }
  }
  wordCounts.clear();
  const syms = symsBuf;

  const t1 = performance.now();

  // ---- 3. pair table: open addressing on (a, b) -> pair id ----
  let cap = 1 << 16;
  let slots = new Int32Array(cap).fill(-1);
  let pa = new Int32Array(1 << 15);
  let pb = new Int32Array(1 << 15);
  let cnt = new Float64Array(1 << 15);
  let head = new Int32Array(1 << 15).fill(-1); // pair -> first node of its word list
  let lastWord = new Int32Array(1 << 15).fill(-1); // dedupes consecutive appends of one word
  let touchedAt = new Int32Array(1 << 15).fill(-1);
  let banned = new Uint8Array(1 << 15);
  let nPairs = 0;
  const nodeWord = new I32Vec(1 << 20);
  const nodeNext = new I32Vec(1 << 20);

  const hash = (a: number, b: number) => (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77)) >>> 0;

  function rehash(): void {
    cap *= 2;
    slots = new Int32Array(cap).fill(-1);
    const mask = cap - 1;
    for (let p = 0; p < nPairs; p++) {
      let h = hash(pa[p], pb[p]) & mask;
      while (slots[h] !== -1) h = (h + 1) & mask;
      slots[h] = p;
    }
  }

  function findPair(a: number, b: number): number {
    const mask = cap - 1;
    let h = hash(a, b) & mask;
    for (;;) {
      const p = slots[h];
      if (p === -1) return -1;
      if (pa[p] === a && pb[p] === b) return p;
      h = (h + 1) & mask;
    }
  }

  function getPair(a: number, b: number): number {
    const mask = cap - 1;
    let h = hash(a, b) & mask;
    for (;;) {
      const p = slots[h];
      if (p === -1) break;
      if (pa[p] === a && pb[p] === b) return p;
      h = (h + 1) & mask;
    }
    const p = nPairs++;
    if (p >= pa.length) {
      const need = p + 1;
      pa = growI32(pa, need);
      pb = growI32(pb, need);
      cnt = growF64(cnt, need);
      head = growI32(head, need, -1);
      lastWord = growI32(lastWord, need, -1);
      touchedAt = growI32(touchedAt, need, -1);
      const nb = new Uint8Array(pa.length);
      nb.set(banned);
      banned = nb;
    }
    pa[p] = a;
    pb[p] = b;
    slots[h] = p;
    if (nPairs * 2 > cap) rehash();
    return p;
  }

  // A pair is tracked only if the token it would create respects maxTokenLength.
  const tracked = (a: number, b: number) => tokLen[a] + tokLen[b] <= maxTokenLength;

  function addWordToPair(p: number, w: number): void {
    if (lastWord[p] === w) return;
    lastWord[p] = w;
    nodeWord.push(w);
    head[p] = nodeNext.push(head[p]);
  }

  for (let w = 0; w < nW; w++) {
    const s = wStart[w];
    const e = s + wLen[w] - 1;
    const f = freq[w];
    for (let i = s; i < e; i++) {
      const a = syms[i];
      const b = syms[i + 1];
      if (!tracked(a, b)) continue;
      const p = getPair(a, b);
      cnt[p] += f;
      addWordToPair(p, w);
    }
  }

  // ---- 4. max-heap of (count, pair) with lazy deletion ----
  let hCnt = new Float64Array(Math.max(1024, nPairs * 2));
  let hPid = new Int32Array(hCnt.length);
  let hN = 0;
  // true if heap entry i ranks above entry j: higher count, then smaller (left id, right id).
  const above = (ci: number, pi: number, cj: number, pj: number) => ci > cj || (ci === cj && (pa[pi] < pa[pj] || (pa[pi] === pa[pj] && pb[pi] < pb[pj])));

  function heapPush(c: number, p: number): void {
    if (hN === hCnt.length) {
      hCnt = growF64(hCnt, hN + 1);
      hPid = growI32(hPid, hN + 1);
    }
    let i = hN++;
    while (i > 0) {
      const par = (i - 1) >> 1;
      if (!above(c, p, hCnt[par], hPid[par])) break;
      hCnt[i] = hCnt[par];
      hPid[i] = hPid[par];
      i = par;
    }
    hCnt[i] = c;
    hPid[i] = p;
  }

  function heapPop(): void {
    const c = hCnt[--hN];
    const p = hPid[hN];
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= hN) break;
      const r = l + 1;
      const best = r < hN && above(hCnt[r], hPid[r], hCnt[l], hPid[l]) ? r : l;
      if (!above(hCnt[best], hPid[best], c, p)) break;
      hCnt[i] = hCnt[best];
      hPid[i] = hPid[best];
      i = best;
    }
    hCnt[i] = c;
    hPid[i] = p;
  }

  for (let p = 0; p < nPairs; p++) if (cnt[p] > 0) heapPush(cnt[p], p);

  // ---- 5. merge loop ----
  const merges: [string, string][] = [];
  const oldMerged = new Uint8Array(maxLen + 1);
  const newMerged = new Uint8Array(maxLen + 1);
  const stamp = new Int32Array(nW).fill(-1);
  const touched: number[] = [];
  let stopReason: BpeStopReason = 'vocab_size';
  let step = 0;

  while (tokens.length < vocabSize) {
    if (hN === 0) {
      stopReason = 'no_pairs';
      break;
    }
    const c0 = hCnt[0];
    const top = hPid[0];
    heapPop();
    const cur = cnt[top];
    if (c0 !== cur || banned[top]) {
      // Stale entry. If the count fell, re-queue it at its true count; if it rose, a newer entry
      // with the exact count is already queued.
      if (cur > 0 && cur < c0 && !banned[top]) heapPush(cur, top);
      continue;
    }
    if (cur < minFrequency) {
      stopReason = 'min_frequency';
      break;
    }
    const a = pa[top];
    const b = pb[top];
    const merged = tokens[a] + tokens[b];
    if (specialSet.has(merged)) {
      banned[top] = 1; // never let a merge produce a special token's string
      continue;
    }
    let c = idOf.get(merged);
    if (c === undefined) {
      c = tokens.length;
      tokens.push(merged);
      tokLen.push(tokLen[a] + tokLen[b]);
      idOf.set(merged, c);
    }
    merges.push([tokens[a], tokens[b]]);
    step++;

    // Rewrite every word that contains (a, b).
    for (let node = head[top]; node !== -1; node = nodeNext.a[node]) {
      const w = nodeWord.a[node];
      if (stamp[w] === step) continue;
      stamp[w] = step;
      const s = wStart[w];
      const n = wLen[w];
      // Find non-overlapping occurrences, left to right (oldMerged is all zero on entry).
      let found = false;
      for (let i = 0; i < n - 1; i++) {
        if (syms[s + i] === a && syms[s + i + 1] === b) {
          oldMerged[i] = 1;
          oldMerged[i + 1] = 1;
          found = true;
          i++;
        }
      }
      if (!found) continue; // stale index entry: the word no longer holds the pair
      const f = freq[w];
      // Remove the counts of every old pair that touches a merged position.
      for (let i = 0; i < n - 1; i++) {
        if (oldMerged[i] || oldMerged[i + 1]) {
          const x = syms[s + i];
          const y = syms[s + i + 1];
          if (tracked(x, y)) cnt[findPair(x, y)] -= f;
        }
      }
      // Rewrite in place, with the same left-to-right scan.
      let o = 0;
      for (let i = 0; i < n; ) {
        oldMerged[i] = 0;
        if (i + 1 < n && syms[s + i] === a && syms[s + i + 1] === b) {
          oldMerged[i + 1] = 0;
          syms[s + o] = c;
          newMerged[o++] = 1;
          i += 2;
        } else {
          syms[s + o] = syms[s + i];
          newMerged[o++] = 0;
          i++;
        }
      }
      wLen[w] = o;
      // Add the counts of every new pair that touches a merged position.
      for (let i = 0; i < o - 1; i++) {
        if (newMerged[i] || newMerged[i + 1]) {
          const x = syms[s + i];
          const y = syms[s + i + 1];
          if (!tracked(x, y)) continue;
          const p = getPair(x, y);
          cnt[p] += f;
          addWordToPair(p, w);
          if (touchedAt[p] !== step) {
            touchedAt[p] = step;
            touched.push(p);
          }
        }
      }
    }
    cnt[top] = 0;
    for (const p of touched) if (cnt[p] > 0 && !banned[p]) heapPush(cnt[p], p);
    touched.length = 0;
    if (onProgress && step % 1000 === 0) onProgress({ phase: 'merge', merges: step, vocabSize: tokens.length });
  }
  if (tokens.length >= vocabSize) stopReason = 'vocab_size';

  const report: BpeTrainReport = {
    requestedVocabSize: vocabSize,
    vocabSize: tokens.length,
    merges: merges.length,
    stopReason,
    texts: nTexts,
    words: nWords,
    distinctWords: nW,
    bytes: nBytes,
    countSeconds: (t1 - t0) / 1000,
    mergeSeconds: (performance.now() - t1) / 1000,
  };
  onProgress?.({ phase: 'done', merges: merges.length, vocabSize: tokens.length });
  return { tokenizer: buildTokenizerJson(tokens, merges, specials), report };
}

/** Trains a byte-level BPE tokenizer and returns it as a tokenizer.json object. */
export function trainBpe(texts: Iterable<string>, opts: BpeTrainOptions): TokenizerJson {
  return trainBpeWithReport(texts, opts).tokenizer;
}

function addedToken(id: number, content: string): AddedTokenJson {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

function buildTokenizerJson(tokens: string[], merges: [string, string][], specials: string[]): TokenizerJson {
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => (vocab[t] = i));
  const sid = (t: string) => specials.indexOf(t);
  const cls = sid('[CLS]');
  const sep = sid('[SEP]');
  const spec = (id: string, typeId: number) => ({ SpecialToken: { id, type_id: typeId } });
  const seq = (id: 'A' | 'B', typeId: number) => ({ Sequence: { id, type_id: typeId } });
  const postProcessor =
    cls >= 0 && sep >= 0
      ? {
          type: 'TemplateProcessing',
          single: [spec('[CLS]', 0), seq('A', 0), spec('[SEP]', 0)],
          pair: [spec('[CLS]', 0), seq('A', 0), spec('[SEP]', 0), seq('B', 1), spec('[SEP]', 1)],
          special_tokens: {
            '[CLS]': { id: '[CLS]', ids: [cls], tokens: ['[CLS]'] },
            '[SEP]': { id: '[SEP]', ids: [sep], tokens: ['[SEP]'] },
          },
        }
      : null;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((t, i) => addedToken(i, t)),
    // No normalizer: decode(encode(x)) === x exactly. NFC would merge "e\u0301" into "é" and so
    // break round trips of text that is not already NFC.
    normalizer: null,
    pre_tokenizer: { ...byteLevel },
    post_processor: postProcessor,
    decoder: { ...byteLevel },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}
