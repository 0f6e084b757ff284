// The task model shared by the built-in tasks (./builtin), user tasks from data files
// (./from_files.ts), the metrics (./metrics.ts) and the baselines (./baselines.ts).
//
//  - classification:      text -> one label of `labels`.
//  - pair_classification: (text, textPair) -> one label of `labels`.
//  - tagging:             words -> one tag of `labels` per word (`tags[i]` belongs to `words[i]`);
//                         `text` is the words joined by single spaces unless a loader says otherwise.
//  - regression:          text (and optionally textPair) -> a number; `labels` is [].

export type TaskType = 'classification' | 'pair_classification' | 'tagging' | 'regression';

export const TASK_TYPES: readonly TaskType[] = ['classification', 'pair_classification', 'tagging', 'regression'];

export interface Example {
  text: string;
  textPair?: string;
  /** A member of TaskData.labels (classification), or a number (regression). Absent for tagging. */
  label?: string | number;
  /** One tag per word (tagging). */
  tags?: string[];
  /** Pre-split words (tagging): whitespace-free, non-empty; `tags` aligns with these. */
  words?: string[];
}

export interface TaskData {
  name: string;
  type: TaskType;
  /** The label (or tag) set, sorted as the task defines it; [] for regression. */
  labels: string[];
  train: Example[];
  dev: Example[];
  test: Example[];
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
