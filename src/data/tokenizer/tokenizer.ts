// Pathwise tokenizer: Hugging Face tokenizer.json files, encoded by the official `tokenizers`
// binding (Rust, multi-threaded batches), trained by our own byte-level BPE trainer (bpe_trainer.ts).
//
// Text policy, for every tokenizer loaded here:
//  - Lone UTF-16 surrogates (possible in JS strings, impossible in UTF-8) are replaced by U+FFFD
//    before encoding, as TextEncoder, Buffer.from(s, 'utf8') and the trainer do; everything else
//    reaches the tokenizer unchanged. With our byte-level BPE (no normalizer, 256-byte alphabet)
//    decode(encode(x)) === x for every well-formed string.
//  - Special-token strings that occur in the text ("[MASK]", "<|endoftext|>") are encoded as plain
//    text by default, so corpus text can never inject a special token and round trips stay exact.
//    Pass {parseSpecialTokens: true} for the Hugging Face behaviour (e.g. fill-mask prompts).
//  - The file's own truncation and padding sections are ignored; use `maxLength` per call.
//  - Memory follows the model, not the input: with a maxLength, a long text is cut before it is
//    encoded, and encodeWhole encodes long texts in pieces; both cut where the ids cannot change
//    (./cut.ts says where, and why).

import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Tokenizer as HfTokenizer, type Encoding as HfEncoding } from 'tokenizers';
import { InputError } from '../../util/errors.js';
import { decodeUtf8Strict, firstInvalidUtf8 } from '../../util/utf8.js';
import { trainBpeWithReport, type BpeTrainOptions, type BpeTrainReport, type TokenizerJson } from './bpe_trainer.js';
import { readFileOr } from '../../util/read_file.js';
import { shown } from '../../util/schema.js';
import { UNPROVEN_FACTOR, cutEnd, cutProfile, pieceEnds, type CutProfile } from './cut.js';

/**
 * A text cut for a maxLength is first cut after about this many characters per id; when that gives
 * too few ids it is cut again four times further out, up to the bound that ./cut.ts proves enough
 * for a byte-level BPE ((maxLength + 1) x the longest token) or MAX_CUT_CHARS, whichever is larger.
 */
const CUT_CHARS_PER_ID = 8;
/**
 * How far out a text is cut at most when the longest token gives no smaller bound (about 45 MB
 * while encoded). Only a tokenizer that drops characters reaches it, on a text whose first
 * maxLength ids need more: a BERT tokenizer reading 256k characters of whitespace or control
 * characters, say. Its ids then come from the first 256k to 512k characters.
 */
export const MAX_CUT_CHARS = 1 << 18;
/** encodeWhole's pieces: at least this many characters (and under twice as many) each. */
export const PIECE_CHARS = 4096;
/** encodeWhole encodes pieces in batches of about this many characters (~175 bytes each while encoded). */
const BATCH_CHARS = 1 << 18;

export interface SpecialIds {
  pad: number | null;
  unk: number | null;
  cls: number | null;
  sep: number | null;
  mask: number | null;
}

export interface EncodeOptions {
  /** Add the post-processor's special tokens ([CLS] ... [SEP] for ours). Default true. */
  addSpecialTokens?: boolean;
  /** Truncate to at most this many ids, special tokens included (pairs: longest first). */
  maxLength?: number;
  /** Treat special-token strings inside the text as special tokens. Default false. */
  parseSpecialTokens?: boolean;
}

export interface EncodedText {
  ids: Int32Array;
  /** Segment ids: 0 for the first text (and its specials), 1 for the pair. */
  typeIds: Int32Array;
}

/** Tokens that fill each role, in order of preference, when the file registers them as special. */
const ROLE_TOKENS: Record<keyof SpecialIds, string[]> = {
  pad: ['[PAD]', '<pad>', '<|pad|>'],
  unk: ['[UNK]', '<unk>', '<|unk|>'],
  cls: ['[CLS]', '<s>'],
  sep: ['[SEP]', '</s>'],
  mask: ['[MASK]', '<mask>'],
};

const MODEL_TYPES = ['BPE', 'WordPiece', 'WordLevel', 'Unigram'];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNonNegInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
/** Ids are int32 everywhere downstream (encodings, embedding lookups). */
const MAX_ID = 2 ** 31 - 1;
const isId = (v: unknown): v is number => isNonNegInt(v) && v <= MAX_ID;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
type WellFormedString = string & { isWellFormed?: () => boolean; toWellFormed?: () => string };
/** Replaces lone surrogates with U+FFFD (what UTF-8 encoders do); other strings are returned as is. */
export function toWellFormed(s: string): string {
  const w = s as WellFormedString;
  if (typeof w.isWellFormed === 'function') return w.isWellFormed() ? s : w.toWellFormed!();
  return s.replace(LONE_SURROGATE, '\uFFFD');
}

/** Throws an InputError naming the file and the field. */
const fieldError =
  (source: string) =>
  (field: string, msg: string): never => {
    throw new InputError(`${source}: field "${field}" ${msg}`, source);
  };

/**
 * Checks the parts of a tokenizer.json that matter most, with errors naming file and field.
 * `deep` also checks that every merge's tokens are in the vocabulary (slower on 100k+ vocabularies;
 * the loader runs it only to explain a file that the tokenizers library has rejected).
 */
