// The lexical inputs of an exported graph (onnx/task_graph.ts), from raw text: the n-gram bag's
// bucket ids and the Naive Bayes prior's rows, padded into int64 [batch, n] with their masks. It
// imports only tasks/word_hashing.ts, which imports nothing, so a web page runs this very code
// beside the graph (examples/browser/) and hashes words exactly as training did.

import { hashedGrams, lowerBound } from '../tasks/word_hashing.js';

/** What an exported task's config.json says of its head ("pathwise": lexical, prior). */
export interface LexicalSpec {
  /** The n-gram bag's hashing, or null when the head has none. */
  lexical: { buckets: number; ngrams: number } | null;
  /** The prior's hashing buckets and the buckets it counted, ascending (pathwise_prior.json), or null. */
  prior: { buckets: number; seen: ArrayLike<number> } | null;
}

export interface IntInput {
  type: 'int64';
  data: BigInt64Array;
  dims: [number, number];
}

/** The graph's `ngram_ids`, `ngram_mask`, `prior_rows` and `prior_mask` (those the head reads) for these texts. */
export function lexicalInputs(texts: readonly { text: string; textPair?: string }[], spec: LexicalSpec): Record<string, IntInput> {
  const out: Record<string, IntInput> = {};
  if (spec.lexical) {
    const { buckets, ngrams } = spec.lexical;
    Object.assign(
      out,
      padded(
        'ngram',
        'ids',
        texts.map((t) => hashedGrams(t.text, t.textPair, buckets, ngrams)),
      ),
    );
  }
  if (spec.prior) {
    const { buckets, seen } = spec.prior;
    const rows = texts.map((t) => {
      const r: number[] = [];
      // A word the prior never counted is left out, as Pathwise leaves it out.
      for (const b of hashedGrams(t.text, t.textPair, buckets, 1)) {
        const i = lowerBound(seen, b);
        if (i < seen.length && seen[i] === b) r.push(i);
      }
      return r;
    });
    Object.assign(out, padded('prior', 'rows', rows));
  }
  return out;
}

/** `<prefix>_<ids>` and `<prefix>_mask`, [B, longest] (at least 1 wide), zero-padded. */
function padded(prefix: string, ids: string, lists: ArrayLike<number>[]): Record<string, IntInput> {
  const B = lists.length;
  const L = Math.max(1, ...Array.from(lists, (l) => l.length));
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
