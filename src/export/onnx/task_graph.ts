// One task's path as one static ONNX graph: its embeddings (or image stem), its blocks with their
// adapters and low-rank updates, the final norm and its head, with task routing resolved at
// export (the path's components, the path's skills). Nothing of other tasks is in it.
//
// Inputs follow transformers.js and Hugging Face's names, with batch and sequence dynamic:
//   text:   input_ids, attention_mask, token_type_ids   int64 [batch, sequence]
//   image:  pixel_values   float32 [batch, channels, height, width], values 0-255
// and, for a head that has them, Pathwise's lexical inputs (computed from the text by
// export/inputs.ts, the same hashing Pathwise's training used):
//   ngram_ids, ngram_mask   int64 [batch, ngrams]   the n-gram bag's bucket ids
//   prior_rows, prior_mask  int64 [batch, words]    the Naive Bayes prior's rows
// The output is `logits`: [batch, labels] ([batch, 1] for regression; [batch, sequence, labels]
// for tagging, read at each word's first subtoken).

import { ImageStem } from '../../nn/index.js';
import type { TaskPath } from '../../model/index.js';
import { Graph, type Dim, type ElemType } from './graph.js';
import { emitAdapter, emitBlock, emitEmbeddings, emitImageStem, emitLayerNorm } from './emit_nn.js';
import { emitHead, type HeadInputs } from './emit_head.js';
import { Weights } from './weights.js';

export interface GraphInput {
  name: string;
  type: ElemType;
  dims: Dim[];
}

export interface TaskGraph {
  graph: Graph;
  inputs: GraphInput[];
  /** Dims of `logits`. */
  outputDims: Dim[];
}

export function taskGraph(path: TaskPath, weights: Weights = new Weights()): TaskGraph {
  const g = new Graph(`pathwise_${path.spec.name}`);
  const w = weights;
  const inputs: GraphInput[] = [];
  const input = (name: string, type: ElemType, dims: Dim[]): string => {
    inputs.push({ name, type, dims });
    return g.input(name, type, dims);
  };
  const spec = path.spec;
  let x: string;
  let mask: string;
  let keep: string | null = null;
  if (path.embeddings instanceof ImageStem) {
    const { channels, height, width } = path.embeddings.cfg;
    x = emitImageStem(g, w, path.embeddings, input('pixel_values', 'float32', ['batch', channels, height, width]), 'embeddings');
    // Every token of an image is real: a mask of zeros, [1, 1, 1, 1], broadcast.
    mask = g.init('no_mask', { type: 'float32', dims: [1, 1, 1, 1], data: Float32Array.of(0) });
  } else {
    const ids = input('input_ids', 'int64', ['batch', 'sequence']);
    const attention = input('attention_mask', 'int64', ['batch', 'sequence']);
    const types = input('token_type_ids', 'int64', ['batch', 'sequence']);
    x = emitEmbeddings(g, w, path.embeddings, ids, types, 'embeddings', path.embeddingLora);
    // Additive key mask [batch, 1, 1, sequence]: 0 keeps a key, float32's lowest removes it.
    const pad = g.op('Equal', [attention, g.i64('zero_i64', [0], [])], 'padding');
    const additive = g.op('Where', [pad, g.scalar('lowest', -3.4028234663852886e38), g.scalar('zero', 0)], 'mask_additive');
    mask = g.op('Unsqueeze', [additive, g.i64('axes_1_2', [1, 2])], 'mask');
    keep = g.op('Unsqueeze', [g.op('Cast', [attention], 'keep_f', { to: 1 }), g.i64('axis_m1', [-1])], 'keep');
  }
  for (let i = 0; i < path.blocks.length; i++) {
    const a = path.adapters[i];
    if (a) x = emitAdapter(g, w, a, x, `adapters.${i}`);
    x = emitBlock(g, w, path.blocks[i], x, mask, `blocks.${i}`, path.route, path.loras[i]);
  }
  if (path.finalNorm) x = emitLayerNorm(g, w, path.finalNorm, x, 'final_norm');
  const head = path.head;
  const headInputs: HeadInputs = { keep, ngrams: null, prior: null };
  const floatMask = (name: string) => g.op('Cast', [name], `${name}_f`, { to: 1 });
  if (head.bag) {
    headInputs.ngrams = { ids: input('ngram_ids', 'int64', ['batch', 'ngrams']), mask: floatMask(input('ngram_mask', 'int64', ['batch', 'ngrams'])) };
  }
  if (head.prior) {
    headInputs.prior = { rows: input('prior_rows', 'int64', ['batch', 'words']), mask: floatMask(input('prior_mask', 'int64', ['batch', 'words'])) };
  }
  const logits = emitHead(g, w, head, x, headInputs, 'head');
  const C = spec.type === 'regression' ? 1 : spec.labels.length;
  const outputDims: Dim[] = spec.type === 'tagging' ? ['batch', 'sequence', C] : ['batch', C];
  g.output(logits, 'logits', 'float32', outputDims);
  return { graph: g, inputs, outputDims };
}
