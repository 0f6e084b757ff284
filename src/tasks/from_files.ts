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
//  - image_classification tasks also give width, height, channels and flips, and read JSONL rows
//    of pixels or image paths, or (format 'folder') a folder per class: ./images/load_image_task.ts.
//    Loading them is asynchronous (decoding PNG and JPEG), hence loadTaskFromFiles' Promise.
//
// Fields (JSONL keys; CSV header columns, in any order; other fields/columns are ignored). Each
// part of an example has our name and the Hugging Face `datasets` one (./task_fields.ts); a row
// (or CSV header) giving both names for one part is an error, and so is mixing the pair names.
//  - text | sentence1:      string, non-blank. Tagging may give the words instead (then text =
//                           words joined by spaces).
//  - text_pair | sentence2: string, required for pair_classification (optional for regression);
//                           text_pair goes with text, sentence2 with sentence1.
//  - label:     classification / pair_classification: a string, or an integer (a JSON number, or a
//               CSV numeral such as 3). With the config's `labels`, an integer n >= 0 names
//               labels[n] (out of range is an error), unless "n" is itself one of the labels:
//               then it is that label, and an error when labels[n] is another one (ambiguous).
//               Other numbers, and all of them when `labels` is not given, are taken as their
//               decimal string (as before indices existed), CSV cells as they are. Regression: a
//               finite number (CSV: a decimal numeral). Not used by tagging.
//  - tokens | words:        tagging only: the pre-split words. JSONL: an array of non-empty
//                           strings without whitespace; CSV: words separated by spaces. When
//                           absent, the words are `text` split on whitespace.
//  - tags | ner_tags:       tagging only, one tag per word. JSONL: an array whose elements are tag
//                           strings or integer indices into the config's `labels` (which must then
//                           be given); CSV: tags separated by spaces, numerals indexing `labels`
//                           as for `label`. A CSV cell that looks like a list ("[3, 0]") is an
//                           error: CSV has no arrays.
// Integers index `labels` only when the task config gives them: an inferred label set is sorted,
// so an index into it would mean nothing to the user.
// CSV (parsed by csv-parse, ./csv.ts) follows RFC 4180: comma-separated, a field may be quoted
// with "..." (then it may hold commas, line breaks and doubled quotes ""), a header row is
// required; a leading BOM and CRLF line ends are tolerated and blank lines are skipped. A quote
// inside an unquoted field, text after a closing quote, an unterminated quote, a record over
// MAX_CSV_RECORD_BYTES (./csv.ts) and a row with the wrong number of fields are errors.
//
// Validation is strict: the first bad line throws TaskDataError naming the file and 1-based line
// (for CSV, the line where the record starts), and nothing is returned from half-read data. Errors:
// a missing or unreadable file, invalid UTF-8 (line and byte offset, as the corpus reader reports
// it), an empty file (no examples), invalid JSON or a non-object line, a missing or ill-typed
// field (saying which names are accepted), two names for one field, a label outside the label
// set (naming the label and the set) or an integer index outside `labels`, tags whose count
// differs from the words', and malformed CSV.

import { extname } from 'node:path';
import { Rng } from '../engine/index.js';
import { InputError } from '../util/errors.js';
import { describeJson, parseJsonlObjects } from '../util/jsonl.js';
import { decodeUtf8Strict } from '../util/utf8.js';
import { parseCsvRows, type CsvRow } from './csv.js';
import type { Example, TaskData, TaskType } from './task.js';
import { chooseFields } from './task_fields.js';
import { parseTaskConfig, type TaskConfig, type TaskFileConfig, type TaskFileFormat } from './task_config.js';
import { readFileOr } from '../util/read_file.js';

/** A task data file (or task config, file "<config>") that cannot be used. */
export class TaskDataError extends InputError {}

// The task config (type, defaults, bounds) is declared once, as a schema, in task_config.ts.
export { DEFAULT_DEV_FRACTION, type TaskFileConfig, type TaskFileFormat } from './task_config.js';

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

