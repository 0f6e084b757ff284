// The task model shared by the built-in tasks (./builtin), user tasks from data files
// (./from_files.ts), the metrics (./metrics.ts) and the baselines (./baselines.ts).
//
//  - classification:      text -> one label of `labels`.
//  - pair_classification: (text, textPair) -> one label of `labels`.
//  - tagging:             words -> one tag of `labels` per word (`tags[i]` belongs to `words[i]`);
//                         `text` is the words joined by single spaces unless a loader says otherwise.
//  - regression:          text (and optionally textPair) -> a number; `labels` is [].
//  - image_classification: image -> one label of `labels`; every image of a task has the task's
//                         shape (`TaskData.image`), and `text` is "" (or a name, for messages).

export type TaskType = 'classification' | 'pair_classification' | 'tagging' | 'regression' | 'image_classification';

export const TASK_TYPES: readonly TaskType[] = ['classification', 'pair_classification', 'tagging', 'regression', 'image_classification'];

/** The shape every image of an image task has: `pixels` holds height × width × channels bytes. */
export interface ImageShape {
  width: number;
  height: number;
  /** 1 (grey), 3 (RGB) or 4 (RGBA). */
  channels: number;
}

/** An image as a model reads it: 0-255 values, row-major, channels last (H × W × C). */
export interface ImageInput extends ImageShape {
  pixels: Uint8Array;
}

export interface Example {
  text: string;
  textPair?: string;
  /** A member of TaskData.labels (classification), or a number (regression). Absent for tagging. */
  label?: string | number;
  /** One tag per word (tagging). */
  tags?: string[];
  /** Pre-split words (tagging): whitespace-free, non-empty; `tags` aligns with these. */
  words?: string[];
  /** The image (image_classification), in the task's shape. */
  image?: ImageInput;
}

export interface TaskData {
  name: string;
  type: TaskType;
  /** The label (or tag) set, sorted as the task defines it; [] for regression. */
  labels: string[];
  train: Example[];
  dev: Example[];
  test: Example[];
  /** image_classification: the shape of every image, and whether training may flip them left-right. */
  image?: ImageShape & { flips: boolean };
}

/** A task that reads one text (or a pair) and gives one answer: what can have an n-gram bag beside the encoder. */
export function isTextSequenceTask(type: TaskType): boolean {
  return type !== 'tagging' && type !== 'image_classification';
}

/** The words of a tagging example: `words` when given, else `text` split on whitespace. */
export function exampleWords(ex: Example): string[] {
  if (ex.words) return ex.words;
  const t = ex.text.trim();
  return t === '' ? [] : t.split(/\s+/);
}

/** Label counts of a split (classification / pair classification; tags for tagging). */
export function labelCounts(examples: readonly Example[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const ex of examples) {
    if (ex.tags) for (const t of ex.tags) out.set(t, (out.get(t) ?? 0) + 1);
    else if (typeof ex.label === 'string') out.set(ex.label, (out.get(ex.label) ?? 0) + 1);
  }
  return out;
}

/**
 * A seeded random sample of at most `train` / `dev` / `test` examples per split (for quick runs
 * and CI): loaders return splits in source order, often grouped by label, so a prefix is not a sample.
 */
export function subsample(t: TaskData, sizes: { train: number; dev: number; test: number }, seed = 0): TaskData {
  return {
    ...t,
    train: sampleExamples(t.train, sizes.train, seed, 1),
    dev: sampleExamples(t.dev, sizes.dev, seed, 2),
    test: sampleExamples(t.test, sizes.test, seed, 3),
  };
}

/** A seeded sample of at most n examples, in their original order (all of them when n >= length). */
export function sampleExamples<T>(xs: readonly T[], n: number, seed = 0, salt = 0): T[] {
  if (xs.length <= n) return xs.slice();
  // splitmix-style hash order: deterministic, independent of any shared RNG state.
  const key = (i: number) => {
    let z = (i + 1) * 0x9e3779b9 + seed * 0x85ebca6b + salt * 0xc2b2ae35;
    z = Math.imul(z ^ (z >>> 16), 0x7feb352d);
    z = Math.imul(z ^ (z >>> 15), 0x846ca68b);
    return (z ^ (z >>> 16)) >>> 0;
  };
  return xs
    .map((_, i) => i)
    .sort((a, b) => key(a) - key(b))
    .slice(0, n)
    .sort((a, b) => a - b)
    .map((i) => xs[i]);
}

/** Why `t` cannot be trained and scored (too few examples, or a single label), or null if it can. */
export function whyUntrainable(t: TaskData): string | null {
  if (t.train.length < 2) return `task "${t.name}" has ${t.train.length} training example(s); training needs at least 2`;
  if (t.type !== 'regression' && t.labels.length < 2) {
    return `task "${t.name}" has ${t.labels.length} label(s) (${t.labels.join(', ')}); a ${t.type} task needs at least 2`;
  }
  return null;
}
