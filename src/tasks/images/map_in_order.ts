// Running an async step over many items (decoding thousands of images) with a bounded number in
// flight, and failing the way a sequential loop would: with the error of the FIRST failing item,
// whatever the order the work finished in, so the same bad input always gives the same message.

/**
 * `fn` over `items`, at most `limit` at a time, results in item order. Items start in order; after
 * a failure no further item starts, the ones in flight finish, and the error of the lowest-index
 * failure is thrown (every item before it was started, so none of them could have failed unseen).
 */
export async function mapInOrder<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failedAt = Number.POSITIVE_INFINITY;
  let failure: unknown;
  const worker = async () => {
    while (failedAt === Number.POSITIVE_INFINITY && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i], i);
      } catch (error) {
        if (i < failedAt) [failedAt, failure] = [i, error];
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failedAt !== Number.POSITIVE_INFINITY) throw failure;
  return out;
}