/** CSV text (decoded, \n line ends) as rows of fields with the line each starts on (see ./csv.ts). */
export function parseCsv(text: string, file: string): CsvRow[] {
  return parseCsvRows(text, file, TaskDataError);
}

function readCsv(text: string, file: string, type: TaskType): RawRecord[] {
  const rows = parseCsv(text, file);
  if (rows.length === 0) throw new TaskDataError(`${file}: empty file (a CSV task file needs a header row and at least one data row)`, file, 1);
  const header = rows[0].fields;
  const headerLine = rows[0].line;
  const seen = new Set<string>();
  for (const h of header) {
    if (seen.has(h)) throw new TaskDataError(`${file} line ${headerLine}: duplicate header column "${h}"`, file, headerLine);
    seen.add(h);
  }
  // Every row has every column, so the field names are settled once, on the header.
  const shown = header.map((h) => JSON.stringify(h)).join(', ');
  chooseFields(
    (k) => seen.has(k),
    type,
    (what) => {
      throw new TaskDataError(`${file} line ${headerLine}: ${what}; the header is ${shown}`, file, headerLine);
    },
    true,
  );
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

/** A CSV cell read as an integer index: a canonical numeral ("07" stays a name). */
const NUMERAL = /^(0|[1-9]\d*)$/;

/** How a file's labels are checked: the label set (if known) and whether integers index it. */
export interface LabelCheck {
  /** The label set; null while it is being inferred (train file without given labels). */
  labels: Set<string> | null;
  labelList: string[] | null;
  /**
   * Whether the label set came from the task config. Only then are integers read as indices
   * into it: an inferred set is sorted, so its indices would mean nothing to the user.
   */
  given: boolean;
}

interface Checker extends LabelCheck {
  type: TaskType;
}

/** The label check of a file: `labels` null while they are inferred; `given` when the task config lists them. */
export function labelCheck(labels: readonly string[] | null, given: boolean): LabelCheck {
  return { labels: labels ? new Set(labels) : null, labelList: labels ? [...labels] : null, given: labels !== null && given };
}

/** Fails unless `label` is in the label set (when the set is known). */
function checkLabel(ck: LabelCheck, label: string, what: string, at: string, fail: (what: string) => never): void {
  if (ck.labels && !ck.labels.has(label)) {
    fail(`${what} ${JSON.stringify(label)} is not in the label set [${ck.labelList!.map((l) => JSON.stringify(l)).join(', ')}] (${at})`);
  }
}

/**
 * `n` came as an integer (a JSON number, or a CSV numeral when labels are given); `asName` is the
 * same value read as a label name, which wins when the labels list numerals themselves.
 */
function fromIndex(ck: LabelCheck, n: number, asName: string, at: string, fail: (what: string) => never): string {
  const list = ck.labelList!;
  const named = ck.labels!.has(asName);
  const indexed = n < list.length ? list[n] : undefined;
  if (named && indexed !== undefined && indexed !== asName) {
    fail(
      `${at} is ${asName}, which is both the label "${asName}" and "labels"[${n}] = ${JSON.stringify(indexed)} (list numeral labels at their own index, or give the label by name in JSONL: "${asName}")`,
    );
  }
  if (named) return asName;
  if (indexed === undefined) {
    fail(`${at} is ${asName}, read as an index into the task config's "labels", which has ${list.length} (indices 0 to ${list.length - 1})`);
  }
  return indexed!;
}

/**
 * The class label of a record's "label" value (classification, pair classification, image
 * classification): a string, or an integer (see the top of this file); checked against the label
 * set. `csv`: the value is a CSV cell (a string; a numeral indexes given labels).
 */
export function classLabel(v: unknown, ck: LabelCheck, csv: boolean, fail: (what: string) => never): string {
  let label: string;
  if (typeof v === 'string') label = csv && ck.given && NUMERAL.test(v) ? fromIndex(ck, Number(v), v, 'field "label"', fail) : v;
  else if (typeof v === 'number' && Number.isFinite(v))
    label = ck.given && Number.isInteger(v) && v >= 0 ? fromIndex(ck, v, String(v), 'field "label"', fail) : String(v);
  else return fail(`field "label" is ${describeJson(v)}, not a label (a string, or an integer index into the task config's "labels")`);
  if (label === '') fail('field "label" is empty');
  checkLabel(ck, label, 'label', 'field "label"', fail);
  return label;
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
  const names = chooseFields(has, ck.type, fail);

  const ex: Example = { text: '' };
  // words and text
  let words: string[] | undefined;
  if (ck.type === 'tagging' && names.words) {
    const wf = names.words;
    const w = f[wf];
    if (rec.csv) {
      const s = w as string;
      if (/^\s*\[[\s\S]*\]\s*$/.test(s))
        fail(`field "${wf}" looks like a list (${JSON.stringify(s.slice(0, 40))}); in CSV give the words separated by spaces, or use JSONL for arrays`);
      words = s.trim() === '' ? [] : s.trim().split(/\s+/);
    } else {
      if (!Array.isArray(w)) fail(`field "${wf}" is ${describeJson(w)}, not an array of strings`);
      (w as unknown[]).forEach((x, k) => {
        if (typeof x !== 'string') fail(`field "${wf}": element ${k} is ${describeJson(x)}, not a string`);
        if ((x as string).trim() === '' || /\s/.test(x as string)) fail(`field "${wf}": element ${k} (${JSON.stringify(x)}) is empty or holds whitespace`);
      });
      words = w as string[];
    }
    if (words.length === 0) fail(`field "${wf}" is empty`);
    ex.text = names.text ? str(names.text) : words.join(' ');
  } else {
    ex.text = str(names.text!);
  }
  if (ex.text.trim() === '' && !words) fail(`field "${names.text}" is blank`);

  if (names.pair) ex.textPair = str(names.pair);

  if (ck.type === 'classification' || ck.type === 'pair_classification') {
    ex.label = classLabel(f.label, ck, rec.csv, fail);
  } else if (ck.type === 'regression') {
    const v = f.label;
    let x: number;
    if (typeof v === 'number') x = v;
    else if (rec.csv && typeof v === 'string' && /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(v)) x = Number(v);
    else return fail(`field "label" is ${rec.csv ? JSON.stringify(v) : describeJson(v)}, not a number`);
    if (!Number.isFinite(x)) fail(`field "label" is not a finite number`);
    ex.label = x;
  } else {
    // tagging
    const tf = names.tags!;
    const v = f[tf];
    const tagAt = (k: number) => `field "${tf}": element ${k}`;
    let tags: string[];
    if (rec.csv) {
      const s = v as string;
      if (/^\s*\[[\s\S]*\]\s*$/.test(s))
        fail(`field "${tf}" looks like a list (${JSON.stringify(s.slice(0, 40))}); in CSV give the tags separated by spaces, or use JSONL for arrays`);
      tags = (s.trim() === '' ? [] : s.trim().split(/\s+/)).map((t, k) => (ck.given && NUMERAL.test(t) ? fromIndex(ck, Number(t), t, tagAt(k), fail) : t));
    } else {
      if (!Array.isArray(v)) return fail(`field "${tf}" is ${describeJson(v)}, not an array of tags`);
      tags = (v as unknown[]).map((x, k): string => {
        if (typeof x === 'string') return x === '' ? fail(`${tagAt(k)} is empty, not a tag`) : x;
        if (typeof x === 'number' && Number.isInteger(x) && x >= 0) {
          if (!ck.given) {
            return fail(
              `${tagAt(k)} is ${x}, an integer tag, but the task config gives no "labels" for it to index (list the tag names there, in index order)`,
            );
          }
          return fromIndex(ck, x, String(x), tagAt(k), fail);
        }
        return fail(
          `${tagAt(k)} is ${typeof x === 'number' ? String(x) : describeJson(x)}, not a tag (a string, or an integer index into the task config's "labels")`,
        );
      });
    }
    const w = words ?? (ex.text.trim() === '' ? [] : ex.text.trim().split(/\s+/));
    if (w.length === 0) fail(`no words to tag (empty "${names.text}")`);
    if (tags.length !== w.length) {
      fail(
        `${tags.length} tags for ${w.length} words (${words ? `"${names.words}"` : `whitespace-separated words of "${names.text}"`}); "${tf}" must give one tag per word`,
      );
    }
    tags.forEach((t, k) => checkLabel(ck, t, 'tag', tagAt(k), fail));
    ex.words = w;
    ex.tags = tags;
  }
  return ex;
}

/**
 * The text of a task data file: a missing or unreadable file, invalid UTF-8 and a file with no
 * non-blank line throw TaskDataError naming the file.
 */
export function readTaskText(file: string): string {
  const bytes = readFileOr(file, (code, e) =>
    code === 'ENOENT'
      ? new TaskDataError(`task data file not found: ${file}`, file)
      : new TaskDataError(`cannot read task data file ${file}: ${e.message}`, file),
  );
  const text = decodeUtf8Strict(bytes, file, TaskDataError);
  if (text.trim() === '') throw new TaskDataError(`${file}: empty file (no examples)`, file, 1);
  return text;
}

/**
 * Reads and validates one task file. `labels` null: collect (train without given labels);
 * `labelsGiven`: they are the task config's, so integer labels and tags index them.
 */
export function readTaskFile(file: string, type: TaskType, labels: readonly string[] | null, format: TaskFileFormat = 'auto', labelsGiven = false): Example[] {
  const text = readTaskText(file);
  const records = formatOf(file, text, format) === 'jsonl' ? readJsonl(text, file) : readCsv(text, file, type);
  if (records.length === 0) throw new TaskDataError(`${file}: empty file (no examples)`, file, 1);
  const ck: Checker = { type, ...labelCheck(labels, labelsGiven) };
  return records.map((r) => toExample(r, file, ck));
}

/** The label set of training examples (labels, or tags), sorted in code-unit order. */
export function inferLabels(examples: readonly Example[]): string[] {
  const set = new Set<string>();
  for (const ex of examples) {
    if (ex.tags) for (const t of ex.tags) set.add(t);
    else set.add(ex.label as string);
  }
  return [...set].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
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

/**
 * Loads a task from its data files (see the top of this file; image tasks: ./images/). Rejects
 * with TaskDataError.
 */
export async function loadTaskFromFiles(raw: TaskFileConfig): Promise<TaskData> {
  const cfg = parseTaskConfig(raw, 'task config', TaskDataError, '<config>');
  if (cfg.type === 'image_classification') {
    // Loaded on first use: text tasks never load the image decoder (sharp's native library).
    const { loadImageTask } = await import('./images/load_image_task.js');
    return loadImageTask(cfg);
  }
  return loadTextTask(cfg);
}

/** A text task (every type but image_classification) from its checked config. */
function loadTextTask(cfg: TaskConfig): TaskData {
  const { devFraction, format, seed } = cfg;
  let labels: string[] | null = cfg.labels ? [...cfg.labels] : null;

  const given = labels !== null;
  const trainAll = readTaskFile(cfg.train, cfg.type, labels, format, given);
  if (cfg.type === 'regression') labels = [];
  else if (labels === null) labels = inferLabels(trainAll);
  const check = cfg.type === 'regression' ? null : labels;
  let train: Example[];
  let dev: Example[];
  if (cfg.dev !== undefined) {
    train = trainAll;
    dev = readTaskFile(cfg.dev, cfg.type, check, format, given);
  } else {
    ({ train, dev } = carveDev(trainAll, devFraction, seed));
  }
  const test = cfg.test !== undefined ? readTaskFile(cfg.test, cfg.type, check, format, given) : [];
  return { name: cfg.name, type: cfg.type, labels, train, dev, test };
}