export function validateTokenizerJson(json: unknown, source: string, deep = false): asserts json is TokenizerJson {
  const fail = fieldError(source);
  if (!isObj(json)) throw new InputError(`${source}: a tokenizer.json must hold a JSON object at the top level`, source);
  if (!('model' in json)) fail('model', 'is missing');
  const model = json.model;
  if (!isObj(model)) return fail('model', 'must be an object');
  let type = model.type;
  if (type === undefined) {
    // Older files may leave the model untagged; infer it as the Rust library does.
    type = Array.isArray(model.vocab) ? 'Unigram' : 'merges' in model ? 'BPE' : undefined;
    if (type === undefined) fail('model.type', 'is missing');
  }
  if (typeof type !== 'string' || !MODEL_TYPES.includes(type)) {
    fail('model.type', `must be one of ${MODEL_TYPES.join(', ')}, got ${shown(type)}`);
  }
  const checkVocabMap = (): Record<string, number> => {
    if (!isObj(model.vocab)) return fail('model.vocab', 'must be an object mapping tokens to ids');
    const vocab = model.vocab;
    // Each id names one token: two tokens sharing an id would share an embedding row, and decoding
    // could give back only one of them.
    const tokenOf = new Map<number, string>();
    for (const tok in vocab) {
      const id = vocab[tok];
      if (!isId(id)) fail(`model.vocab[${JSON.stringify(tok)}]`, `must be a non-negative integer id (at most ${MAX_ID}), got ${shown(id)}`);
      const other = tokenOf.get(id as number);
      if (other !== undefined) fail(`model.vocab[${JSON.stringify(tok)}]`, `has id ${id}, which ${JSON.stringify(other)} has too (ids must be distinct)`);
      tokenOf.set(id as number, tok);
    }
    return vocab as Record<string, number>;
  };
  const optString = (k: string) => {
    if (model[k] !== undefined && model[k] !== null && typeof model[k] !== 'string') fail(`model.${k}`, 'must be a string or null');
  };
  // The token the model encodes unknown text as must be in the vocabulary: the binding loads a
  // file without it and fails on the first unknown character instead.
  const unkIn = (vocab: Record<string, number>, dflt: string | null) => {
    const unk = model.unk_token ?? dflt;
    if (typeof unk === 'string' && !Object.hasOwn(vocab, unk)) fail('model.unk_token', `${JSON.stringify(unk)} is not in model.vocab`);
  };
  if (type === 'BPE') {
    const vocab = checkVocabMap();
    for (const k of ['unk_token', 'continuing_subword_prefix', 'end_of_word_suffix']) optString(k);
    unkIn(vocab, null);
    if (model.dropout !== undefined && model.dropout !== null && !(typeof model.dropout === 'number' && model.dropout >= 0 && model.dropout <= 1)) {
      fail('model.dropout', 'must be null or a number in [0, 1]');
    }
    if (!Array.isArray(model.merges)) fail('model.merges', 'must be an array of merges ("a b" strings or [a, b] pairs)');
    const merges = model.merges as unknown[];
    for (let i = 0; i < merges.length; i++) {
      const m = merges[i];
      if (typeof m === 'string') {
        const sp = m.indexOf(' ');
        if (sp <= 0 || sp === m.length - 1 || m.indexOf(' ', sp + 1) !== -1) {
          fail(`model.merges[${i}]`, `must be two tokens separated by one space, got ${shown(m)}`);
        }
      } else if (!(Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string')) {
        fail(`model.merges[${i}]`, `must be an "a b" string or an [a, b] pair of strings, got ${shown(m)}`);
      }
    }
    // With a continuing-subword prefix, the binding cuts it off each merge's second token unchecked:
    // a token that does not start with it aborts the process (a Rust panic), so it is refused here.
    const prefix = model.continuing_subword_prefix;
    if (typeof prefix === 'string' && prefix !== '') {
      merges.forEach((m, i) => {
        const b = typeof m === 'string' ? m.slice(m.indexOf(' ') + 1) : (m as [string, string])[1];
        if (!b.startsWith(prefix))
          fail(`model.merges[${i}]`, `second token ${JSON.stringify(b)} does not start with model.continuing_subword_prefix ${JSON.stringify(prefix)}`);
      });
    }
    if (deep) {
      const prefix = typeof model.continuing_subword_prefix === 'string' ? model.continuing_subword_prefix : '';
      for (let i = 0; i < merges.length; i++) {
        const m = merges[i] as string | [string, string];
        const [a, b] = typeof m === 'string' ? m.split(' ') : m;
        const merged = a + (prefix && b.startsWith(prefix) ? b.slice(prefix.length) : b);
        for (const t of [a, b, merged]) {
          if (!Object.hasOwn(vocab, t)) fail(`model.merges[${i}]`, `uses token ${JSON.stringify(t)}, which is not in model.vocab`);
        }
      }
    }
  } else if (type === 'WordPiece' || type === 'WordLevel') {
    const vocab = checkVocabMap();
    for (const k of ['unk_token', 'continuing_subword_prefix']) optString(k);
    unkIn(vocab, type === 'WordPiece' ? '[UNK]' : '<unk>');
  } else {
    if (!Array.isArray(model.vocab)) fail('model.vocab', 'must be an array of [piece, score] pairs');
    (model.vocab as unknown[]).forEach((e, i) => {
      if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'number') {
        fail(`model.vocab[${i}]`, `must be a [piece, score] pair, got ${shown(e)}`);
      }
    });
    const n = (model.vocab as unknown[]).length;
    const unk = model.unk_id ?? null;
    if (unk === null ? model.byte_fallback !== true : !(isNonNegInt(unk) && unk < n))
      fail('model.unk_id', `must be the index of a piece of model.vocab (in [0, ${n})), or null with "byte_fallback": true, got ${shown(model.unk_id)}`);
  }
  if (json.added_tokens !== undefined) {
    if (!Array.isArray(json.added_tokens)) fail('added_tokens', 'must be an array');
    (json.added_tokens as unknown[]).forEach((t, i) => {
      if (!isObj(t)) return fail(`added_tokens[${i}]`, 'must be an object');
      if (!isId(t.id)) fail(`added_tokens[${i}].id`, `must be a non-negative integer id (at most ${MAX_ID}), got ${shown(t.id)}`);
      if (typeof t.content !== 'string' || t.content.length === 0) fail(`added_tokens[${i}].content`, 'must be a non-empty string');
      if (t.special !== undefined && typeof t.special !== 'boolean') fail(`added_tokens[${i}].special`, 'must be a boolean');
    });
  }
  for (const k of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) {
    const v = json[k];
    if (v === undefined || v === null) continue;
    if (!isObj(v) || typeof v.type !== 'string') fail(k, `must be null or an object with a string "type", got ${shown(v)}`);
  }
  postProcessorOutput(json.post_processor, 'post_processor', fail);
  checkPanics(json.normalizer, 'normalizer', 'normalizers', fail);
  checkPanics(json.pre_tokenizer, 'pre_tokenizer', 'pretokenizers', fail);
  checkPanics(json.decoder, 'decoder', 'decoders', fail);
}

