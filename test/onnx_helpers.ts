// Running an exported task graph in onnxruntime-web (its wasm, in Node) beside Pathwise's own
// forward pass on the same batch: what the export tests and bench:export compare.

import * as ort from 'onnxruntime-web';
import { inference } from '../src/engine/index.js';
import type { TaskPath } from '../src/model/index.js';
import { exportFeeds, taskGraph, type Feeds } from '../src/export/index.js';
import type { Example } from '../src/tasks/task.js';

ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';

export function ortFeeds(feeds: Feeds): Record<string, ort.Tensor> {
  return Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor(v.type, v.data, v.dims)]));
}

export async function ortSession(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes);
}

/**
 * The path's logits from Pathwise and from its exported graph, on one batch of `examples`, as
 * comparable rows: [B, C] for sequence and image tasks; for tagging, the rows Pathwise scores
 * (each word's first subtoken) read out of the graph's [B, T, C].
 */
export async function bothLogits(
  path: TaskPath,
  examples: readonly Example[],
  bytes = taskGraph(path).graph.serialize(),
): Promise<{ ours: Float32Array; theirs: Float32Array; classes: number }> {
  const session = await ortSession(bytes);
  const out = await session.run(ortFeeds(await exportFeeds(path, examples)));
  await session.release();
  const got = out.logits.data as Float32Array;
  path.eval();
  const batch = await path.encode(examples, false);
  const ours = inference(() => path.logits(batch)).f32.slice();
  const classes = path.spec.type === 'regression' ? 1 : path.spec.labels.length;
  if (path.spec.type !== 'tagging') return { ours, theirs: got, classes };
  const rows = batch.rows!.i32;
  const theirs = new Float32Array(rows.length * classes);
  rows.forEach((r, i) => theirs.set(got.subarray(r * classes, (r + 1) * classes), i * classes));
  return { ours, theirs, classes };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} against ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Share of rows whose argmax agrees. */
export function argmaxAgreement(a: ArrayLike<number>, b: ArrayLike<number>, classes: number): number {
  const rows = a.length / classes;
  let same = 0;
  for (let r = 0; r < rows; r++) {
    let ia = 0;
    let ib = 0;
    for (let c = 1; c < classes; c++) {
      if (a[r * classes + c] > a[r * classes + ia]) ia = c;
      if (b[r * classes + c] > b[r * classes + ib]) ib = c;
    }
    if (ia === ib) same++;
  }
  return same / rows;
}
