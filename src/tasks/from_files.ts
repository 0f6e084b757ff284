// Tasks from the user's own data files: JSONL or CSV, one example per line (record).
//
// A task config names the task, its type and its files:
//   { name, type, labels?, train, dev?, test?, devFraction?, seed?, format? }
//  - labels: the label (tag) set. Given: every example must use one of them, and the order is kept.
//    Omitted: inferred from the TRAIN file, sorted in code-unit order; a dev/test label outside it
//    is then an error too (pass `labels` to allow it). Regression tasks take no labels.
//  - dev: when omitted, devFraction (default 0.1) of the train file is carved off as dev with a
//    fixed-seed shuffle (Rng(seed), default SPLIT_SEED), at least one example when devFraction > 0
//    and the file has two or more; devFraction 0 gives an empty dev set.
//  - test: when omitted, the test set is empty.
//  - format: 'jsonl' | 'csv' | 'auto' (default): .jsonl / .ndjson / .json -> JSONL, .csv -> CSV,
//    anything else by its first non-blank character ('{' -> JSONL, else CSV).
//
// Fields (JSONL keys; CSV header columns, in any order; other fields/columns are ignored):
//  - text:       string, non-blank. Tagging JSONL may give `words` instead (then text = words
//                joined by spaces).
//  - text_pair:  string, required for pair_classification (optional for regression).
//  - label:      classification / pair_classification: a string (a JSON number is accepted and
//                turned into its decimal string); regression: a finite number (CSV: a decimal
//                numeral). Not used by tagging.
//  - tags:       tagging only. JSONL: an array of strings, one per word of `words` (an array of
//                strings) when given, else one per whitespace-separated word of `text`. CSV: one
//                string of space-separated tags, one per whitespace-separated word of `text`.
// CSV follows RFC 4180: comma-separated, a field may be quoted with "..." (then it may hold commas,
// line breaks and doubled quotes ""), a header row is required; a leading BOM and CRLF line ends
// are tolerated and blank lines are skipped. A quote inside an unquoted field, text after a closing
// quote, an unterminated quote and a row with the wrong number of fields are errors.
//
// Validation is strict: the first bad line throws TaskDataError naming the file and 1-based line
// (for CSV, the line where the record starts), and nothing is returned from half-read data. Errors:
// a missing or unreadable file, invalid UTF-8 (line and byte offset, as the corpus reader reports
// it), an empty file (no examples), invalid JSON or a non-object line, a missing or ill-typed
// field, a label outside the label set (naming the label and the set), tags whose count differs
// from the words', and malformed CSV.

import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { Rng } from '../engine/index.js';
import { InputError } from '../util/errors.js';
import { describeJson, parseJsonlObjects } from '../util/jsonl.js';
import { decodeUtf8Strict } from '../util/utf8.js';
import { SPLIT_SEED } from '../data/splits.js';
import { TASK_TYPES, type Example, type TaskData, type TaskType } from './task.js';

/** A task data file (or task config, file "<config>") that cannot be used. */
export class TaskDataError extends InputError {}

export type TaskFileFormat = 'jsonl' | 'csv' | 'auto';

export interface TaskFileConfig {
  name: string;
  type: TaskType;
  /** The label (tag) set; inferred from train (sorted) when omitted; not allowed for regression. */
  labels?: string[];
  train: string;
  dev?: string;
  test?: string;
  /** Fraction of train carved off as dev when `dev` is omitted; default 0.1. */
  devFraction?: number;
  /** Seed of the dev carve; default SPLIT_SEED. */
  seed?: number;
  format?: TaskFileFormat;
}

export const DEFAULT_DEV_FRACTION = 0.1;

/** One raw record: field name -> value, and the 1-based line it starts on. */
interface RawRecord {
  line: number;
  fields: Record<string, unknown>;
  /** CSV values are all strings; JSONL values keep their JSON types. */
  csv: boolean;
}

function readJsonl(text: string, file: string): RawRecord[] {
  return parseJsonlObjects(text, file, TaskDataError).map(({ line, value }) => ({ line, fields: value, csv: false }));
}