/**
 * Settings the tokenizers binding loads and then aborts the whole process on (a Rust panic, which
 * no try/catch can stop), in a normalizer, pre-tokenizer or decoder (and in the Sequences of them):
 * found by fuzzing (test/unit/fuzz_*.test.ts), refused here with the field named.
 */
function checkPanics(v: unknown, field: string, listKey: string, fail: (field: string, msg: string) => never): void {
  if (!isObj(v)) return;
  if (v.type === 'Sequence' && Array.isArray(v[listKey])) {
    (v[listKey] as unknown[]).forEach((x, i) => checkPanics(x, `${field}.${listKey}[${i}]`, listKey, fail));
    return;
  }
  const str = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : null);
  if (listKey === 'normalizers' && v.type === 'Replace' && isObj(v.pattern)) {
    // A pattern that matches the empty string (or is empty) panics on the first text.
    const { String: text, Regex: regex } = v.pattern as { String?: unknown; Regex?: unknown };
    let matchesEmpty = text === '';
    if (typeof regex === 'string') {
      try {
        matchesEmpty = new RegExp(regex, 'u').test('');
      } catch {
        matchesEmpty = regex === '';
      }
    }
    if (matchesEmpty) fail(`${field}.pattern`, 'must not match the empty string');
  }
  if (v.type === 'Prepend' && str('prepend') === '') fail(`${field}.prepend`, 'must not be empty');
  if (v.type === 'FixedLength' && !(isNonNegInt(v.length) && v.length >= 1)) fail(`${field}.length`, `must be an integer >= 1, got ${shown(v.length)}`);
  if (v.type === 'Strip' && listKey === 'decoders') {
    const { start, stop } = v;
    if (!isNonNegInt(start) || !isNonNegInt(stop) || (stop > 0 && (start > 0 || stop > 1)))
      fail(field, `a Strip decoder must strip from the start, or one character from the end (start 0, stop 1), got start ${shown(start)}, stop ${shown(stop)}`);
  }
  if (v.type === 'Precompiled') {
    const map = str('precompiled_charsmap');
    // Base64 exactly as the binding's decoder takes it (Node's skips stray characters; the binding aborts).
    const bytes = map === null ? null : Buffer.from(map, 'base64');
    const problem = bytes === null ? 'is not a string' : bytes.toString('base64') !== map ? 'is not canonical base64' : charsmapProblem(bytes);
    if (problem !== null) fail(`${field}.precompiled_charsmap`, `${problem} (a SentencePiece normalisation map, base64)`);
  }
}

/**
 * What is wrong with a SentencePiece normalisation map, or null: a u32 trie size, a darts-clone
 * double-array trie of that many bytes, then NUL-terminated replacement strings. The binding walks
 * the trie with every byte of the text and reads the strings its leaves point at, unchecked, so
 * every node reachable from the root must keep every child slot, and every leaf its string, in range.
 */
function charsmapProblem(blob: Buffer): string | null {
  if (blob.length < 4) return 'is too short';
  const size = blob.readUInt32LE(0);
  if (size === 0 || size % 4 !== 0 || 4 + size > blob.length) return `has a trie size (${size} bytes) that does not fit`;
  const n = size / 4;
  const unit = (i: number) => blob.readUInt32LE(4 + 4 * i);
  const offset = (u: number) => (u >>> 10) << ((u & (1 << 9)) >>> 6);
  const strings = blob.subarray(4 + size);
  if (firstInvalidUtf8(strings) >= 0) return 'has replacement strings that are not UTF-8';
  const seen = new Set<number>();
  const todo = [offset(unit(0))];
  while (todo.length) {
    const pos = todo.pop()!;
    if (seen.has(pos)) continue;
    seen.add(pos);
    for (let c = 1; c < 0xf5; c++) {
      if (c === 0xc0 || c === 0xc1) continue; // bytes UTF-8 text never holds
      if ((pos ^ c) >= n) return 'has a trie node whose children lie outside the trie';
      const u = unit(pos ^ c);
      if ((u & ((1 << 31) | 0xff)) !== c) continue; // not a child labelled c
      const next = pos ^ c ^ offset(u);
      if (next >= n) return 'has a trie edge that leads outside the trie';
      if ((u >>> 8) & 1) {
        const at = unit(next) & 0x7fffffff;
        if (at >= strings.length || strings.indexOf(0, at) < 0) return 'has a trie leaf whose string lies outside the map';
      }
      todo.push(next);
    }
  }
  return null;
}

