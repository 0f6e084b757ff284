// Checkpoints: a folder per saved step under <out>/checkpoints/, holding
//   model.safetensors      parameters by name
//   config.json            the model config (what loadPretrained needs)
//   tokenizer.json         Hugging Face format
//   optimizer.safetensors  AdamW moments, "m.<param>" and "v.<param>"
//   trainer_state.json     step, data position, RNG states, run config
// Each folder is written under a temporary name and renamed into place, then LATEST is replaced
// atomically, so a kill at any instant leaves only complete checkpoints behind.

import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, readSafetensors, serializeSafetensors, type AdamW, type AdamWState } from '../engine/index.js';
import type { Module } from '../nn/index.js';
import { writeDirAtomic, writeFileAtomic } from '../util/atomic.js';
import { checkedParameter, folderFiles, type SavedModel } from '../model/index.js';

/** Loads model.safetensors into a module; every parameter must be present with its shape. */
export function loadModelWeights(model: Module, file: string): void {
  // A checkpoint is checked as a model folder's weights are: a damaged one is named, never resumed from.
  const { tensors } = readSafetensors(file);
  for (const [name, p] of model.namedParameters()) p.f32.set(checkedParameter(tensors.get(name), name, p.shape, file, 'the model expects'));
}

export interface TrainerState {
  step: number;
  [k: string]: unknown;
}

const stepDir = (step: number) => `step-${String(step).padStart(8, '0')}`;

export class CheckpointDir {
  constructor(readonly root: string) {}

  get dir(): string {
    return join(this.root, 'checkpoints');
  }

  /** Saves a complete checkpoint and prunes all but the newest `keep`. */
  save(step: number, model: Module, saved: SavedModel, opt: AdamW, state: TrainerState, keep: number): string {
    const names = model.namedParameters().map(([n]) => n);
    const st = opt.state();
    const moments = new Map<string, Tensor>();
    names.forEach((n, i) => {
      moments.set(`m.${n}`, new Tensor(st.m[i], [st.m[i].length]));
      moments.set(`v.${n}`, new Tensor(st.v[i], [st.v[i].length]));
    });
    const target = join(this.dir, stepDir(step));
    writeDirAtomic(target, {
      ...folderFiles(model.namedParameters(), saved),
      'optimizer.safetensors': serializeSafetensors(moments, { step: String(st.step) }),
      'trainer_state.json': JSON.stringify(state, null, 2) + '\n',
    });
    writeFileAtomic(join(this.dir, 'LATEST'), stepDir(step) + '\n');
    const all = this.complete();
    for (const old of all.slice(0, Math.max(0, all.length - keep))) rmSync(join(this.dir, old), { recursive: true, force: true });
    return target;
  }

  /** Complete checkpoint folders, oldest first (temporary leftovers of a killed write excluded). */
  complete(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((d) => /^step-\d{8}$/.test(d) && existsSync(join(this.dir, d, 'trainer_state.json')))
      .sort();
  }

  /** The newest complete checkpoint folder, or null. */
  latest(): string | null {
    const pointer = join(this.dir, 'LATEST');
    if (existsSync(pointer)) {
      const d = readFileSync(pointer, 'utf8').trim();
      if (existsSync(join(this.dir, d, 'trainer_state.json'))) return join(this.dir, d);
    }
    const all = this.complete();
    return all.length ? join(this.dir, all[all.length - 1]) : null;
  }

  /** Removes temporary folders left by a write that was killed. */
  cleanTemporary(): void {
    if (!existsSync(this.dir)) return;
    for (const d of readdirSync(this.dir)) if (d.startsWith('.')) rmSync(join(this.dir, d), { recursive: true, force: true });
  }

  static loadOptimizer(dir: string, model: Module, opt: AdamW): void {
    const file = join(dir, 'optimizer.safetensors');
    const { tensors, metadata } = readSafetensors(file);
    const names = model.namedParameters().map(([n]) => n);
    const get = (k: string) => {
      const t = tensors.get(k);
      if (!t) throw new Error(`${file}: missing "${k}"`);
      return t.f32;
    };
    const state: AdamWState = { step: Number(metadata.step), m: names.map((n) => get(`m.${n}`)), v: names.map((n) => get(`v.${n}`)) };
    if (!Number.isInteger(state.step)) throw new Error(`${file}: metadata.step is missing`);
    opt.loadState(state);
  }

  static loadState<T extends TrainerState>(dir: string): T {
    const file = join(dir, 'trainer_state.json');
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  }
}