/**
 * Parses RFC 4180 CSV (text already decoded, \n line ends) into rows of fields, each with the
 * 1-based line it starts on. Completely empty lines outside quotes are skipped.
 */
export function parseCsv(text: string, file: string): { line: number; fields: string[] }[] {
  const rows: { line: number; fields: string[] }[] = [];
  const n = text.length;
  let i = 0;
  let line = 1;
  while (i < n) {
    if (text[i] === '\n') {
      // a blank line
      i++;
      line++;
      continue;
    }
    const start = line;
    const fields: string[] = [];
    for (;;) {
      let field = '';
      if (text[i] === '"') {
        const quoteLine = line;
        i++;
        for (;;) {
          if (i >= n) throw new TaskDataError(`${file} line ${quoteLine}: unterminated quoted field (the quote opened on line ${quoteLine} is never closed)`, file, quoteLine);
          const c = text[i];
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\n') line++;
          field += c;
          i++;
        }
        if (i < n && text[i] !== ',' && text[i] !== '\n') {
          throw new TaskDataError(`${file} line ${line}: unexpected ${JSON.stringify(text[i])} after a closing quote (a quote inside a quoted field must be doubled: "")`, file, line);
        }
      } else {
        const s = i;
        while (i < n && text[i] !== ',' && text[i] !== '\n') {
          if (text[i] === '"') throw new TaskDataError(`${file} line ${line}: a quote inside an unquoted field (quote the whole field and double inner quotes: "a ""b"" c")`, file, line);
          i++;
        }
        field = text.slice(s, i);
      }
      fields.push(field);
      if (i < n && text[i] === ',') {
        i++;
        continue;
      }
      if (i < n) {
        // '\n'
        i++;
        line++;
      }
      break;
    }
    rows.push({ line: start, fields });
  }
  return rows;
}

function readCsv(text: string, file: string): RawRecord[] {
  const rows = parseCsv(text, file);
  if (rows.length === 0) throw new TaskDataError(`${file}: empty file (a CSV task file needs a header row and at least one data row)`, file, 1);
  const header = rows[0].fields;
  const seen = new Set<string>();
  for (const h of header) {
    if (seen.has(h)) throw new TaskDataError(`${file} line ${rows[0].line}: duplicate header column "${h}"`, file, rows[0].line);
    seen.add(h);
  }
  if (!seen.has('text')) {
    throw new TaskDataError(`${file} line ${rows[0].line}: the header row has no "text" column (header: ${header.map((h) => JSON.stringify(h)).join(', ')})`, file, rows[0].line);
  }
  const out: RawRecord[] = [];
  for (let r = 1; r < rows.length; r++) {
    const { line, fields } = rows[r];
    if (fields.length !== header.length) {
      throw new TaskDataError(`${file} line ${line}: ${fields.length} fields, but the header has ${header.length}`, file, line);
    }
    const rec: Record<string, unknown> = {};
    header.forEach((h, k) => (rec[h] = fields[k]));
    out.push({ line, fields: rec, csv: true });
  }
  return out;
}

function formatOf(file: string, text: string, format: TaskFileFormat): 'jsonl' | 'csv' {
  if (format === 'jsonl' || format === 'csv') return format;
  const ext = extname(file).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return 'jsonl';
  if (ext === '.csv') return 'csv';
  const first = text.trimStart()[0];
  return first === '{' ? 'jsonl' : 'csv';
}

interface Checker {
  type: TaskType;
  /** The label set; null while it is being inferred (train file without given labels). */
  labels: Set<string> | null;
  labelList: string[] | null;
}

