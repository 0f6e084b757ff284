// One forward pass over inputs of many tasks (what a server batches together): each component
// runs once over all the rows whose paths use it, and rows split only where their paths part.
//
//   embeddings      grouped by the path's embeddings component and its update of them
//   slot i          (adapter i, grouped by adapter) -> block i, grouped by (block, the path's
//                   low-rank update of it, the skills of that block the path activates); a path
//                   shorter than i has left the stack
//   final norm      grouped by the path's final norm
//   head            grouped by task, then decoded as TaskPath.predict decodes
//
// Rows are packed, not padded: from the embeddings to the final norm a group's hidden states are
// one [1, Σ len, D] tensor of its rows' real tokens end to end, and attention runs within each
// row (selfAttention's `segments`); every other op of a block is per token. A batch then costs
// what its tokens cost, however unequal its rows' lengths (padded to the longest, a batch of
// mixed lengths did two to three times the work). A row's states are carried from group to
// group: when a group is exactly the rows of the tensor the previous step wrote, in the same order
// (the common case: tasks that share the root blocks share one tensor from the embeddings to the
// heads), that tensor is used as it is; else the group's rows are copied into a new packed one.
// The heads read the padded layout their batch describes. Every step calls the components' own
// forward (the modules TaskPath runs, with the route it gives them): there is no second copy of
// the block math here, only the grouping.
//
// What a row gets does not depend on the rows batched with it: attention sees only its own row,
// and every other op is per token (bit for bit on the TypeScript kernels; OpenBLAS may round a
// GEMM row differently with the number of rows, by a few ulps). One exception, shared with
// predict: a Switch layer with an evaluation capacity (evalCapacityFactor not null) drops tokens
// by the batch's size, so its answers can move with the batch; a dropless Switch layer
// (evalCapacityFactor null) does not.

import { type Tensor, inference, zeros } from '../engine/index.js';
import type { Module } from '../nn/index.js';
import { collate, encodeExamples, type Batch, type Encoded } from '../tasks/encode.js';
import { withPrior } from '../tasks/naive_bayes_prior.js';
import { withBags } from '../tasks/ngrams.js';
import type { Example } from '../tasks/task.js';
import { decodePredictions, type Prediction } from './predictions.js';
import type { TaskPath } from './task_path.js';

/** One input of one task. */
export interface MixedRequest {
  task: string;
  /** A text, or an example ({text, textPair} for a pair task, {text, words} for a tagging task). */
  input: string | Example;
}

/** A component run over a group of rows (reported to MixedOptions.onRun). */
export interface ComponentRun {
  kind: 'embeddings' | 'adapter' | 'block' | 'final_norm' | 'head';
  /** The component's id in the store. */
  id: string;
  /** The block's slot in the paths (adapters and blocks), else null. */
  slot: number | null;
  /** The requests (indices into the request list) in the group, in batch order. */
  rows: number[];
}

export interface MixedOptions {
  /** Rows per forward pass (sorted by length across tasks, answered in request order). Default 64. */
  batchSize?: number;
  /** Called for each component run, in order: what tests and metrics see of the grouping. */
  onRun?: (run: ComponentRun) => void;
}

/** Where the tasks' paths come from (a TaskModel). */
export interface PathSource {
  taskPath(name: string): TaskPath;
}

