// A model's parameters as a graph's initializers, each stored once however many paths read it: a
// block that two tasks share is one set of weights in a graph that holds both (and the same
// parameter always has the same name). Linear weights are stored transposed ([in, out]), the
// layout MatMul reads.

import type { Tensor } from '../../engine/index.js';
import type { Graph } from './graph.js';

export class Weights {
  /** A stable key per (array, variant): what Graph.init deduplicates on. */
  private readonly keys = new WeakMap<object, Map<string, object>>();

  protected key(t: Tensor, variant: string): object {
    let m = this.keys.get(t.f32);
    if (!m) this.keys.set(t.f32, (m = new Map()));
    let k = m.get(variant);
    if (!k) m.set(variant, (k = {}));
    return k;
  }

  /**
   * x · Wᵀ for a Linear weight W [out, in], or for row `e` of a stacked one [E, out, in] (an
   * expert's): MatMul with Wᵀ stored once. Int8Weights (weights_int8.ts) quantizes here.
   */
  matmul(g: Graph, name: string, x: string, w: Tensor, e?: number): string {
    return g.op('MatMul', [x, e === undefined ? this.transposed(g, name, w) : this.transposedRow(g, name, w, e)], `${name}.matmul`);
  }

  /** A table read by row (embeddings, an n-gram bag), as stored. */
  table(g: Graph, name: string, t: Tensor): string {
    return this.param(g, name, t);
  }

  /** The parameter as it is. */
  param(g: Graph, name: string, t: Tensor): string {
    return g.f32(name, t.f32, [...t.shape], this.key(t, 'as-is'));
  }

  /** A Linear weight [out, in], stored as [in, out]. */
  transposed(g: Graph, name: string, w: Tensor): string {
    const [out, inn] = w.shape;
    return g.f32(name, transpose(w.f32, 0, out, inn), [inn, out], this.key(w, 'T'));
  }

  /** Row `e` of a stacked weight [E, out, in] (an expert's), stored as [in, out]. */
  transposedRow(g: Graph, name: string, w: Tensor, e: number): string {
    const [, out, inn] = w.shape;
    return g.f32(name, transpose(w.f32, e * out * inn, out, inn), [inn, out], this.key(w, `T${e}`));
  }

  /** Row `e` of a stacked bias [E, n]. */
  row(g: Graph, name: string, b: Tensor, e: number): string {
    const n = b.shape[1];
    return g.f32(name, b.f32.slice(e * n, (e + 1) * n), [n], this.key(b, `row${e}`));
  }
}

function transpose(src: Float32Array, at: number, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[at + r * cols + c];
  return out;
}
