// Module: a tree of named parameters and sub-modules with a train / eval mode.
// Parameter names are dotted paths ("layers.0.attn.qkv.weight"), the keys of checkpoints.

import { Tensor, parameter } from '../engine/index.js';

export abstract class Module {
  training = true;
  private readonly ownParams = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /** Registers a trainable parameter under `name`. */
  protected param(name: string, init: Tensor): Tensor {
    if (this.ownParams.has(name) || this.children.has(name)) throw new Error(`duplicate member name "${name}"`);
    const p = parameter(init, name);
    this.ownParams.set(name, p);
    return p;
  }

  /** Registers a sub-module under `name`. */
  protected child<M extends Module>(name: string, m: M): M {
    if (this.ownParams.has(name) || this.children.has(name)) throw new Error(`duplicate member name "${name || '(flattened)'}"`);
    this.children.set(name, m);
    return m;
  }

  /** Every parameter with its full dotted name, in registration order. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, p] of this.ownParams) out.push([prefix + n, p]);
    // A child registered under "" is flattened into this module's namespace.
    for (const [n, c] of this.children) out.push(...c.namedParameters(n ? `${prefix}${n}.` : prefix));
    return out;
  }

  /**
   * State saved and loaded with the parameters but never trained (PyTorch's buffers): a head's
   * Naive Bayes prior. None by default; children's are included.
   */
  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, c] of this.children) out.push(...c.namedBuffers(n ? `${prefix}${n}.` : prefix));
    return out;
  }

  /** Parameters, then buffers: everything a checkpoint of this module holds. */
  namedState(prefix = ''): [string, Tensor][] {
    return [...this.namedParameters(prefix), ...this.namedBuffers(prefix)];
  }

  /** This module and every descendant, depth first. */
  *modules(): Generator<Module> {
    yield this;
    for (const c of this.children.values()) yield* c.modules();
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  numParameters(): number {
    return this.parameters().reduce((s, p) => s + p.size, 0);
  }

  /** Sets training mode on this module and every descendant. */
  train(on = true): this {
    this.training = on;
    for (const c of this.children.values()) c.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Copies values into parameters by name; every parameter must be given, with its shape. */
  loadParameters(values: Record<string, Float32Array>): void {
    for (const [name, p] of this.namedParameters()) {
      const v = values[name];
      if (!v) throw new Error(`missing parameter "${name}"`);
      if (v.length !== p.size) throw new Error(`parameter "${name}" has ${v.length} values, expected ${p.size} for shape [${p.shape.join(', ')}]`);
      p.f32.set(v);
    }
  }
}