/** The post-processors the binding knows, with their keys besides "type". */
const POST_PROCESSOR_KEYS: Record<string, string[]> = {
  TemplateProcessing: ['single', 'pair', 'special_tokens'],
  BertProcessing: ['sep', 'cls'],
  RobertaProcessing: ['sep', 'cls', 'trim_offsets', 'add_prefix_space'],
  ByteLevel: ['add_prefix_space', 'trim_offsets', 'use_regex'],
  Sequence: ['processors'],
};

/** What a post-processor adds to an encoding: the ids of its special tokens, and one more than the largest segment id it sets. */
interface PostProcessorOutput {
  ids: number[];
  typeIds: number;
}

/**
 * Checks the post-processor's fields and says what it adds. The tokenizers binding trusts them:
 * a template naming a special token it does not define, or a single-text template that uses the
 * pair's text, aborts the whole process (a Rust panic) on the first encode, so they are refused
 * here. Its ids and segment ids go into encodings unchecked, so the loader bounds them too.
 */
function postProcessorOutput(p: unknown, field: string, fail: (field: string, msg: string) => never): PostProcessorOutput {
  if (p === undefined || p === null) return { ids: [], typeIds: 1 };
  if (!isObj(p)) return fail(field, 'must be null or an object');
  // The binding picks a post-processor by its fields, not by "type" (a "TemplateProcessing " with a
  // stray space loads as a template), so the type must be one it has and the keys that type's own.
  const keys = POST_PROCESSOR_KEYS[p.type as string];
  if (!Object.hasOwn(POST_PROCESSOR_KEYS, p.type as string))
    fail(`${field}.type`, `must be one of ${Object.keys(POST_PROCESSOR_KEYS).join(', ')}, got ${shown(p.type)}`);
  const extra = Object.keys(p).find((k) => k !== 'type' && !keys.includes(k));
  if (extra !== undefined) fail(`${field}.${extra}`, `is not a key of a ${p.type} post-processor (${keys.join(', ')})`);
  for (const k of ['trim_offsets', 'add_prefix_space', 'use_regex']) {
    if (p[k] !== undefined && typeof p[k] !== 'boolean') fail(`${field}.${k}`, `must be true or false, got ${shown(p[k])}`);
  }
  const pairOf = (k: string): number => {
    const v = p[k];
    if (!(Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && isId(v[1]))) fail(`${field}.${k}`, `must be a [token, id] pair, got ${shown(v)}`);
    return (v as [string, number])[1];
  };
  switch (p.type) {
    case 'BertProcessing':
      return { ids: [pairOf('sep'), pairOf('cls')], typeIds: 2 };
    case 'RobertaProcessing':
      return { ids: [pairOf('sep'), pairOf('cls')], typeIds: 1 };
    case 'Sequence': {
      if (!Array.isArray(p.processors)) fail(`${field}.processors`, 'must be an array of post-processors');
      const parts = (p.processors as unknown[]).map((q, i) => postProcessorOutput(q, `${field}.processors[${i}]`, fail));
      return { ids: parts.flatMap((x) => x.ids), typeIds: Math.max(1, ...parts.map((x) => x.typeIds)) };
    }
    case 'TemplateProcessing': {
      const special = p.special_tokens;
      if (!isObj(special)) return fail(`${field}.special_tokens`, 'must be an object');
      const ids: number[] = [];
      for (const [k, t] of Object.entries(special)) {
        const at = `${field}.special_tokens[${JSON.stringify(k)}]`;
        if (!isObj(t) || t.id !== k) fail(at, `must be an object whose "id" is ${JSON.stringify(k)}`);
        const e = t as Obj;
        if (!Array.isArray(e.ids) || !e.ids.every(isId)) fail(`${at}.ids`, 'must be an array of token ids');
        if (!Array.isArray(e.tokens) || !e.tokens.every((x) => typeof x === 'string') || e.tokens.length !== (e.ids as unknown[]).length)
          fail(`${at}.tokens`, 'must be an array of strings, one per id');
        ids.push(...(e.ids as number[]));
      }
      let typeIds = 1;
      for (const k of ['single', 'pair']) {
        const pieces = p[k];
        if (!Array.isArray(pieces)) fail(`${field}.${k}`, 'must be an array of pieces');
        const seqs = new Set<string>();
        (pieces as unknown[]).forEach((piece, i) => {
          const at = `${field}.${k}[${i}]`;
          const body = isObj(piece) ? (piece.Sequence ?? piece.SpecialToken) : undefined;
          if (!isObj(body) || Object.keys(piece as Obj).length !== 1 || !isNonNegInt(body.type_id) || body.type_id > 255)
            fail(at, 'must be {"Sequence": {"id": "A" or "B", "type_id": N}} or {"SpecialToken": {"id": NAME, "type_id": N}}, N in [0, 255]');
          const b = body as Obj;
          typeIds = Math.max(typeIds, (b.type_id as number) + 1);
          if ((piece as Obj).Sequence !== undefined) {
            if (b.id !== 'A' && b.id !== 'B') fail(`${at}.Sequence.id`, `must be "A" or "B", got ${shown(b.id)}`);
            seqs.add(b.id as string);
          } else if (typeof b.id !== 'string' || !Object.hasOwn(special, b.id))
            fail(`${at}.SpecialToken.id`, `must name one of ${field}.special_tokens, got ${shown(b.id)}`);
        });
        if (k === 'single' && seqs.has('B')) fail(`${field}.single`, 'must not use the pair\'s sequence "B"');
        if (k === 'pair' && !(seqs.has('A') && seqs.has('B'))) fail(`${field}.pair`, 'must use both sequences, "A" and "B"');
      }
      return { ids, typeIds };
    }
    default:
      // ByteLevel only adjusts offsets.
      return { ids: [], typeIds: 1 };
  }
}

