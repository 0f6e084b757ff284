// The floors each built-in task must beat: the figure in shared/docs/data-sources.md, and the same
// baseline as measured on our splits (`runBaseline`, test set; test/integration/tasks.test.ts checks these).
// Where the two differ the split is why: genre's 47% is a sentence-level split; data-sources.md
// itself asks for the document split used here, on which Naive Bayes scores 30%.

export interface TaskFloor {
  baseline: string;
  /** data-sources.md's figure. */
  documented: number;
  /** The baseline on our test split. */
  measured: number;
}

export const TASK_FLOORS: Record<string, TaskFloor> = {
  sent: { baseline: 'Naive Bayes', documented: 0.81, measured: 0.837 },
  spam: { baseline: 'Naive Bayes', documented: 0.94, measured: 0.977 },
  sense: { baseline: 'Naive Bayes', documented: 0.6, measured: 0.636 },
  genre: { baseline: 'Naive Bayes', documented: 0.47, measured: 0.301 },
  pos: { baseline: 'most-frequent tag', documented: 0.895, measured: 0.944 },
  wic: { baseline: 'word overlap', documented: 0.54, measured: 0.539 },
};

/** The floor a score is held to: data-sources.md's, except where our split changes the baseline (genre). */
export function floorOf(task: string): number | null {
  const f = TASK_FLOORS[task];
  if (!f) return null;
  return task === 'genre' ? f.measured : f.documented;
}
