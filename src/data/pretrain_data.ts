// Pretraining data: documents -> tokenizer -> one token stream -> fixed-length sequences.
//
// Documents are joined with [SEP] between them, and the stream is cut into windows of seqLen-2
// tokens, each framed as [CLS] ... [SEP]. Packing wastes nothing on padding, so every position
// of every batch is real text. Tokenized streams and trained tokenizers are cached under the cache
// folder, keyed by a hash of what produced them.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../engine/index.js';
import { writeFileAtomic } from '../util/atomic.js';
import { Tokenizer } from './tokenizer/index.js';
import { builtinPretrainDocuments, pretrainHeldOut, readCorpus } from './corpus/index.js';

export interface CorpusSpec {
  corpus: string;
  format: 'auto' | 'txt' | 'jsonl';
  field: string;
  heldOutFraction: number;
}

export interface CorpusTexts {
  train: string[];
  heldOut: string[];
  /** Identifies the corpus content, for cache keys. */
  fingerprint: string;
}

function cacheDir(): string {
  return process.env.PATHWISE_CACHE ?? join(process.cwd(), '.cache', 'pathwise');
}

function sha(...parts: (string | Uint8Array)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex').slice(0, 16);
}

function filesOf(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .filter((f) => /\.(txt|jsonl)$/.test(f))
    .sort()
    .map((f) => join(path, f));
}

/**
 * Loads the corpus texts and its held-out part. The built-in corpus has a fixed held-out slice;
 * a user corpus holds out a seeded share of its documents (or, with a single document, its tail).
 * Throws CorpusError (from the reader) for a missing, empty or malformed corpus.
 */
export function loadCorpusTexts(spec: CorpusSpec): CorpusTexts {
  if (spec.corpus === 'builtin') {
    const train = Array.from(builtinPretrainDocuments(), (d) => d.text);
    const heldOut = Array.from(pretrainHeldOut(), (d) => d.text);
    return { train, heldOut, fingerprint: 'builtin-v1' };
  }
  const docs = readCorpus(spec.corpus, { format: spec.format, field: spec.field }).map((d) => d.text);
  const fingerprint = sha('user-v1', spec.format, spec.field, ...filesOf(spec.corpus).map((f) => readFileSync(f)));
  if (docs.length >= 2) {
    const idx = Array.from(docs.keys());
    new Rng(0x5eed).shuffle(idx);
    const nHeld = Math.max(1, Math.round(docs.length * spec.heldOutFraction));
    const held = new Set(idx.slice(0, nHeld));
    return { train: docs.filter((_, i) => !held.has(i)), heldOut: docs.filter((_, i) => held.has(i)), fingerprint };
  }
  const text = docs[0];
  const cut = Math.floor(text.length * (1 - spec.heldOutFraction));
  return { train: [text.slice(0, cut)], heldOut: [text.slice(cut)], fingerprint };
}

/** Trains (or loads from the cache) the byte-level BPE tokenizer for a corpus. */
export function tokenizerFor(texts: CorpusTexts, vocabSize: number, log: (s: string) => void): Tokenizer {
  const file = join(cacheDir(), `tokenizer-${sha(texts.fingerprint, String(vocabSize))}.json`);
  if (existsSync(file)) return Tokenizer.fromFile(file);
  log(`training a ${vocabSize}-token byte-level BPE tokenizer on ${texts.train.length} documents...`);
  const t0 = performance.now();
  const tok = Tokenizer.train(texts.train, { vocabSize });
  mkdirSync(cacheDir(), { recursive: true });
  tok.save(file);
  log(`tokenizer trained in ${((performance.now() - t0) / 1000).toFixed(1)} s (cached at ${file})`);
  return tok;
}

/**
 * Encodes documents into one stream with [SEP] between documents. Every id of every document is
 * used, however long: Tokenizer.encodeWhole encodes a long document in pieces cut where the ids
 * cannot change, so memory follows the piece size and the stream (4 bytes per id), not the longest
 * document. A 50 MB one-line corpus gives all its ~10M ids as windows, as a corpus of many short
 * documents would: what is bounded is memory, not how much of the corpus is used.
 */
async function tokenStream(tok: Tokenizer, docs: string[]): Promise<Int32Array> {
  const sep = tok.specialIds.sep;
  if (sep === null) throw new Error('the tokenizer has no [SEP] token');
  const parts: Int32Array[] = [];
  let total = 0;
  for (let i = 0; i < docs.length; i += 512) {
    for (const ids of await tok.encodeWhole(docs.slice(i, i + 512))) {
      parts.push(ids, Int32Array.of(sep));
      total += ids.length + 1;
    }
  }
  const out = new Int32Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Cuts a stream into [CLS] + (seqLen-2 tokens) + [SEP] sequences; returns [N * seqLen]. */
function packSequences(stream: Int32Array, seqLen: number, cls: number, sep: number): Int32Array {
  const body = seqLen - 2;
  const n = Math.floor(stream.length / body);
  const out = new Int32Array(n * seqLen);
  for (let i = 0; i < n; i++) {
    out[i * seqLen] = cls;
    out.set(stream.subarray(i * body, (i + 1) * body), i * seqLen + 1);
    out[i * seqLen + seqLen - 1] = sep;
  }
  return out;
}

export interface PackedData {
  train: Int32Array;
  heldOut: Int32Array;
  seqLen: number;
  trainSequences: number;
  heldOutSequences: number;
  trainTokens: number;
}

function readI32(file: string): Int32Array {
  const b = readFileSync(file);
  return new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** Tokenized and packed train / held-out sequences, cached by (corpus, tokenizer, seqLen). */
export async function packedData(texts: CorpusTexts, tok: Tokenizer, seqLen: number, log: (s: string) => void): Promise<PackedData> {
  const key = sha(texts.fingerprint, tok.toJsonString(), 'stream-v1');
  const trainFile = join(cacheDir(), `tokens-${key}-train.i32`);
  const heldFile = join(cacheDir(), `tokens-${key}-heldout.i32`);
  let train: Int32Array;
  let held: Int32Array;
  if (existsSync(trainFile) && existsSync(heldFile)) {
    train = readI32(trainFile);
    held = readI32(heldFile);
  } else {
    log(`tokenizing ${texts.train.length} documents...`);
    const t0 = performance.now();
    train = await tokenStream(tok, texts.train);
    held = await tokenStream(tok, texts.heldOut);
    writeFileAtomic(trainFile, new Uint8Array(train.buffer, train.byteOffset, train.byteLength));
    writeFileAtomic(heldFile, new Uint8Array(held.buffer, held.byteOffset, held.byteLength));
    log(`tokenized ${train.length} + ${held.length} tokens in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const { cls, sep } = tok.specialIds;
  if (cls === null || sep === null) throw new Error('the tokenizer needs [CLS] and [SEP] tokens');
  const p = packSequences(train, seqLen, cls, sep);
  const h = packSequences(held, seqLen, cls, sep);
  if (p.length === 0) throw new Error(`the corpus has ${train.length} tokens: too few for one sequence of ${seqLen}`);
  if (h.length === 0)
    throw new Error(`the held-out text has ${held.length} tokens: too few for one sequence of ${seqLen}; use a larger corpus or data.heldOutFraction`);
  return { train: p, heldOut: h, seqLen, trainSequences: p.length / seqLen, heldOutSequences: h.length / seqLen, trainTokens: train.length };
}