/** tokenizer.json text with the vocabulary listed in id order (as the Rust library writes it). */
export function stringifyTokenizerJson(json: TokenizerJson): string {
  const vocab = json.model.vocab;
  const merges = json.model.merges;
  const VOCAB = '\u0000vocab\u0000';
  const MERGES = '\u0000merges\u0000';
  const listVocab = isObj(vocab);
  const copy = {
    ...json,
    model: { ...json.model, ...(listVocab ? { vocab: VOCAB } : {}), ...(Array.isArray(merges) ? { merges: MERGES } : {}) },
  };
  let s = JSON.stringify(copy, null, 2);
  const ind = '      ';
  if (listVocab) {
    const entries = Object.entries(vocab as Record<string, number>).sort((x, y) => x[1] - y[1]);
    const body = entries.map(([t, id]) => `${ind}${JSON.stringify(t)}: ${id}`).join(',\n');
    // A function, not a string: a replacement string would read "$$" or "$&" in a token as patterns.
    s = s.replace(JSON.stringify(VOCAB), () => (entries.length ? `{\n${body}\n    }` : '{}'));
  }
  if (Array.isArray(merges)) {
    const body = merges.map((m) => ind + JSON.stringify(m).replace(/^\["(.*)","(.*)"\]$/, '["$1", "$2"]')).join(',\n');
    s = s.replace(JSON.stringify(MERGES), () => (merges.length ? `[\n${body}\n    ]` : '[]'));
  }
  return s + '\n';
}

/**
 * A tokenizer.json for GPT-2 style files (encoder.json / vocab.json + vocab.bpe / merges.txt):
 * byte-level BPE, no prefix space, no special tokens added around sequences.
 */
export function gpt2TokenizerJson(encoder: Record<string, number>, mergesText: string, source = '<gpt2>'): TokenizerJson {
  if (!isObj(encoder)) throw new InputError(`${source}: the encoder must be a JSON object mapping tokens to ids`, source);
  const merges: [string, string][] = [];
  mergesText.split(/\r?\n/).forEach((line, i) => {
    if (line.length === 0 || (i === 0 && line.startsWith('#version'))) return;
    const parts = line.split(' ');
    if (parts.length !== 2)
      throw new InputError(`${source}: line ${i + 1} must be two tokens separated by one space, got ${JSON.stringify(line)}`, source, i + 1);
    merges.push([parts[0], parts[1]]);
  });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const added = Object.entries(encoder)
    .filter(([t]) => t === '<|endoftext|>')
    .map(([content, id]) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { ...byteLevel },
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: { ...byteLevel },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: encoder,
      merges,
    },
  };
}

function readText(path: string, what: string): string {
  const bytes = readFileOr(path, (code) => new InputError(`${path}: cannot read ${what}: ${code}`, path));
  // Strictly: invalid bytes are named as such, not decoded to U+FFFD and blamed on a merge later.
  return decodeUtf8Strict(bytes, path, InputError);
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(`${source}: not valid JSON: ${(e as Error).message}`, source);
  }
}

function loadHf(text: string, source: string, json: unknown): HfTokenizer {
  let tok: HfTokenizer;
  try {
    tok = HfTokenizer.fromString(text);
  } catch (e) {
    validateTokenizerJson(json, source, true); // a precise "file: field ..." error if we can find one
    const field = rejectedField(json as TokenizerJson);
    const where = field === null ? '' : ` (field "${field}")`;
    throw new InputError(`${source}: the tokenizers library cannot load it${where}: ${(e as Error).message}`, source);
  }
  tok.disableTruncation();
  tok.disablePadding();
  return tok;
}

/** Which top-level section the binding rejects, found by loading the model with one section at a time. */
function rejectedField(json: TokenizerJson): string | null {
  const base: Record<string, unknown> = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    model: json.model,
  };
  const loads = (o: Record<string, unknown>) => {
    try {
      HfTokenizer.fromString(JSON.stringify(o));
      return true;
    } catch {
      return false;
    }
  };
  if (!loads(base)) return 'model';
  for (const k of ['added_tokens', 'normalizer', 'pre_tokenizer', 'post_processor', 'decoder', 'truncation', 'padding', 'version']) {
    if (k in json && !loads({ ...base, [k]: json[k] })) return k;
  }
  return null;
}

/**
 * One more than the largest id the tokenizer can produce (its vocabulary, added tokens and the
 * post-processor's special tokens). The binding's getVocabSize counts tokens,
 * so a file whose ids skip ahead (a token given id 99999 in a vocabulary of 300) would pass a check
 * against the model's embedding rows and then index past them. An added token must also keep the
 * id the file gives it: the binding would otherwise assign another (the vocabulary's id for the
 * same text, or the next free one) and the special ids read from the file would be wrong.
 */
function idBound(json: TokenizerJson, tok: HfTokenizer, source: string, postIds: number[]): number {
  const vocab = json.model.vocab;
  let bound = 0;
  if (Array.isArray(vocab)) bound = vocab.length;
  else for (const id of Object.values(vocab as Record<string, number>)) bound = Math.max(bound, id + 1);
  for (const id of postIds) bound = Math.max(bound, id + 1);
  (json.added_tokens ?? []).forEach((t, i) => {
    const got = tok.tokenToId(t.content);
    if (got !== t.id) {
      throw new InputError(
        `${source}: field "added_tokens[${i}].id" is ${t.id}, but the tokenizer gives ${JSON.stringify(t.content)} id ${got ?? 'none'} (an added token's id must be free or its vocabulary entry's)`,
        source,
      );
    }
    bound = Math.max(bound, t.id + 1);
  });
  return bound;
}

