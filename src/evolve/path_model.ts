// One path as a model: the forward pass, loss, batch encoding and predictions of one task.
//   embeddings -> for each used block i: (adapter i) -> block i -> final norm -> head
// The forward pass is the same sequence of ops as TransformerEncoder.forward followed by the
// task head (MultiTaskModel.logits), so a path made of a dense model's own modules computes
// bit-for-bit the logits that model computed. Predictions decode exactly as MultiTaskModel's.

import { Tensor, inference, paddingMask } from '../engine/index.js';
import { Module, type EncoderBlock, type Embeddings, type LayerNorm, type ResidualAdapter } from '../nn/index.js';
import type { Tokenizer } from '../data/tokenizer/index.js';
import type { TaskHead } from '../tasks/heads.js';
import { encodeBatch, encodedLengths, type Batch } from '../tasks/encode.js';
import { lengthSortedBatches } from '../tasks/batches.js';
import { decodePredictions, type TaskSpec } from '../tasks/multitask_model.js';
import type { Example } from '../tasks/task.js';
import type { ComponentStore } from './components.js';
import type { Path } from './path.js';

export type { Prediction } from '../tasks/score.js';
import type { Prediction } from '../tasks/score.js';

export class PathModel extends Module {
  readonly embeddings: Embeddings;
  readonly blocks: EncoderBlock[];
  readonly adapters: (ResidualAdapter | null)[];
  readonly finalNorm: LayerNorm | null;
  readonly head: TaskHead;

  constructor(readonly store: ComponentStore, readonly path: Path, readonly spec: TaskSpec, readonly tokenizer: Tokenizer, readonly maxLen: number) {
    super();
    if (path.task !== spec.name) throw new RangeError(`path is for task "${path.task}", the spec for "${spec.name}"`);
    // The components are registered as children (by reference, not copied), so parameters(),
    // train() and eval() reach them; names follow the path's slots.
    this.embeddings = this.child('embeddings', store.get(path.embeddings, 'embeddings').module);
    this.adapters = path.adapters.map((id, i) => (id ? this.child(`adapters.${i}`, store.get(id, 'adapter').module) : null));
    this.blocks = path.blocks.map((id, i) => this.child(`blocks.${i}`, store.get(id, 'block').module));
    this.finalNorm = path.finalNorm ? this.child('final_norm', store.get(path.finalNorm, 'final_norm').module) : null;
    this.head = this.child('head', store.get(path.head, 'head').module);
    // Inference mode by default (no dropout): logits() of a finished task's path are then
    // deterministic. trainPath switches the components it trains to training mode and back.
    this.eval();
  }

  /** Hidden states [B, T, D] for an encoded batch. */
  hidden(batch: Batch): Tensor {
    const mask = paddingMask(batch.keep);
    let x = this.embeddings.forward(batch.ids, batch.typeIds);
    for (let i = 0; i < this.blocks.length; i++) {
      const a = this.adapters[i];
      if (a) x = a.forward(x);
      x = this.blocks[i].forward(x, mask, false);
    }
    return this.finalNorm ? this.finalNorm.forward(x) : x;
  }

  logits(batch: Batch): Tensor {
    return this.head.forward(this.hidden(batch), batch.rows, batch.keep);
  }

  loss(batch: Batch): Tensor {
    if (!batch.targets) throw new Error('loss: the batch was encoded without targets');
    return this.head.loss(this.logits(batch), batch.targets);
  }

  encode(examples: readonly Example[], withTargets = true): Promise<Batch> {
    return encodeBatch(this.tokenizer, this.spec, examples, this.maxLen, withTargets);
  }

  /** Each example's encoded length in tokens (for grouping batches by length). */
  lengths(examples: readonly Example[]): Promise<number[]> {
    return encodedLengths(this.tokenizer, this.spec, examples, this.maxLen);
  }

  /** A label per example (classification), a number (regression), or a tag per word (tagging). */
  async predict(inputs: readonly (string | Example)[], batchSize = 64): Promise<Prediction[]> {
    const examples = inputs.map((x) => (typeof x === 'string' ? { text: x } : x));
    const out: Prediction[] = new Array(examples.length);
    const wasTraining = this.training;
    this.eval();
    try {
      for (const idx of await lengthSortedBatches(examples, batchSize, (xs) => this.lengths(xs))) {
        const chunk = idx.map((i) => examples[i]);
        const batch = await this.encode(chunk, false);
        const logits = inference(() => this.logits(batch));
        decodePredictions(this.spec, logits, batch, chunk).forEach((p, k) => (out[idx[k]] = p));
      }
    } finally {
      this.train(wasTraining);
    }
    return out;
  }
}
