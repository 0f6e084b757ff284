// What an exported task graph is fed (onnx/task_graph.ts names the inputs), computed from examples
// with Pathwise's own preprocessing: the task's tokenizer and batch encoding, the lexical head's
// hashed n-grams, and the Naive Bayes prior's rows (each word's bucket among the buckets the prior
// counted; a word it never counted is left out, as Pathwise leaves it out). The same code makes
// Pathwise's batches, so an exported graph and Pathwise see the same numbers.

import { ImageStem } from '../nn/index.js';
import type { TaskPath } from '../model/index.js';
import { hashedNgrams, type Example } from '../tasks/index.js';
import { priorSeenBuckets } from './onnx/emit_head.js';

/** One named input: ONNX Runtime's tensor arguments (type, data, dims). */
export interface FeedTensor {
  type: 'int64' | 'float32';
  data: BigInt64Array | Float32Array;
  dims: number[];
}

export type Feeds = Record<string, FeedTensor>;

const int64 = (a: ArrayLike<number>): BigInt64Array => BigInt64Array.from(Array.from(a, (v) => BigInt(v)));

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
  if (head.bag) {
    const bags = examples.map((ex) => hashedNgrams(ex, head.cfg.lexical!));
    Object.assign(feeds, padded('ngram', bags));
  }
  if (head.prior) {
    const seen = priorSeenBuckets(head.prior);
    const rows = examples.map((ex) => {
      const out: number[] = [];
      for (const b of hashedNgrams(ex, { buckets: head.prior!.buckets, dim: 1, ngrams: 1 })) {
        const r = lowerBound(seen, b);
        if (r < seen.length && seen[r] === b) out.push(r);
      }
      return Int32Array.from(out);
    });
    Object.assign(feeds, padded('prior', rows, 'rows'));
  }
  return feeds;
}

/** `<prefix>_<ids>` and `<prefix>_mask`, [B, longest] (at least 1 wide), zero-padded. */
function padded(prefix: string, lists: Int32Array[], ids = 'ids'): Feeds {
  const B = lists.length;
  const L = Math.max(1, ...lists.map((l) => l.length));
  const data = new BigInt64Array(B * L);
  const mask = new BigInt64Array(B * L);
  lists.forEach((l, b) => {
    for (let i = 0; i < l.length; i++) {
      data[b * L + i] = BigInt(l[i]);
      mask[b * L + i] = 1n;
    }
  });
  return { [`${prefix}_${ids}`]: { type: 'int64', data, dims: [B, L] }, [`${prefix}_mask`]: { type: 'int64', data: mask, dims: [B, L] } };
}

function lowerBound(a: Int32Array, x: number): number {
  let [lo, hi] = [0, a.length];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