/** A typed prediction per request, in request order, as each task's TaskPath.predict answers it. */
export async function predictMixed(model: PathSource, requests: readonly MixedRequest[], o: MixedOptions = {}): Promise<Prediction[]> {
  const batchSize = o.batchSize ?? 64;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const paths = requests.map((r) => model.taskPath(r.task));
  const examples = requests.map((r) => (typeof r.input === 'string' ? { text: r.input } : r.input));
  // Image tasks are answered task by task through their own paths (grouping them with text rows
  // in the packed layout is not built yet); the text requests are batched together as below.
  const images = [...requests.keys()].filter((i) => paths[i].spec.type === 'image_classification');
  if (images.length > 0) {
    const out: Prediction[] = new Array(requests.length);
    for (const idx of groupBy(images, (i) => requests[i].task).values()) {
      const p = await paths[idx[0]].predict(
        idx.map((i) => examples[i]),
        { batchSize },
      );
      idx.forEach((i, k) => (out[i] = p[k]));
    }
    const text = [...requests.keys()].filter((i) => paths[i].spec.type !== 'image_classification');
    const rest = await predictMixed(
      model,
      text.map((i) => requests[i]),
      o,
    );
    text.forEach((i, k) => (out[i] = rest[k]));
    return out;
  }

  // Encoded per task (one tokenizer call per task), then sorted by length across tasks.
  const enc: Encoded[] = new Array(requests.length);
  for (const idx of groupBy(requests.keys(), (i) => requests[i].task).values()) {
    const tp = paths[idx[0]];
    const e = await encodeExamples(
      tp.tokenizer,
      tp.spec,
      idx.map((i) => examples[i]),
      tp.maxLen,
    );
    idx.forEach((i, k) => (enc[i] = e[k]));
  }
  const order = [...requests.keys()].sort((a, b) => enc[a].ids.length - enc[b].ids.length || a - b);

  const out: Prediction[] = new Array(requests.length);
  // As in TaskPath.predict: every component runs in inference mode, and comes back as it was.
  const parts = [...new Set<Module>(paths.flatMap((p) => p.parts()))];
  const modes = parts.map((m) => m.training);
  for (const m of parts) m.eval();
  try {
    for (let s = 0; s < order.length; s += batchSize) {
      const rows = order.slice(s, s + batchSize);
      const heads = [...groupBy(rows, (r) => requests[r].task).values()].map((g) => {
        const tp = paths[g[0]];
        const batch = collate(
          g.map((r) => enc[r]),
          padOf(tp),
          tp.spec.type === 'tagging',
        );
        return {
          rows: g,
          tp,
          batch: withPrior(
            withBags(
              batch,
              g.map((r) => examples[r]),
              tp.head.cfg.lexical,
            ),
            g.map((r) => examples[r]),
            tp.head.prior,
          ),
        };
      });
      const logits = inference(() => forward(rows, paths, enc, heads, o.onRun));
      heads.forEach((h, k) => {
        const preds = decodePredictions(
          h.tp.spec,
          logits[k],
          h.batch,
          h.rows.map((r) => examples[r]),
        );
        preds.forEach((p, j) => (out[h.rows[j]] = p));
      });
    }
  } finally {
    parts.forEach((m, i) => m.train(modes[i]));
  }
  return out;
}

interface HeadGroup {
  rows: number[];
  tp: TaskPath;
  batch: Batch;
}

/** Hidden states of some rows: packed [1, Σ len, D] (or padded [rows, T, D]), row k of `rows` at token offset offsets[k]. */
interface Segment {
  rows: number[];
  offsets: number[];
  /** False for the embeddings' padded output, which is never reused as it is. */
  packed: boolean;
  x: Tensor;
}

