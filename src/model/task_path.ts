// One task's path as a model: THE forward pass of Pathwise's task models, and the loss, batch
// encoding and predictions around it.
//   embeddings (with the path's update of them) -> for each block i of the path: (adapter i) ->
//                 block i (skills: the path's; its low-rank update i) -> final norm -> head
// An image task's path starts with its image stem instead of the embeddings (nn/image_stem.ts):
// the rest is the same blocks, run the same way.
// A multi-task model's task and a μ2Net path are both a TaskPath: the first runs the shared blocks
// and its own head, the second may also run blocks cloned for it, adapters and low-rank updates.
// A path made of a TransformerEncoder's own modules runs the very ops of
// TransformerEncoder.forward followed by the head, so it computes that encoder's logits bit for
// bit.

import { Tensor, inference, paddingMask } from '../engine/index.js';
import {
  ImageStem,
  Module,
  type EmbeddingLowRank,
  type EncoderBlock,
  type Embeddings,
  type LayerNorm,
  type LowRankUpdate,
  type ResidualAdapter,
  type RouteContext,
} from '../nn/index.js';
import type { Tokenizer } from '../data/tokenizer/index.js';
import type { TaskHead } from '../tasks/heads.js';
import { withPrior } from '../tasks/naive_bayes_prior.js';
import { withBags } from '../tasks/ngrams.js';
import { encodeBatch, encodedLengths, labelTargets, type Batch } from '../tasks/encode.js';
import { defaultShift, encodeImages } from '../tasks/encode_image.js';
import { lengthSortedBatches } from '../tasks/batches.js';
import { scorePredictions, type TaskScore } from '../tasks/score.js';
import type { Example } from '../tasks/task.js';
import type { ComponentStore } from './components.js';
import type { Path } from './path.js';
import { decodePredictions, rawPrediction, type Prediction, type TaskSpec } from './predictions.js';

export interface PredictOptions {
  /** Examples per forward pass (grouped by length, answered in input order). Default 64. */
  batchSize?: number;
}

export class TaskPath extends Module {
  /** A text task's embeddings, or an image task's stem. */
  readonly embeddings: Embeddings | ImageStem;
  /** The path's low-rank update of the word embeddings (nn/embedding_lora.ts), or null. */
  readonly embeddingLora: EmbeddingLowRank | null;
  readonly blocks: EncoderBlock[];
  readonly adapters: (ResidualAdapter | null)[];
  /** Each block's low-rank update (nn/lora.ts), or null. */
  readonly loras: (LowRankUpdate | null)[];
  readonly finalNorm: LayerNorm | null;
  readonly head: TaskHead;
  /** What the path's blocks are told (the skills it activates), or undefined. */
  readonly route: RouteContext | undefined;

  constructor(
    readonly store: ComponentStore,
    readonly path: Path,
    readonly spec: TaskSpec,
    readonly tokenizer: Tokenizer,
    readonly maxLen: number,
  ) {
    super();
    if (path.task !== spec.name) throw new RangeError(`path is for task "${path.task}", the spec for "${spec.name}"`);
    // The components are registered as children (by reference, not copied), so parameters(),
    // train() and eval() reach them; names follow the path's slots.
    const stem = store.stem(path.embeddings).kind;
    if ((stem === 'image_stem') !== (spec.type === 'image_classification')) {
      throw new RangeError(
        `task "${spec.name}" (${spec.type}) cannot start from component "${path.embeddings}", a${stem === 'image_stem' ? 'n image stem' : ' text embedding'}`,
      );
    }
    this.embeddings = this.child('embeddings', store.get(path.embeddings).module as Embeddings | ImageStem);
    this.embeddingLora = path.embeddingLora ? this.child('embedding_lora', store.get(path.embeddingLora, 'embedding_lora').module) : null;
    this.adapters = path.adapters.map((id, i) => (id ? this.child(`adapters.${i}`, store.get(id, 'adapter').module) : null));
    this.blocks = path.blocks.map((id, i) => this.child(`blocks.${i}`, store.get(id, 'block').module));
    this.loras = path.blocks.map((_, i) => {
      const id = path.loras?.[i];
      return id ? this.child(`loras.${i}`, store.get(id, 'lora').module) : null;
    });
    this.finalNorm = path.finalNorm ? this.child('final_norm', store.get(path.finalNorm, 'final_norm').module) : null;
    this.head = this.child('head', store.get(path.head, 'head').module);
    this.route = path.skills ? { skills: path.skills } : undefined;
  }

  /** Hidden states [B, T, D] for an encoded batch. */
  hidden(batch: Batch): Tensor {
    const mask = paddingMask(batch.keep);
    let x: Tensor;
    if (this.embeddings instanceof ImageStem) {
      if (!batch.patches) throw new Error(`task "${this.spec.name}": an image batch needs patches`);
      x = this.embeddings.forward(batch.patches);
    } else x = this.embeddings.forward(batch.ids, batch.typeIds, this.embeddingLora);
    for (let i = 0; i < this.blocks.length; i++) {
      const a = this.adapters[i];
      if (a) x = a.forward(x);
      x = this.blocks[i].forward(x, mask, false, this.route, this.loras[i]);
    }
    return this.finalNorm ? this.finalNorm.forward(x) : x;
  }

