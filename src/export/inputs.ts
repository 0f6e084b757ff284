// What an exported task graph is fed (onnx/task_graph.ts names the inputs), computed from examples
// with Pathwise's own preprocessing: the task's tokenizer and batch encoding, and the lexical
// inputs (lexical_inputs.ts: the n-gram bag's hashed n-grams, the Naive Bayes prior's rows). The
// same code makes Pathwise's batches, so an exported graph and Pathwise see the same numbers.

import { ImageStem } from '../nn/index.js';
import type { TaskPath } from '../model/index.js';
import type { Example } from '../tasks/index.js';
import { priorSeenBuckets } from './onnx/emit_head.js';
import { lexicalInputs } from './lexical_inputs.js';

/** One named input: ONNX Runtime's tensor arguments (type, data, dims). */
export interface FeedTensor {
  type: 'int64' | 'float32';
  data: BigInt64Array | Float32Array;
  dims: number[];
}

export type Feeds = Record<string, FeedTensor>;

const int64 = (a: Int32Array): BigInt64Array => BigInt64Array.from(a, (v) => BigInt(v));

/** The feeds for a batch of examples, padded as Pathwise pads them. */
export async function exportFeeds(path: TaskPath, examples: readonly Example[]): Promise<Feeds> {
  const B = examples.length;
  if (path.embeddings instanceof ImageStem) {
    const { channels: C, height: H, width: W } = path.embeddings.cfg;
    const out = new Float32Array(B * C * H * W);
    examples.forEach((ex, b) => {
      const img = ex.image;
      if (!img || img.width !== W || img.height !== H || img.channels !== C) throw new RangeError(`example ${b}: not a ${W}×${H}×${C} image`);
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) out[((b * C + c) * H + y) * W + x] = img.pixels[(y * W + x) * C + c];
    });
    return { pixel_values: { type: 'float32', data: out, dims: [B, C, H, W] } };
  }
  const batch = await path.encode(examples, false);
  const dims = [...batch.ids.shape];
  const feeds: Feeds = {
    input_ids: { type: 'int64', data: int64(batch.ids.i32), dims },
    attention_mask: { type: 'int64', data: int64(batch.keep.i32), dims },
    token_type_ids: { type: 'int64', data: int64(batch.typeIds.i32), dims },
  };
  const head = path.head;
  const spec = { lexical: head.cfg.lexical ?? null, prior: head.prior ? { buckets: head.prior.buckets, seen: priorSeenBuckets(head.prior) } : null };
  Object.assign(feeds, lexicalInputs(examples, spec));
  return feeds;
}