function toExample(rec: RawRecord, file: string, ck: Checker): Example {
  const { line, fields: f } = rec;
  const fail = (what: string): never => {
    throw new TaskDataError(`${file} line ${line}: ${what}`, file, line);
  };
  const has = (k: string) => Object.hasOwn(f, k) && f[k] !== undefined;
  const str = (k: string): string => {
    if (!has(k)) fail(`missing field "${k}"`);
    const v = f[k];
    if (typeof v !== 'string') fail(`field "${k}" is ${describeJson(v)}, not a string`);
    return v as string;
  };
  const checkLabel = (label: string, what: string) => {
    if (ck.labels && !ck.labels.has(label)) {
      fail(`${what} ${JSON.stringify(label)} is not in the label set [${ck.labelList!.map((l) => JSON.stringify(l)).join(', ')}]`);
    }
  };

  const ex: Example = { text: '' };
  // words and text
  let words: string[] | undefined;
  if (ck.type === 'tagging' && !rec.csv && has('words')) {
    const w = f.words;
    if (!Array.isArray(w)) fail(`field "words" is ${describeJson(w)}, not an array of strings`);
    (w as unknown[]).forEach((x, k) => {
      if (typeof x !== 'string') fail(`field "words": element ${k} is ${describeJson(x)}, not a string`);
      if ((x as string).trim() === '' || /\s/.test(x as string)) fail(`field "words": element ${k} (${JSON.stringify(x)}) is empty or holds whitespace`);
    });
    words = w as string[];
    if (words.length === 0) fail('field "words" is empty');
    ex.text = has('text') ? str('text') : words.join(' ');
  } else {
    ex.text = str('text');
  }
  if (ex.text.trim() === '' && !words) fail('field "text" is blank');

  if (ck.type === 'pair_classification' || (ck.type === 'regression' && has('text_pair'))) {
    ex.textPair = str('text_pair');
  }

  if (ck.type === 'classification' || ck.type === 'pair_classification') {
    if (!has('label')) fail('missing field "label"');
    const v = f.label;
    let label: string;
    if (typeof v === 'string') label = v;
    else if (typeof v === 'number' && Number.isFinite(v)) label = String(v);
    else return fail(`field "label" is ${describeJson(v)}, not a string`);
    if (label === '') fail('field "label" is empty');
    checkLabel(label, 'label');
    ex.label = label;
  } else if (ck.type === 'regression') {
    if (!has('label')) fail('missing field "label"');
    const v = f.label;
    let x: number;
    if (typeof v === 'number') x = v;
    else if (rec.csv && typeof v === 'string' && /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(v)) x = Number(v);
    else return fail(`field "label" is ${rec.csv ? JSON.stringify(v) : describeJson(v)}, not a number`);
    if (!Number.isFinite(x)) fail(`field "label" is not a finite number`);
    ex.label = x;
  } else {
    // tagging
    if (!has('tags')) fail('missing field "tags"');
    const v = f.tags;
    let tags: string[];
    if (rec.csv) {
      const s = v as string;
      tags = s.trim() === '' ? [] : s.trim().split(/\s+/);
    } else {
      if (!Array.isArray(v)) return fail(`field "tags" is ${describeJson(v)}, not an array of strings`);
      (v as unknown[]).forEach((x, k) => {
        if (typeof x !== 'string' || x === '') fail(`field "tags": element ${k} is ${typeof x === 'string' ? 'empty' : describeJson(x)}, not a tag string`);
      });
      tags = v as string[];
    }
    const w = words ?? (ex.text.trim() === '' ? [] : ex.text.trim().split(/\s+/));
    if (w.length === 0) fail('no words to tag (empty "text")');
    if (tags.length !== w.length) {
      fail(`${tags.length} tags for ${w.length} words (${words ? '"words"' : 'whitespace-separated words of "text"'}); tags must align one per word`);
    }
    tags.forEach((t) => checkLabel(t, 'tag'));
    ex.words = w;
    ex.tags = tags;
  }
  return ex;
}

/** Reads and validates one task file. `labels` null: collect (train without given labels). */
export function readTaskFile(file: string, type: TaskType, labels: readonly string[] | null, format: TaskFileFormat = 'auto'): Example[] {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new TaskDataError(`task data file not found: ${file}`, file);
    throw new TaskDataError(`cannot read task data file ${file}: ${(e as Error).message}`, file);
  }
  const text = decodeUtf8Strict(bytes, file, TaskDataError);
  if (text.trim() === '') throw new TaskDataError(`${file}: empty file (no examples)`, file, 1);
  const records = formatOf(file, text, format) === 'jsonl' ? readJsonl(text, file) : readCsv(text, file);
  if (records.length === 0) throw new TaskDataError(`${file}: empty file (no examples)`, file, 1);
  const ck: Checker = { type, labels: labels ? new Set(labels) : null, labelList: labels ? [...labels] : null };
  return records.map((r) => toExample(r, file, ck));
}

