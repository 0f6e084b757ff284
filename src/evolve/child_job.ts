// One child's training and scoring as a self-contained job: everything needed to rebuild the
// child's path away from the model (in a worker thread, worker.ts), train its new
// components (trainPath) and score it on dev, exactly as the search does in
// process. A job is a deterministic function of its contents: the seed was drawn in the main
// thread, and the new components carry the state of the Rng they were built from
// (component_snapshot.ts), so a worker trains them bit for bit as the main thread would have.

import { Tokenizer } from '../data/tokenizer/index.js';
import type { TaskScore } from '../tasks/score.js';
import type { Example } from '../tasks/task.js';
import { parameterCopies, restoreComponents, snapshotComponents, weightBuffers, type ComponentSnapshot } from './component_snapshot.js';
import type { Child } from './mutations.js';
import { TaskPath, pathComponents, type ComponentStore, type Path, type TaskSpec } from '../model/index.js';
import { trainPath, type EvalProgress, type TrainPathOptions } from './train_path.js';

export interface ChildJob {
  /** The child's index in the search (for messages). */
  index: number;
  spec: TaskSpec;
  path: Path;
  /** The system's tokenizer as its tokenizer.json text. */
  tokenizerJson: string;
  maxLen: number;
  /** Every component on the path. */
  components: ComponentSnapshot[];
  /** The child's new components, in the order makeChild created them (trainPath's parameter order). */
  trainable: string[];
  train: Example[];
  /** The dev examples the child is scored on (already capped at evalExamples). */
  dev: Example[];
  options: TrainPathOptions;
}

export interface ChildOutcome {
  index: number;
  /** Component id -> parameter name -> trained values, for the trainable components. */
  weights: Record<string, Record<string, Float32Array>>;
  dev: TaskScore;
  trainLoss: number;
  /** Training steps the child took. */
  steps: number;
}

/** The job for a child just made by makeChild (before it is trained). */
export function childJob(
  store: ComponentStore,
  index: number,
  child: Child,
  spec: TaskSpec,
  tokenizer: Tokenizer | string,
  maxLen: number,
  train: readonly Example[],
  dev: readonly Example[],
  options: TrainPathOptions,
): ChildJob {
  return {
    index,
    spec: { ...spec },
    path: structuredClone(child.path),
    tokenizerJson: typeof tokenizer === 'string' ? tokenizer : tokenizer.toJsonString(),
    maxLen,
    components: snapshotComponents(store, pathComponents(child.path)),
    trainable: [...child.created],
    train: [...train],
    dev: [...dev],
    options: { ...options },
  };
}

/** The buffers a job or an outcome can hand over instead of copying (postMessage transfer list). */
export function jobBuffers(job: ChildJob): ArrayBuffer[] {
  return weightBuffers(job.components.map((c) => c.weights));
}

export function outcomeBuffers(o: ChildOutcome): ArrayBuffer[] {
  return weightBuffers(Object.values(o.weights));
}

/** Rebuilds the child, trains and scores it: what a worker thread runs (`onEval`: its dev evaluations as they come). */
export async function runChildJob(job: ChildJob, onEval?: (e: EvalProgress) => void): Promise<ChildOutcome> {
  const store = restoreComponents(job.components);
  const tokenizer = Tokenizer.fromJson(job.tokenizerJson, `<tokenizer of child ${job.index}>`);
  const model = new TaskPath(store, job.path, job.spec, tokenizer, job.maxLen).eval();
  const trainable = job.trainable.map((id) => store.get(id));
  const trained = await trainPath(model, trainable, job.train, { ...job.options, onEval }, job.dev);
  const dev = trained.dev!;
  const weights: ChildOutcome['weights'] = {};
  for (const c of trainable) weights[c.id] = parameterCopies(c.module);
  return { index: job.index, weights, dev, trainLoss: trained.finalLoss, steps: trained.steps };
}

/**
 * Writes an outcome's trained weights into the store's components (copies), and leaves them in
 * inference mode, as trainPath leaves the components it trains in process: built in training mode
 * and never trained here, they would otherwise run their dropout in every forward pass that does
 * not set the mode itself (a kept path's logits then differ from call to call).
 */
export function applyOutcome(store: ComponentStore, o: ChildOutcome): void {
  for (const [id, values] of Object.entries(o.weights)) {
    const c = store.get(id);
    if (c.locked) throw new Error(`child ${o.index}: component "${id}" is locked and must never be trained`);
    c.module.loadParameters(values);
    c.module.eval();
  }
}