/** The logits of each head group, in order (inside inference: every other tensor is released). */
function forward(
  rows: readonly number[],
  paths: readonly TaskPath[],
  enc: readonly Encoded[],
  heads: readonly HeadGroup[],
  onRun: MixedOptions['onRun'],
): Tensor[] {
  const at = new Map<number, { seg: Segment; pos: number }>();
  const len = (r: number) => enc[r].ids.length;
  /** x holds g's rows packed, or (offsets given) at those token offsets, padded. */
  const place = (g: number[], x: Tensor, padded?: number[]) => {
    const offsets: number[] = padded ?? [];
    let n = 0;
    if (!padded)
      for (const r of g) {
        offsets.push(n);
        n += len(r);
      }
    const seg = { rows: g, offsets, packed: !padded, x };
    g.forEach((r, pos) => at.set(r, { seg, pos }));
  };
  /** Copies each row's tokens from where it is to [dst, at k*T per row] (T null: packed, end to end). */
  const copyRows = (g: readonly number[], dst: Float32Array, D: number, T: number | null) => {
    let o = 0;
    g.forEach((r, k) => {
      const { seg, pos } = at.get(r)!;
      const from = seg.offsets[pos] * D;
      dst.set(seg.x.f32.subarray(from, from + len(r) * D), (T === null ? o : k * T) * D);
      o += len(r);
    });
  };
  /** The group's packed hidden states: the tensor that holds exactly these rows in this order, or a packed copy. */
  const gather = (g: number[]): Tensor => {
    const first = at.get(g[0])!.seg;
    // Reused only when each row's latest state is that tensor's row k (a row an adapter has just
    // run on has moved to the adapter's output, though the older tensor still lists it).
    if (first.packed && first.rows.length === g.length && g.every((r, k) => at.get(r)!.seg === first && at.get(r)!.pos === k)) return first.x;
    const D = first.x.shape[2];
    const x = zeros([1, g.reduce((n, r) => n + len(r), 0), D]);
    copyRows(g, x.f32, D, null);
    return x;
  };
  const segmentsOf = (g: number[]) => ({ segments: g.map(len) });

  for (const g of groupBy(rows, (r) => `${paths[r].path.embeddings}\u0000${paths[r].path.embeddingLora ?? ''}`).values()) {
    const tp = paths[g[0]];
    const b = collate(
      g.map((r) => enc[r]),
      padOf(tp),
      false,
    );
    onRun?.({ kind: 'embeddings', id: tp.path.embeddings, slot: null, rows: g });
    // Embedded padded (positions count from each row's start); the first step after packs them:
    // every later step but the heads runs on the real tokens only.
    const T = b.ids.shape[1];
    place(
      g,
      tp.embeddings.forward(b.ids, b.typeIds, tp.embeddingLora),
      g.map((_, k) => k * T),
    );
  }
  const depth = Math.max(...rows.map((r) => paths[r].blocks.length));
  for (let i = 0; i < depth; i++) {
    const active = rows.filter((r) => paths[r].blocks.length > i);
    for (const [id, g] of groupBy(active, (r) => paths[r].path.adapters[i])) {
      onRun?.({ kind: 'adapter', id, slot: i, rows: g });
      place(g, paths[g[0]].adapters[i]!.forward(gather(g)));
    }
    for (const g of groupBy(active, (r) => blockKey(paths[r], i)).values()) {
      const tp = paths[g[0]];
      onRun?.({ kind: 'block', id: tp.path.blocks[i], slot: i, rows: g });
      place(g, tp.blocks[i].forward(gather(g), segmentsOf(g), false, tp.route, tp.loras[i]));
    }
  }
  for (const [id, g] of groupBy(rows, (r) => paths[r].path.finalNorm)) {
    onRun?.({ kind: 'final_norm', id, slot: null, rows: g });
    place(g, paths[g[0]].finalNorm!.forward(gather(g)));
  }
  return heads.map((h) => {
    onRun?.({ kind: 'head', id: h.tp.path.head, slot: null, rows: h.rows });
    // Heads read the padded layout their batch describes (pooling over `keep`, tagging's flat rows).
    const T = h.batch.ids.shape[1];
    const D = at.get(h.rows[0])!.seg.x.shape[2];
    const x = zeros([h.rows.length, T, D]);
    copyRows(h.rows, x.f32, D, T);
    return h.tp.head.forward(x, h.batch.rows, h.batch.keep, h.batch.bag ?? null, h.batch.prior ?? null);
  });
}

/**
 * Rows run block i together when their paths run the same block there with the same low-rank
 * update (or none) and the same route: in a skill block, the same of its skills in the same order
 * (SkillFFN averages the path's skills that the block has, in the path's order); any other block
 * ignores the route.
 */
function blockKey(tp: TaskPath, i: number): string {
  const id = tp.path.blocks[i];
  const lora = tp.path.loras?.[i] ?? '';
  const has = tp.store.get(id, 'block').config.sparse?.skills;
  return `${id}\u0000${lora}` + (has ? `\u0000${(tp.path.skills ?? []).filter((s) => has.includes(s)).join('\u0000')}` : '');
}

function padOf(tp: TaskPath): number {
  const pad = tp.tokenizer.specialIds.pad;
  if (pad === null) throw new Error('the tokenizer needs [PAD]');
  return pad;
}

/** Indices grouped by key, groups in order of first appearance, indices in order; a null key is in no group. */
function groupBy(items: Iterable<number>, key: (i: number) => string | null): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const i of items) {
    const k = key(i);
    if (k === null) continue;
    let g = out.get(k);
    if (!g) out.set(k, (g = []));
    g.push(i);
  }
  return out;
}