function toEncoded(e: HfEncoding): EncodedText {
  return { ids: Int32Array.from(e.getIds()), typeIds: Int32Array.from(e.getTypeIds()) };
}

function checkTexts(texts: unknown, what: string): string[] {
  if (!Array.isArray(texts)) throw new TypeError(`Tokenizer.encodeBatch: ${what} must be an array of strings`);
  for (let i = 0; i < texts.length; i++) {
    if (typeof texts[i] !== 'string') throw new TypeError(`Tokenizer.encodeBatch: ${what}[${i}] is ${typeof texts[i]}, not a string`);
  }
  return texts as string[];
}

export class Tokenizer {
  /** Where the tokenizer came from (a file path, '<trained>', or the name given to fromJson). */
  readonly source: string;
  /**
   * One more than the largest id (vocabulary and added tokens): every id the tokenizer can produce
   * is in [0, vocabSize). Not the number of tokens: a file may leave ids unused.
   */
  readonly vocabSize: number;
  /** One more than the largest segment id (typeIds) an encoding can hold: 1 unless the post-processor marks pairs. */
  readonly typeVocabSize: number;
  readonly specialIds: Readonly<SpecialIds>;
  /** Set when the tokenizer was made by Tokenizer.train. */
  readonly trainReport: BpeTrainReport | null;

  private readonly json: TokenizerJson;
  private readonly full: HfTokenizer;
  private plainTok: HfTokenizer | null = null;
  private jsonText: string | null = null;
  private added: [number, number] | null = null;
  private cuts: [CutProfile | null, CutProfile | null] = [null, null];

  private constructor(json: TokenizerJson, text: string, source: string, report: BpeTrainReport | null) {
    this.json = json;
    this.source = source;
    this.trainReport = report;
    this.full = loadHf(text, source, json);
    const post = postProcessorOutput(json.post_processor, 'post_processor', fieldError(source));
    this.vocabSize = Math.max(this.full.getVocabSize(true), idBound(json, this.full, source, post.ids));
    this.typeVocabSize = post.typeIds;
    const specials = new Map<string, number>();
    for (const t of json.added_tokens ?? []) if (t.special) specials.set(t.content, t.id);
    const ids: SpecialIds = { pad: null, unk: null, cls: null, sep: null, mask: null };
    for (const role of Object.keys(ROLE_TOKENS) as (keyof SpecialIds)[]) {
      const tok = ROLE_TOKENS[role].find((t) => specials.has(t));
      if (tok !== undefined) ids[role] = specials.get(tok)!;
    }
    const unkToken = json.model.unk_token;
    if (ids.unk === null && typeof unkToken === 'string') ids.unk = this.full.tokenToId(unkToken) ?? null;
    this.specialIds = Object.freeze(ids);
  }

  /** Loads a Hugging Face tokenizer.json file. Errors name the file and the faulty field. */
  static fromFile(path: string): Tokenizer {
    const text = readText(path, 'tokenizer file');
    const json = parseJson(text, path);
    validateTokenizerJson(json, path);
    return new Tokenizer(json, text, path, null);
  }

  /** Loads a tokenizer.json given as an object or as JSON text; `source` names it in errors. */
  static fromJson(json: object | string, source = '<tokenizer.json>'): Tokenizer {
    if (typeof json === 'string') {
      const parsed = parseJson(json, source);
      validateTokenizerJson(parsed, source);
      return new Tokenizer(parsed, json, source, null);
    }
    const copy = structuredClone(json) as unknown;
    validateTokenizerJson(copy, source);
    return new Tokenizer(copy, JSON.stringify(copy), source, null);
  }

  /** GPT-2 style files: encoder.json (or vocab.json) and vocab.bpe (or merges.txt). */
  static fromGpt2Files(encoderJsonPath: string, vocabBpePath: string): Tokenizer {
    const encoder = parseJson(readText(encoderJsonPath, 'GPT-2 encoder'), encoderJsonPath);
    const json = gpt2TokenizerJson(encoder as Record<string, number>, readText(vocabBpePath, 'GPT-2 merges'), vocabBpePath);
    validateTokenizerJson(json, `${encoderJsonPath} + ${vocabBpePath}`);
    return new Tokenizer(json, JSON.stringify(json), encoderJsonPath, null);
  }

  /** Trains a byte-level BPE tokenizer on `texts` (see trainBpe); `trainReport` says how it went. */
  static train(texts: Iterable<string>, opts: BpeTrainOptions): Tokenizer {
    const { tokenizer, report } = trainBpeWithReport(texts, opts);
    return new Tokenizer(tokenizer, JSON.stringify(tokenizer), '<trained>', report);
  }

  /** Writes tokenizer.json atomically (a temporary file in the same folder, then a rename). */
  save(path: string): void {
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
    try {
      writeFileSync(tmp, this.toJsonString());
      renameSync(tmp, path);
    } catch (e) {
      try {
        unlinkSync(tmp);
      } catch {
        /* never written */
      }
      throw new Error(`${path}: cannot save tokenizer: ${(e as Error).message}`);
    }
  }

  /** The tokenizer.json text, exactly as save() writes it (deterministic: usable as a cache key). */
  toJsonString(): string {
    this.jsonText ??= stringifyTokenizerJson(this.json);
    return this.jsonText;
  }

