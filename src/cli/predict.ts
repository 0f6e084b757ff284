// `pathwise predict <model> --task T [--json] [--input FILE | --input -] ["text" ... | "text" --pair "text"]`
//
// Inputs: the texts on the command line (one text and its --pair for a sentence-pair task), or one per line of a JSONL file (or of stdin with
// `--input -`): a JSON string, or an object {"text", "text_pair"} (also "sentence1"/"sentence2"),
// or {"tokens": [...]} for a tagging task. Answers come in input order, one line per input: the
// label, the value or the tags as a JSON array; with --json the whole typed prediction as one
// JSON object ({label, score, scores}, {words, spans} or {value}). An empty (or all-blank) text is
// refused, naming the argument or the line: a model answers it with its prior, which is no answer.
// An image task's inputs are PNG or JPEG files on the command line, or JSONL lines {"image": a path
// relative to the JSONL file's folder} or {"pixels": [...]}; each is read into the task's image
// shape (resized when its size differs), and a bad one is named with its file (and line).

import { loadModel } from '../model/index.js';
import { rawPrediction } from '../model/predictions.js';
import { dirname, isAbsolute, join } from 'node:path';
import type { Example, ImageShape, TaskType } from '../tasks/task.js';
import { chooseFields } from '../tasks/task_fields.js';
import { InputError } from '../util/errors.js';
import { describeJson, parseJsonl } from '../util/jsonl.js';
import { parseCommandLine, UsageError } from './args.js';
import { readFileOr } from '../util/read_file.js';

const USAGE = 'usage: pathwise predict <model folder> --task T [--json] [--input FILE.jsonl | --input -] ["text" ... | "text" --pair "second text"]';

/** An input line that is not a usable example: names the file and line. */
export class PredictInputError extends InputError {}

/**
 * One JSONL input line as an example of a task of `type`, under the field names task files accept
 * (tasks/task_fields.ts); `at` names the file and line in errors.
 */
function exampleOf(v: unknown, type: TaskType, at: string, file: string, line: number): Example {
  if (typeof v === 'string') return { text: v };
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new PredictInputError(`${at}: expected a JSON string or object, got ${describeJson(v)}`, file, line);
  const o = v as Record<string, unknown>;
  const str = (k: string): string | undefined => {
    if (o[k] === undefined) return undefined;
    if (typeof o[k] !== 'string') throw new PredictInputError(`${at}: "${k}" must be a string, got ${describeJson(o[k])}`, file, line);
    return o[k] as string;
  };
  const f = chooseFields(
    (k) => o[k] !== undefined,
    type,
    (what) => {
      throw new PredictInputError(`${at}: ${what}`, file, line);
    },
    false,
    false,
  );
  if (f.words) {
    const w = o[f.words];
    if (!Array.isArray(w) || w.length === 0 || !w.every((x) => typeof x === 'string' && x !== '' && !/\s/.test(x))) {
      throw new PredictInputError(`${at}: "${f.words}" must be an array of words (non-empty strings without spaces)`, file, line);
    }
    return { text: w.join(' '), words: [...w] };
  }
  const text = str(f.text!)!;
  const pair = f.pair ? str(f.pair) : undefined;
  if (isBlank(text)) throw new PredictInputError(`${at}: "${f.text}" is empty`, file, line);
  if (pair !== undefined && isBlank(pair)) throw new PredictInputError(`${at}: "${f.pair}" is empty`, file, line);
  return pair === undefined ? { text } : { text, textPair: pair };
}

const isBlank = (s: string) => s.trim() === '';

/** The inputs given as arguments: texts, or one text and its --pair. */
function argumentInputs(texts: string[], pair: string | undefined): Example[] {
  if (pair !== undefined && texts.length !== 1) throw new UsageError(`--pair goes with exactly one text (for many pairs use --input FILE.jsonl)\n${USAGE}`);
  texts.forEach((t, i) => {
    if (isBlank(t)) throw new UsageError(`input ${i + 1} is empty: give a text to predict`);
  });
  if (pair !== undefined && isBlank(pair)) throw new UsageError('--pair is empty: give the second text');
  return pair === undefined ? texts.map((text) => ({ text })) : [{ text: texts[0], textPair: pair }];
}

