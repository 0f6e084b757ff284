// Components as plain data, to rebuild them in another thread (worker.ts): each one's description
// (what config.json saves of it), a copy of its weights, and the state of the Rng its module was
// built from. Rebuilding replays the module's construction from that state, then loads the
// weights, as loading a folder does (model/folder.ts). The module then holds the same weights and its
// dropout generator is in the same state, so the copy computes and trains bit for bit like
// the original.

import { Rng } from '../engine/index.js';
import type { Module } from '../nn/index.js';
import { ComponentStore, buildModule, describeComponent, type ComponentDescription, type RngSnapshot } from '../model/index.js';

export interface ComponentSnapshot extends ComponentDescription {
  /** Parameter name -> a copy of its values, with a buffer of its own (transferable). */
  weights: Record<string, Float32Array>;
  /** ComponentStore.builtFrom: null for a module that was loaded or adopted, not built here. */
  builtFrom: RngSnapshot | null;
}

/** Copies of a module's parameters, each in an ArrayBuffer of its own (tensor storage can be a view into a pooled buffer). */
export function parameterCopies(module: Module): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [name, p] of module.namedParameters()) out[name] = p.f32.slice();
  return out;
}

export function snapshotComponents(store: ComponentStore, ids: Iterable<string>): ComponentSnapshot[] {
  return [...ids].map((id) => {
    const c = store.get(id);
    return { ...describeComponent(c), weights: parameterCopies(c.module), builtFrom: store.builtFrom(id) };
  });
}

/** The weight buffers of snapshots or copies, for a postMessage transfer list. */
export function weightBuffers(sets: Iterable<Record<string, Float32Array>>): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const w of sets) for (const a of Object.values(w)) out.push(a.buffer as ArrayBuffer);
  return out;
}

/** A store holding exactly the snapshots' components, under their ids, in inference mode. */
export function restoreComponents(snapshots: readonly ComponentSnapshot[]): ComponentStore {
  const store = new ComponentStore();
  for (const s of snapshots) {
    const rng = new Rng(0);
    if (s.builtFrom) rng.setState(s.builtFrom);
    const module = buildModule(s.kind, s.config, rng);
    try {
      module.loadParameters(s.weights);
    } catch (e) {
      throw new Error(`component "${s.id}": ${(e as Error).message}`);
    }
    store.add(s.kind, s.config as never, module.eval() as never, s.owner, s.locked, s.id);
  }
  return store;
}
