// Tensor: a shape over contiguous row-major storage (float32 for values, int32 for indices),
// plus what autograd needs: whether it wants a gradient, its gradient, and the node that made it.

import { emptyF32, emptyI32, noteWrap } from './storage.js';
import { noteTensor } from './scope.js';
import type { Rng } from './rng.js';
import { backward as runBackward, type BackwardOptions } from './autograd.js';

export type DType = 'float32' | 'int32';
export type Shape = readonly number[];

/** How a non-leaf tensor was computed: its inputs and the map from output grad to input grads. */
export interface Node {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Returns one gradient per input (null where the input needs none). */
  backward(grad: Float32Array): (Float32Array | null)[];
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

function checkShape(shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`invalid shape ${shapeStr(shape)}`);
  }
}

export class Tensor {
  readonly shape: Shape;
  /** Number of elements (kept when the storage is freed). */
  readonly size: number;
  // null once backward({ freeActivations }) or inference() has handed the storage back to the pool.
  private storage: Float32Array | Int32Array | null;
  requiresGrad: boolean;
  /** Accumulated gradient of a leaf (same shape, float32); null until a backward reaches it. */
  grad: Float32Array | null = null;
  /** The op that produced this tensor; null for leaves and after the graph is freed. */
  node: Node | null = null;
  /** Optional name (parameters carry their path, e.g. "encoder.layers.0.attn.qkv.weight"). */
  name = '';

  constructor(data: Float32Array | Int32Array, shape: Shape, requiresGrad = false) {
    checkShape(shape);
    if (data.length !== numel(shape)) {
      throw new RangeError(`data has ${data.length} elements but shape ${shapeStr(shape)} needs ${numel(shape)}`);
    }
    if (requiresGrad && !(data instanceof Float32Array)) {
      throw new TypeError('only float32 tensors can require a gradient');
    }
    this.storage = data;
    this.size = data.length;
    noteWrap(data);
    noteTensor(this);
    this.shape = Object.freeze([...shape]);
    this.requiresGrad = requiresGrad;
  }

  /** The storage: float32 values or int32 indices, row-major. */
  get data(): Float32Array | Int32Array {
    if (this.storage === null) {
      throw new Error(
        `this ${shapeStr(this.shape)} tensor${this.node === null && this.name ? ` (${this.name})` : ''} was freed for reuse: it was an intermediate of a backward({ freeActivations: true }), or made inside an inference() that did not return it. Read what you need before backward() (or return it from inference()), or call backward() without freeActivations`,
      );
    }
    return this.storage;
  }

  /** @internal autograd and inference(): the storage went back to the pool; any later read throws. */
  freeStorage(): void {
    this.storage = null;
  }

  /**
   * Makes `data` (float32, as many values) this tensor's storage in place of its own, which is
   * left to the GC: how a parameter comes to read weights that other threads share with no copy
   * (model/shared_model.ts). The values are the caller's; nothing is copied.
   */
  adoptStorage(data: Float32Array): void {
    if (!(this.data instanceof Float32Array)) throw new TypeError(`adoptStorage: ${shapeStr(this.shape)} is an int32 tensor`);
    if (data.length !== this.size) throw new RangeError(`adoptStorage: ${data.length} values for a ${shapeStr(this.shape)} tensor of ${this.size}`);
    noteWrap(data);
    this.storage = data;
  }

  /** Whether freeStorage() was called. */
  get freed(): boolean {
    return this.storage === null;
  }

  get dtype(): DType {
    return this.data instanceof Float32Array ? 'float32' : 'int32';
  }
  get ndim(): number {
    return this.shape.length;
  }
  /** The float32 storage (throws on an int32 tensor). */
  get f32(): Float32Array {
    if (!(this.data instanceof Float32Array)) throw new TypeError(`expected a float32 tensor, got int32 ${shapeStr(this.shape)}`);
    return this.data;
  }
  /** The int32 storage (throws on a float32 tensor). */
  get i32(): Int32Array {
    if (!(this.data instanceof Int32Array)) throw new TypeError(`expected an int32 tensor, got float32 ${shapeStr(this.shape)}`);
    return this.data;
  }
  /** Size of the last axis. */
  get cols(): number {
    return this.shape.length === 0 ? 1 : this.shape[this.shape.length - 1];
  }
  /** Product of all axes but the last. */
  get rows(): number {
    return numel(this.shape.slice(0, -1));
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new RangeError(`item() needs one element, tensor has shape ${shapeStr(this.shape)}`);
    return this.data[0];
  }

  toArray(): number[] {
    return Array.from(this.data);
  }

  /** Same storage, cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.data, this.shape, false);
  }

  /**
   * Reverse-mode autodiff from this tensor (a scalar unless `grad` is given). With
   * `freeActivations`, the graph's intermediate tensors give their storage back to the buffer pool
   * as soon as the walk is past them (see autograd.ts for what that saves and what it asks of you).
   */
  backward(grad?: Float32Array, opts: BackwardOptions = {}): void {
    runBackward(this, grad, opts);
  }

  toString(): string {
    const head = Array.from(this.data.subarray(0, 8), (v) => +v.toPrecision(5)).join(', ');
    return `Tensor(${this.dtype} ${shapeStr(this.shape)} [${head}${this.size > 8 ? ', ...' : ''}])`;
  }
}

// ------------------------------------------------------------------------------- factories

export function tensor(values: ArrayLike<number>, shape?: Shape, requiresGrad = false): Tensor {
  const data = values instanceof Float32Array ? values : Float32Array.from(values);
  return new Tensor(data, shape ?? [data.length], requiresGrad);
}

export function intTensor(values: ArrayLike<number>, shape?: Shape): Tensor {
  const data = values instanceof Int32Array ? values : Int32Array.from(values);
  return new Tensor(data, shape ?? [data.length]);
}

export function empty(shape: Shape): Tensor {
  return new Tensor(emptyF32(numel(shape)), shape);
}

export function emptyInt(shape: Shape): Tensor {
  return new Tensor(emptyI32(numel(shape)), shape);
}

export function zeros(shape: Shape, requiresGrad = false): Tensor {
  return new Tensor(new Float32Array(numel(shape)), shape, requiresGrad);
}

export function full(shape: Shape, value: number, requiresGrad = false): Tensor {
  return new Tensor(new Float32Array(numel(shape)).fill(value), shape, requiresGrad);
}

export function ones(shape: Shape, requiresGrad = false): Tensor {
  return full(shape, 1, requiresGrad);
}

/** Normal(0, std) values from a seeded generator. */
export function randn(shape: Shape, rng: Rng, std = 1, requiresGrad = false): Tensor {
  const d = new Float32Array(numel(shape));
  for (let i = 0; i < d.length; i++) d[i] = rng.normal() * std;
  return new Tensor(d, shape, requiresGrad);
}

/** Uniform [lo, hi) values from a seeded generator. */
export function rand(shape: Shape, rng: Rng, lo = 0, hi = 1): Tensor {
  const d = new Float32Array(numel(shape));
  for (let i = 0; i < d.length; i++) d[i] = lo + (hi - lo) * rng.uniform();
  return new Tensor(d, shape);
}

/** A trainable leaf. */
export function parameter(t: Tensor, name = ''): Tensor {
  const p = new Tensor(t.f32, t.shape, true);
  p.name = name;
  return p;
}