/** The lines of an --input file (or stdin), each with its line number; `name` names the source in errors. */
function inputLines(file: string): { name: string; lines: { line: number; value: unknown }[] } {
  const text = readFileOr(file === '-' ? 0 : file, (code) => new PredictInputError(`cannot read ${file === '-' ? 'stdin' : file}: ${code}`, file)).toString(
    'utf8',
  );
  const name = file === '-' ? '<stdin>' : file;
  return { name, lines: parseJsonl(text, name, PredictInputError) };
}

function readInputs(file: string, type: TaskType): Example[] {
  const { name, lines } = inputLines(file);
  return lines.map(({ line, value }) => exampleOf(value, type, `${name} line ${line}`, name, line));
}

/** An image task's inputs: files named on the command line, or JSONL lines (see the top of this file). */
async function imageInputs(files: string[], input: string | undefined, shape: ImageShape): Promise<Example[]> {
  const { imageFromJson } = await import('../tasks/images/image_input.js');
  const { readImageFile } = await import('../tasks/images/read_image_file.js');
  const out: Example[] = [];
  if (input === undefined) {
    for (const f of files) {
      const image = await readImageFile(f, shape, (why) => {
        throw new PredictInputError(`${f}: ${why}`, f);
      });
      out.push({ text: '', image });
    }
    return out;
  }
  const { name, lines } = inputLines(input);
  const base = input === '-' ? process.cwd() : dirname(input);
  for (const { line, value } of lines) {
    const fail = (why: string): never => {
      throw new PredictInputError(`${name} line ${line}: ${why}`, name, line);
    };
    if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(`expected {"image": PATH} or {"pixels": [...]}, got ${describeJson(value)}`);
    const o = value as Record<string, unknown>;
    const image =
      typeof o.image === 'string' && o.pixels === undefined
        ? await readImageFile(isAbsolute(o.image) ? o.image : join(base, o.image), shape, (why) => fail(`image ${o.image}: ${why}`))
        : await imageFromJson(o, shape, fail);
    out.push({ text: '', image });
  }
  return out;
}

export async function predictCommand(argv: string[]): Promise<void> {
  const { flags: values, rest } = parseCommandLine(argv, { task: 'string', json: 'boolean', input: 'string', pair: 'string' }, USAGE);
  const [dir, ...texts] = rest;
  if (!dir || !values.task) throw new UsageError(USAGE);
  if (values.input !== undefined && (texts.length || values.pair !== undefined))
    throw new UsageError(`give the inputs as arguments or with --input, not both\n${USAGE}`);
  if (values.input === undefined && texts.length === 0) throw new UsageError(`no input to predict\n${USAGE}`);
  const model = loadModel(dir);
  if (!model.tasks.has(values.task)) throw new UsageError(`no task "${values.task}" in ${dir} (it has: ${[...model.tasks.keys()].join(', ')})`);
  const { type, image } = model.task(values.task).spec;
  if (image && values.pair !== undefined) throw new UsageError(`--pair: task "${values.task}" is an image task; give image files`);
  const given = !image && values.input === undefined ? argumentInputs(texts, values.pair) : null;
  if (given && (type === 'pair_classification') !== (values.pair !== undefined)) {
    throw new UsageError(
      type === 'pair_classification'
        ? `task "${values.task}" classifies sentence pairs: give one text and its --pair "second text" (or --input FILE.jsonl)`
        : `--pair: task "${values.task}" is a ${type} task of single texts; leave --pair out`,
    );
  }
  // Input lines are read by the task's type: a pair task's need both texts, a tagging task's may give words.
  const inputs: Example[] = image ? await imageInputs(texts, values.input, image) : values.input !== undefined ? readInputs(values.input, type) : given!;
  if (inputs.length === 0) throw new UsageError(`no input to predict\n${USAGE}`);
  const out = await model.predict(values.task, inputs);
  const lines = out.map((p) => {
    if (values.json) return JSON.stringify(p);
    const raw = rawPrediction(p);
    return typeof raw === 'string' ? raw : JSON.stringify(raw);
  });
  process.stdout.write(lines.join('\n') + '\n');
}
