// Dispatch plan: which (token, slot) assignments an expert accepts under its capacity, grouped by
// expert for the grouped GEMM.
//
// Capacity C = ceil(capacityFactor · N · k / E) assignments per expert (unlimited when dropless).
// Priority is slot-major, then token order: every token's first choice is served before any
// second choice, as in GShard / Switch. Assignments beyond capacity are dropped; a token whose
// every choice is dropped gets a zero output and passes through the block's residual connection.

export interface DispatchPlan {
  /** Token of each kept assignment, grouped by expert. */
  token: Int32Array;
  /** Index into the [N * k] gates of each kept assignment. */
  gate: Int32Array;
  /** Expert e owns rows offsets[e] .. offsets[e+1]. */
  offsets: Int32Array;
  /** Kept assignments per expert. */
  counts: Int32Array;
  /** Capacity per expert (Infinity when dropless). */
  capacity: number;
  /** Assignments dropped for lack of capacity. */
  dropped: number;
  /** 1 where assignment (n, j) was kept, [N * k]. */
  kept: Uint8Array;
}

export function capacityOf(tokens: number, k: number, experts: number, factor: number | null): number {
  return factor === null ? Infinity : Math.ceil((factor * tokens * k) / experts);
}

export function planDispatch(expert: Int32Array, N: number, k: number, nExperts: number, capacity: number): DispatchPlan {
  const counts = new Int32Array(nExperts);
  const kept = new Uint8Array(N * k);
  let total = 0;
  for (let j = 0; j < k; j++) {
    for (let n = 0; n < N; n++) {
      const e = expert[n * k + j];
      if (counts[e] < capacity) {
        counts[e]++;
        kept[n * k + j] = 1;
        total++;
      }
    }
  }
  // Counting sort by expert; within an expert, the priority order above.
  const offsets = new Int32Array(nExperts + 1);
  for (let e = 0; e < nExperts; e++) offsets[e + 1] = offsets[e] + counts[e];
  const fill = offsets.slice(0, nExperts);
  const token = new Int32Array(total);
  const gate = new Int32Array(total);
  for (let j = 0; j < k; j++) {
    for (let n = 0; n < N; n++) {
      const a = n * k + j;
      if (!kept[a]) continue;
      const r = fill[expert[a]]++;
      token[r] = n;
      gate[r] = a;
    }
  }
  return { token, gate, offsets, counts, capacity, dropped: N * k - total, kept };
}