function configError(what: string): TaskDataError {
  return new TaskDataError(`task config: ${what}`, '<config>');
}

/** Carves `fraction` of `rows` off as dev with a fixed-seed shuffle; the rest stays train (in order). */
export function carveDev<T>(rows: readonly T[], fraction: number, seed: number): { train: T[]; dev: T[] } {
  let nDev = Math.round(rows.length * fraction);
  if (fraction > 0 && rows.length >= 2) nDev = Math.min(Math.max(nDev, 1), rows.length - 1);
  const idx = Array.from(rows.keys());
  new Rng(seed).shuffle(idx);
  const devIdx = new Set(idx.slice(0, nDev));
  const train: T[] = [];
  const dev: T[] = [];
  rows.forEach((r, i) => (devIdx.has(i) ? dev : train).push(r));
  // dev in shuffled order is not needed; keep file order for both
  return { train, dev };
}

/** Loads a task from its data files (see the top of this file). Throws TaskDataError. */
export function loadTaskFromFiles(cfg: TaskFileConfig): TaskData {
  if (cfg === null || typeof cfg !== 'object') throw configError('expected an object');
  if (typeof cfg.name !== 'string' || cfg.name.trim() === '') throw configError('"name" must be a non-empty string');
  if (!TASK_TYPES.includes(cfg.type)) throw configError(`"type" must be one of ${TASK_TYPES.join(', ')} (got ${JSON.stringify(cfg.type)})`);
  if (typeof cfg.train !== 'string' || cfg.train === '') throw configError('"train" must be a file path');
  for (const k of ['dev', 'test'] as const) {
    if (cfg[k] !== undefined && (typeof cfg[k] !== 'string' || cfg[k] === '')) throw configError(`"${k}" must be a file path when given`);
  }
  const devFraction = cfg.devFraction ?? DEFAULT_DEV_FRACTION;
  if (typeof devFraction !== 'number' || !(devFraction >= 0 && devFraction < 1)) throw configError(`"devFraction" must be in [0, 1) (got ${String(cfg.devFraction)})`);
  const format = cfg.format ?? 'auto';
  if (format !== 'auto' && format !== 'jsonl' && format !== 'csv') throw configError(`"format" must be jsonl, csv or auto (got ${JSON.stringify(format)})`);
  const seed = cfg.seed ?? SPLIT_SEED;

  let labels: string[] | null = null;
  if (cfg.labels !== undefined) {
    if (cfg.type === 'regression') throw configError('a regression task takes no "labels"');
    if (!Array.isArray(cfg.labels) || cfg.labels.length === 0 || cfg.labels.some((l) => typeof l !== 'string' || l === '')) {
      throw configError('"labels" must be a non-empty array of non-empty strings');
    }
    if (new Set(cfg.labels).size !== cfg.labels.length) throw configError('"labels" has duplicates');
    labels = [...cfg.labels];
  }

  const trainAll = readTaskFile(cfg.train, cfg.type, labels, format);
  if (cfg.type === 'regression') labels = [];
  else if (labels === null) {
    const set = new Set<string>();
    for (const ex of trainAll) {
      if (ex.tags) for (const t of ex.tags) set.add(t);
      else set.add(ex.label as string);
    }
    labels = [...set].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }
  const check = cfg.type === 'regression' ? null : labels;
  let train: Example[];
  let dev: Example[];
  if (cfg.dev !== undefined) {
    train = trainAll;
    dev = readTaskFile(cfg.dev, cfg.type, check, format);
  } else {
    ({ train, dev } = carveDev(trainAll, devFraction, seed));
  }
  const test = cfg.test !== undefined ? readTaskFile(cfg.test, cfg.type, check, format) : [];
  return { name: cfg.name, type: cfg.type, labels, train, dev, test };
}
