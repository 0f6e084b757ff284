// One encoder, many tasks: each task has a head, and in a skill model its own row of the skill
// table, so a forward pass for a task runs only that task's path. Parameter names: the encoder's
// as in pretraining ("embeddings.*", "layers.*"), heads under "heads.<task>.*".

import * as E from '../engine/index.js';
import { Tensor, inference, paddingMask, type Rng } from '../engine/index.js';
import { Module, type RouteContext, type TransformerEncoder } from '../nn/index.js';
import type { SkillTable } from '../sparse/index.js';
import type { Tokenizer } from '../data/tokenizer/index.js';
import { TaskHead } from './heads.js';
import { encodeBatch, encodedLengths, type Batch } from './encode.js';
import { lengthSortedBatches } from './batches.js';
import type { Example, TaskData, TaskType } from './task.js';

export interface TaskSpec {
  name: string;
  type: TaskType;
  labels: string[];
  /** Sequence tasks' pooling (see heads.ts); absent: "cls" (models saved before the option). */
  pooling?: 'cls' | 'mean';
}

class Heads extends Module {
  readonly byTask = new Map<string, TaskHead>();
  add(name: string, head: TaskHead): TaskHead {
    this.byTask.set(name, this.child(name, head));
    return head;
  }
}

export class MultiTaskModel extends Module {
  readonly encoder: TransformerEncoder;
  readonly heads: Heads;
  readonly tasks = new Map<string, TaskSpec>();

  constructor(encoder: TransformerEncoder, readonly tokenizer: Tokenizer, readonly skills: SkillTable | null, private readonly rng: Rng, readonly maxLen = 128) {
    super();
    this.encoder = this.child('', encoder);
    this.heads = this.child('heads', new Heads());
  }

  addTask(spec: TaskSpec, dropout = 0.1): TaskHead {
    if (this.tasks.has(spec.name)) throw new Error(`task "${spec.name}" already exists`);
    const c = this.encoder.cfg;
    this.tasks.set(spec.name, spec);
    return this.heads.add(spec.name, new TaskHead({ type: spec.type, dModel: c.dModel, classes: Math.max(1, spec.labels.length), dropout, initStd: c.initStd, pooling: spec.pooling ?? 'cls' }, this.rng));
  }

  route(task: string): RouteContext | undefined {
    return this.skills ? { skills: this.skills.skillsFor(task) } : undefined;
  }

  /** Logits for a task on an encoded batch. */
  logits(task: string, batch: Batch): Tensor {
    const head = this.heads.byTask.get(task);
    if (!head) throw new Error(`unknown task "${task}" (this model has: ${[...this.tasks.keys()].join(', ')})`);
    const hidden = this.encoder.forward(batch.ids, batch.typeIds, paddingMask(batch.keep), false, this.route(task));
    return head.forward(hidden, batch.rows, batch.keep);
  }

  loss(task: string, batch: Batch): Tensor {
    return this.heads.byTask.get(task)!.loss(this.logits(task, batch), batch.targets!);
  }

  encode(task: string, examples: readonly Example[], withTargets = true): Promise<Batch> {
    const spec = this.tasks.get(task);
    if (!spec) throw new Error(`unknown task "${task}"`);
    return encodeBatch(this.tokenizer, spec, examples, this.maxLen, withTargets);
  }

  /** Each example's encoded length in tokens (for grouping batches by length). */
  lengths(task: string, examples: readonly Example[]): Promise<number[]> {
    const spec = this.tasks.get(task);
    if (!spec) throw new Error(`unknown task "${task}"`);
    return encodedLengths(this.tokenizer, spec, examples, this.maxLen);
  }

  /**
   * Predictions for raw inputs: a label per example (classification), a number (regression), or
   * a tag per word (tagging).
   */
  async predict(task: string, inputs: readonly (string | Example)[], batchSize = 64): Promise<(string | number | string[])[]> {
    const spec = this.tasks.get(task);
    if (!spec) throw new Error(`unknown task "${task}" (this model has: ${[...this.tasks.keys()].join(', ')})`);
    const examples = inputs.map((x) => (typeof x === 'string' ? { text: x } : x));
    const out: (string | number | string[])[] = new Array(examples.length);
    const wasTraining = this.training;
    this.eval();
    try {
      for (const idx of await lengthSortedBatches(examples, batchSize, (xs) => this.lengths(task, xs))) {
        const chunk = idx.map((i) => examples[i]);
        const batch = await this.encode(task, chunk, false);
        const logits = inference(() => this.logits(task, batch));
        decodePredictions(spec, logits, batch, chunk).forEach((p, k) => (out[idx[k]] = p));
      }
    } finally {
      this.train(wasTraining);
    }
    return out;
  }
}

/**
 * One batch's logits -> predictions: a label per example (classification), a number
 * (regression), or a tag per word (tagging; words cut off by maxLen get "O", or the first label).
 * Shared with src/evolve's path models so that both decode alike.
 */
export function decodePredictions(spec: TaskSpec, logits: Tensor, batch: Batch, chunk: readonly Example[]): (string | number | string[])[] {
  if (spec.type === 'regression') return Array.from(logits.data);
  if (spec.type === 'tagging') {
    const out: string[][] = [];
    const pred = E.argmax(logits).i32;
    let k = 0;
    batch.wordsScored!.forEach((n, b) => {
      const words = chunk[b].words ?? chunk[b].text.trim().split(/\s+/).filter(Boolean);
      const tags = Array.from(pred.subarray(k, k + n), (p) => spec.labels[p]);
      k += n;
      while (tags.length < words.length) tags.push(spec.labels.includes('O') ? 'O' : spec.labels[0]);
      out.push(tags);
    });
    return out;
  }
  return Array.from(E.argmax(logits).i32, (p) => spec.labels[p]);
}

export function specOf(t: TaskData): TaskSpec {
  return { name: t.name, type: t.type, labels: t.labels, ...(t.type === 'tagging' ? {} : { pooling: 'mean' as const }) };
}