  /** A copy of the tokenizer.json object. */
  toJson(): TokenizerJson {
    return structuredClone(this.json);
  }

  idToToken(id: number): string | null {
    if (!isNonNegInt(id) || id >= this.vocabSize) return null;
    return this.full.idToToken(id) ?? null;
  }

  tokenToId(token: string): number | null {
    return this.full.tokenToId(token) ?? null;
  }

  /** The binding with special tokens demoted to text (built on first use). */
  private plain(): HfTokenizer {
    if (this.plainTok === null) {
      const added = this.json.added_tokens ?? [];
      if (!added.some((t) => t.special)) {
        this.plainTok = this.full;
      } else {
        const json = { ...this.json, added_tokens: added.filter((t) => !t.special) };
        this.plainTok = loadHf(JSON.stringify(json), this.source, json);
      }
    }
    return this.plainTok;
  }

  /** How many ids the post-processor adds to a single text and to a pair. */
  private async addedCounts(tok: HfTokenizer): Promise<[number, number]> {
    if (this.added === null) {
      const empty = await tok.encode('', null, { addSpecialTokens: false });
      const empty2 = await tok.encode('', null, { addSpecialTokens: false });
      this.added = [tok.postProcess(empty, null, true).getLength(), tok.postProcess(empty, empty2, true).getLength()];
    }
    return this.added;
  }

  /** How texts are cut for this tokenizer (./cut.ts), with or without special tokens parsed. */
  cutProfile(parseSpecialTokens = false): CutProfile {
    const k = parseSpecialTokens ? 1 : 0;
    this.cuts[k] ??= cutProfile(this.json, parseSpecialTokens);
    return this.cuts[k];
  }

  /**
   * Encodes texts (and, optionally, a second text per row: pairs[i] goes with texts[i]).
   * Runs on the binding's thread pool. With a maxLength, a long text is cut before it is encoded
   * (see encodeCut), so any text costs memory for about maxLength ids, not for its length.
   */
  async encodeBatch(texts: string[], pairs?: string[] | null, opts: EncodeOptions = {}): Promise<EncodedText[]> {
    checkTexts(texts, 'texts');
    if (pairs !== undefined && pairs !== null) {
      checkTexts(pairs, 'pairs');
      if (pairs.length !== texts.length) {
        throw new RangeError(`Tokenizer.encodeBatch: pairs has ${pairs.length} texts, texts has ${texts.length}`);
      }
    } else {
      pairs = null;
    }
    const add = opts.addSpecialTokens ?? true;
    const maxLength = opts.maxLength;
    if (maxLength !== undefined && !(Number.isInteger(maxLength) && maxLength >= 1)) {
      throw new RangeError(`Tokenizer.encodeBatch: maxLength must be a positive integer, got ${String(maxLength)}`);
    }
    const parse = opts.parseSpecialTokens ?? false;
    const tok = parse ? this.full : this.plain();
    if (pairs === null && maxLength === undefined) {
      return (await tok.encodeBatch(texts.map(toWellFormed), { addSpecialTokens: add })).map(toEncoded);
    }
    // The binding's batch call takes no pairs and its truncation is tokenizer-wide state, so encode
    // each side bare, truncate (Hugging Face's longest-first rule), then post-process.
    let budget = Infinity;
    if (maxLength !== undefined) {
      const nAdded = add ? (await this.addedCounts(tok))[pairs === null ? 0 : 1] : 0;
      budget = maxLength - nAdded;
      if (budget < 0) {
        throw new RangeError(`Tokenizer.encodeBatch: maxLength ${maxLength} leaves no room for the ${nAdded} special tokens added`);
      }
    }
    const sides = async (list: string[]) =>
      maxLength === undefined
        ? { enc: await tok.encodeBatch(list.map(toWellFormed), { addSpecialTokens: false }), cut: null }
        : this.encodeCut(tok, list, maxLength, parse);
    const a = await sides(texts);
    const b = pairs === null ? null : await sides(pairs);
    const out: EncodedText[] = [];
    for (let i = 0; i < texts.length; i++) {
      const e = a.enc[i];
      const f = b === null ? null : b.enc[i];
      if (budget !== Infinity) {
        let la = e.getLength();
        let lb = f === null ? 0 : f.getLength();
        // A cut side has more than maxLength ids, so it is truncated as the whole text would be,
        // except in one case: both sides outgrow the budget, each keeps half of it, and an odd id
        // goes to the longer side, longer on the whole texts. Then the cut sides are counted whole
        // (in pieces, so in bounded memory).
        const cutA = a.cut?.[i] ?? false;
        const cutB = b?.cut?.[i] ?? false;
        if (f !== null && (cutA || cutB) && budget % 2 === 1 && la > budget && lb > budget) {
          if (cutA) la = (await this.encodeWhole([texts[i]], { parseSpecialTokens: parse }))[0].length;
          if (cutB) lb = (await this.encodeWhole([pairs![i]], { parseSpecialTokens: parse }))[0].length;
        }
        truncatePair(e, f, budget, la, lb);
      }
      out.push(toEncoded(f === null && !add ? e : tok.postProcess(e, f, add)));
    }
    return out;
  }

