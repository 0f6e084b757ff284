// The user's own pretraining corpus: a .txt or .jsonl file, or a directory of them.
//
//  - txt: one document per block of non-blank lines (blocks are separated by blank or
//    whitespace-only lines); a document keeps its line breaks, trailing spaces removed.
//  - jsonl: one JSON object per non-blank line; the document is the string in `field`
//    (default "text"). Blank lines are skipped, so is an object whose field is whitespace only.
//  - auto (the default): .jsonl / .ndjson -> jsonl, .txt -> txt; any other extension is jsonl when
//    its first non-blank line is a JSON object, else txt.
//  - a directory: its .txt and .jsonl files (not sub-directories), in sorted name order, each read
//    with `format` (auto: by its own extension).
// Files may start with a UTF-8 byte order mark (dropped) and use CRLF or CR line ends.
//
// Validation is strict: a missing path, a corpus with no non-whitespace text, invalid UTF-8 and a
// malformed JSONL line all throw CorpusError naming the file (and line, and byte offset for UTF-8),
// which the CLI maps to exit code 2.

import { readdirSync, statSync, type Stats } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { InputError } from '../../util/errors.js';
import { describeJson, parseJsonlObjects } from '../../util/jsonl.js';
import { decodeUtf8Strict, firstInvalidUtf8 } from '../../util/utf8.js';
import { readFileOr } from '../../util/read_file.js';

/** A corpus file (or directory) that cannot be used; names the file and line. */
export class CorpusError extends InputError {}

export type CorpusFormat = 'txt' | 'jsonl' | 'auto';

export interface ReadCorpusOptions {
  format?: CorpusFormat;
  /** JSONL field holding the text; default "text". */
  field?: string;
}

export interface CorpusDocument {
  /** The file it came from. */
  source: string;
  /** `${file name}:${line}`, unique within the corpus. */
  id: string;
  /** 1-based line where the document starts. */
  line: number;
  text: string;
}

export { firstInvalidUtf8 };

function formatOf(file: string, text: string, format: CorpusFormat): 'txt' | 'jsonl' {
  if (format !== 'auto') return format;
  const ext = extname(file).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.txt') return 'txt';
  const first = text.split('\n').find((l) => l.trim() !== '');
  if (first === undefined) return 'txt';
  try {
    const v: unknown = JSON.parse(first);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? 'jsonl' : 'txt';
  } catch {
    return 'txt';
  }
}

function parseTxt(text: string, file: string): CorpusDocument[] {
  const out: CorpusDocument[] = [];
  const name = basename(file);
  const lines = text.split('\n');
  let block: string[] = [];
  let start = 0;
  const flush = () => {
    if (block.length > 0) out.push({ source: file, id: `${name}:${start}`, line: start, text: block.join('\n') });
    block = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i].trimEnd();
    if (l.trim() === '') {
      flush();
      continue;
    }
    if (block.length === 0) start = i + 1;
    block.push(l);
  }
  flush();
  return out;
}

function parseJsonl(text: string, file: string, field: string): CorpusDocument[] {
  const out: CorpusDocument[] = [];
  const name = basename(file);
  for (const { line, value: v } of parseJsonlObjects(text, file, CorpusError, `a JSON object with a "${field}" string`)) {
    if (!Object.hasOwn(v, field)) {
      throw new CorpusError(`${file} line ${line}: the object has no "${field}" field`, file, line);
    }
    const t = v[field];
    if (typeof t !== 'string') throw new CorpusError(`${file} line ${line}: field "${field}" is ${describeJson(t)}, not a string`, file, line);
    if (t.trim() === '') continue;
    out.push({ source: file, id: `${name}:${line}`, line, text: t });
  }
  return out;
}

/** The files a corpus path stands for: the file itself, or a directory's .txt/.jsonl files in sorted order. */
export function corpusFiles(path: string): string[] {
  let st: Stats;
  try {
    st = statSync(path);
  } catch {
    throw new CorpusError(`corpus file not found: ${path}`, path);
  }
  if (st.isFile()) return [path];
  if (!st.isDirectory()) throw new CorpusError(`corpus path is neither a file nor a directory: ${path}`, path);
  const files = readdirSync(path)
    .filter((f) => /\.(txt|jsonl)$/.test(f))
    .sort()
    .map((f) => join(path, f))
    .filter((f) => statSync(f).isFile());
  if (files.length === 0) throw new CorpusError(`corpus directory has no .txt or .jsonl files: ${path}`, path);
  return files;
}

/** Reads one corpus file. */
function readFile(file: string, format: CorpusFormat, field: string): CorpusDocument[] {
  const bytes = readFileOr(file, (code, e) =>
    code === 'ENOENT' ? new CorpusError(`corpus file not found: ${file}`, file) : new CorpusError(`cannot read corpus file ${file}: ${e.message}`, file),
  );
  const text = decodeUtf8Strict(bytes, file, CorpusError);
  return formatOf(file, text, format) === 'jsonl' ? parseJsonl(text, file, field) : parseTxt(text, file);
}

/**
 * Reads a user corpus (file or directory) into documents, in file then line order. Throws
 * CorpusError for a missing path, invalid UTF-8, a malformed JSONL line, or a corpus without any
 * non-whitespace text.
 */
export function readCorpus(path: string, opts: ReadCorpusOptions = {}): CorpusDocument[] {
  const format = opts.format ?? 'auto';
  const field = opts.field ?? 'text';
  if (format !== 'auto' && format !== 'txt' && format !== 'jsonl') {
    throw new CorpusError(`unknown corpus format "${String(format)}" (expected txt, jsonl or auto)`, path);
  }
  if (typeof field !== 'string' || field === '') throw new CorpusError('the JSONL field name must be a non-empty string', path);
  const files = corpusFiles(path);
  const docs: CorpusDocument[] = [];
  for (const f of files) for (const d of readFile(f, format, field)) docs.push(d);
  if (docs.length === 0) {
    const what = files.length === 1 && files[0] === path ? `corpus file ${path} is empty` : `corpus ${path} is empty (${files.length} files)`;
    throw new CorpusError(`${what}: no non-whitespace text`, path);
  }
  return docs;
}
