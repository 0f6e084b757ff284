// Post-training int8 quantization of a task model (`pathwise quantize`): weights per row
// (per output channel) symmetric int8, activations per row at run time (engine/ops/linear_int8.ts).
//
// What is quantized, one rule: every weight matrix (linear layers of attention, FFNs, skills,
// adapters and heads; the factors of low-rank updates; the stacked expert weights of Switch
// layers; embedding tables, n-gram bags and an embedding update's token table) except the Switch router, whose argmax decides each token's route: a flipped route costs
// more than the router's few bytes save. Biases (the experts' stacked ones too) and LayerNorm
// stay float32, as in PyTorch's quantize_dynamic. One scale per output channel: per row of a
// linear weight, per column of an embedding table (engine/quantized.ts). A head's Naive Bayes
// prior is counts, not weights: kept exactly, stored compactly (model/compact_prior.ts).
// Quantizing changes every weight it touches, including those of finished tasks: a quantized
// folder is a new model to score (docs/results/int8.md), not a path system grown in place.

import { quantizeParameter } from '../engine/index.js';
import type { TaskModel } from '../model/index.js';
import { EmbeddingLowRank, Embeddings, NgramBag } from '../nn/index.js';
import { Experts, Router } from '../sparse/index.js';

export interface QuantizeReport {
  /** Parameters (tensors) quantized, by name. */
  quantized: string[];
  /** Values now stored as int8. */
  int8Values: number;
  /** Values left float32 (biases, norms and the routers). */
  floatValues: number;
}

/** Quantizes `m` in place (its parameters' values become the dequantized ones). */
export function quantizeModel(m: TaskModel): QuantizeReport {
  const modules = [...m.modules()];
  // Float32 by the rule: the routers, and the experts' biases (vectors stacked per expert).
  const keep = new Set([
    ...modules.filter((x): x is Router => x instanceof Router).map((r) => r.weight),
    ...modules.filter((x): x is Experts => x instanceof Experts).flatMap((e) => [e.b1, e.b2]),
  ]);
  const tables = new Set([
    ...modules.filter((x): x is Embeddings => x instanceof Embeddings).flatMap((e) => [e.word, e.position, e.type]),
    ...modules.filter((x): x is NgramBag => x instanceof NgramBag).map((b) => b.table),
    // read by row like the word table it updates: a scale per column (per rank), as there
    ...modules.filter((x): x is EmbeddingLowRank => x instanceof EmbeddingLowRank).map((u) => u.a),
  ]);
  const report: QuantizeReport = { quantized: [], int8Values: 0, floatValues: 0 };
  for (const [name, p] of m.namedParameters()) {
    if (p.ndim < 2 || keep.has(p)) {
      report.floatValues += p.size;
      continue;
    }
    if (!p.name) p.name = name;
    quantizeParameter(p, tables.has(p) ? 'column' : 'row');
    report.quantized.push(name);
    report.int8Values += p.size;
  }
  return report;
}