  /**
   * Encodes texts bare, each cut first where its first maxLength ids cannot change (./cut.ts):
   * `cut[i]` says text i was cut, and then its encoding has more than maxLength ids (so truncating
   * it gives what truncating the whole text would), unless even the furthest cut gave no more.
   */
  private async encodeCut(tok: HfTokenizer, texts: string[], maxLength: number, parse: boolean): Promise<{ enc: HfEncoding[]; cut: boolean[] }> {
    const prof = this.cutProfile(parse);
    const scale = prof.proven ? 1 : UNPROVEN_FACTOR;
    // Enough for a byte-level BPE (each token covers at most tokenChars bytes; ./cut.ts).
    const enough = (maxLength + 1) * prof.tokenChars * scale;
    const furthest = Math.max(enough, MAX_CUT_CHARS);
    let minChars = Math.min((maxLength + 1) * CUT_CHARS_PER_ID * scale, enough);
    const ends = texts.map((t) => cutEnd(t, minChars));
    const prefix = (i: number) => toWellFormed(ends[i] < texts[i].length ? texts[i].slice(0, ends[i]) : texts[i]);
    const enc = await tok.encodeBatch(
      texts.map((_, i) => prefix(i)),
      { addSpecialTokens: false },
    );
    const short = (i: number) => ends[i] < texts[i].length && enc[i].getLength() <= maxLength;
    // Too few ids: long tokens, or characters that make none (BERT drops whitespace and control
    // characters, and makes one [UNK] of a long word). Cut again, further out.
    let redo = texts.map((_, i) => i).filter(short);
    while (redo.length > 0 && minChars < furthest) {
      minChars = Math.min(minChars * 4, furthest);
      for (const i of redo) ends[i] = cutEnd(texts[i], minChars);
      const again = await tok.encodeBatch(
        redo.map((i) => prefix(i)),
        { addSpecialTokens: false },
      );
      redo.forEach((i, k) => (enc[i] = again[k]));
      redo = redo.filter(short);
    }
    return { enc, cut: ends.map((e, i) => e < texts[i].length) };
  }

  /**
   * The ids of each whole text, without special tokens: what encodeBatch(texts, null,
   * {addSpecialTokens: false}) gives, but encoded in pieces of PIECE_CHARS to 2 x PIECE_CHARS
   * characters cut where the ids cannot change (./cut.ts), a few hundred thousand characters per
   * call, so memory follows the piece size, not the text (4 bytes per id are kept). For a pipeline
   * that ./cut.ts does not prove (cutProfile().proven false) the ids next to a piece's end may differ.
   */
  async encodeWhole(texts: string[], opts: Pick<EncodeOptions, 'parseSpecialTokens'> = {}): Promise<Int32Array[]> {
    checkTexts(texts, 'texts');
    const tok = opts.parseSpecialTokens ? this.full : this.plain();
    const parts: Int32Array[][] = texts.map(() => []);
    let batch: string[] = [];
    let owners: number[] = [];
    let chars = 0;
    const flush = async () => {
      const enc = await tok.encodeBatch(batch, { addSpecialTokens: false });
      enc.forEach((e, k) => parts[owners[k]].push(Int32Array.from(e.getIds())));
      batch = [];
      owners = [];
      chars = 0;
    };
    for (let i = 0; i < texts.length; i++) {
      const t = texts[i];
      let start = 0;
      for (const end of pieceEnds(t, PIECE_CHARS)) {
        batch.push(toWellFormed(start === 0 && end === t.length ? t : t.slice(start, end)));
        owners.push(i);
        chars += end - start;
        start = end;
        if (chars >= BATCH_CHARS) await flush();
      }
    }
    if (batch.length > 0) await flush();
    return parts.map((p) => {
      if (p.length === 1) return p[0];
      const out = new Int32Array(p.reduce((n, x) => n + x.length, 0));
      let o = 0;
      for (const x of p) {
        out.set(x, o);
        o += x.length;
      }
      return out;
    });
  }

  async encode(text: string, pair?: string | null, opts: EncodeOptions = {}): Promise<EncodedText> {
    if (typeof text !== 'string') throw new TypeError(`Tokenizer.encode: text is ${typeof text}, not a string`);
    if (pair !== undefined && pair !== null && typeof pair !== 'string') throw new TypeError(`Tokenizer.encode: pair is ${typeof pair}, not a string`);
    return (await this.encodeBatch([text], pair === undefined || pair === null ? null : [pair], opts))[0];
  }

  /** Ids back to text; special tokens are left out unless skipSpecial is false. */
  async decode(ids: ArrayLike<number>, skipSpecial = true): Promise<string> {
    const list = Array.from(ids);
    for (let i = 0; i < list.length; i++) {
      if (!isNonNegInt(list[i]) || list[i] >= this.vocabSize) {
        throw new RangeError(`Tokenizer.decode: ids[${i}] = ${list[i]} is not an id in [0, ${this.vocabSize})`);
      }
    }
    return this.full.decode(list, skipSpecial);
  }
}

/**
 * Hugging Face's longest-first truncation of one or two encodings to `budget` ids in total, `la`
 * and `lb` ids long on the whole texts (an encoding of a cut text is shorter, but long enough).
 * The direction is spelled out: the binding's Encoding.truncate defaults to 'left' (drops the start).
 */
function truncatePair(a: HfEncoding, b: HfEncoding | null, budget: number, la: number, lb: number): void {
  if (b === null) {
    if (a.getLength() > budget) a.truncate(budget, 0, 'right');
    return;
  }
  if (la + lb <= budget) return;
  let n1 = Math.min(la, lb);
  let n2 = n1 > budget ? n1 : Math.max(n1, budget - n1);
  if (n1 + n2 > budget) {
    n1 = Math.floor(budget / 2);
    n2 = n1 + (budget % 2);
  }
  const [na, nb] = la > lb ? [n2, n1] : [n1, n2];
  if (a.getLength() > na) a.truncate(na, 0, 'right');
  if (b.getLength() > nb) b.truncate(nb, 0, 'right');
}