  logits(batch: Batch): Tensor {
    return this.head.forward(this.hidden(batch), batch.rows, batch.keep, batch.bag ?? null, batch.prior ?? null);
  }

  loss(batch: Batch): Tensor {
    if (!batch.targets) throw new Error('loss: the batch was encoded without targets');
    return this.head.loss(this.logits(batch), batch.targets);
  }

  async encode(examples: readonly Example[], withTargets = true): Promise<Batch> {
    if (this.embeddings instanceof ImageStem) {
      // Training batches (targets, the stem training) are augmented; evaluation never is.
      const stem = this.embeddings;
      const augment = withTargets && stem.training ? { rng: stem.augmentRng(), shift: defaultShift(stem.cfg), flips: this.spec.image?.flips ?? false } : null;
      const batch = encodeImages(examples, stem.input, stem.tokens, augment);
      return withTargets ? { ...batch, targets: labelTargets(this.spec, examples) } : batch;
    }
    const batch = withBags(await encodeBatch(this.tokenizer, this.spec, examples, this.maxLen, withTargets), examples, this.head.cfg.lexical);
    return withPrior(batch, examples, this.head.prior);
  }

  /** Each example's encoded length in tokens (for grouping batches by length). */
  lengths(examples: readonly Example[]): Promise<number[]> {
    if (this.embeddings instanceof ImageStem) return Promise.resolve(examples.map(() => (this.embeddings as ImageStem).tokens));
    return encodedLengths(this.tokenizer, this.spec, examples, this.maxLen);
  }

  /** A typed prediction per input, in input order (predictions.ts), in inference mode. */
  async predict(inputs: readonly (string | Example)[], o: PredictOptions = {}): Promise<Prediction[]> {
    const examples = inputs.map((x) => (typeof x === 'string' ? { text: x } : x));
    const out: Prediction[] = new Array(examples.length);
    await this.eachBatch(examples, o.batchSize ?? 64, (idx, batch, logits) =>
      decodePredictions(
        this.spec,
        logits,
        batch,
        idx.map((i) => examples[i]),
      ).forEach((p, k) => (out[idx[k]] = p)),
    );
    return out;
  }

  /**
   * Runs `examples` through the path in length-sorted batches, in inference mode, handing each
   * batch's example indices, batch and logits to `use`. The components' own modes are restored,
   * not this view's flag: a component shared with other paths may be in training mode for one of
   * them (joint training) and must come back as it was.
   */
  private async eachBatch(examples: readonly Example[], batchSize: number, use: (idx: number[], batch: Batch, logits: Tensor) => void): Promise<void> {
    const parts = this.parts();
    const modes = parts.map((m) => m.training);
    this.eval();
    try {
      for (const idx of await lengthSortedBatches(examples, batchSize, (xs) => this.lengths(xs))) {
        const batch = await this.encode(
          idx.map((i) => examples[i]),
          false,
        );
        use(
          idx,
          batch,
          inference(() => this.logits(batch)),
        );
      }
    } finally {
      parts.forEach((m, i) => m.train(modes[i]));
    }
  }

  /**
   * A sequence task's logits for each example, [N · C] in input order, in inference mode: what
   * predict turns into labels (a prior's weight is fitted on them: train/fit_prior.ts).
   */
  async logitsOf(examples: readonly Example[], batchSize = 64): Promise<Float32Array> {
    if (this.spec.type === 'tagging') throw new Error(`logitsOf: "${this.spec.name}" is a tagging task (logits per word, not per example)`);
    const C = this.spec.type === 'regression' ? 1 : this.spec.labels.length;
    const out = new Float32Array(examples.length * C);
    await this.eachBatch(examples, batchSize, (idx, _batch, logits) => idx.forEach((i, k) => out.set(logits.f32.subarray(k * C, (k + 1) * C), i * C)));
    return out;
  }

  /** The path's components, each once. */
  parts(): Module[] {
    return [
      ...new Set<Module>([
        this.embeddings,
        ...(this.embeddingLora ? [this.embeddingLora] : []),
        ...this.adapters.filter((a): a is ResidualAdapter => a !== null),
        ...this.blocks,
        ...this.loras.filter((l): l is LowRankUpdate => l !== null),
        ...(this.finalNorm ? [this.finalNorm] : []),
        this.head,
      ]),
    ];
  }

  /** The task's natural metrics on labelled examples (tasks/score.ts). */
  async evaluate(examples: readonly Example[]): Promise<TaskScore> {
    return scorePredictions(this.spec, examples, (await this.predict(examples)).map(rawPrediction));
  }
}
