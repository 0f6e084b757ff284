// A path system: the component store, the root stack every path is grown from, the shared
// tokenizer, and for each task its spec, where its data comes from and its path. It predicts
// like MultiTaskModel (predict / logits / loss / encode by task name), each task running only
// its own path.

import type { Tokenizer } from '../data/tokenizer/index.js';
import { FeedForward } from '../nn/index.js';
import type { Tensor } from '../engine/index.js';
import type { Batch } from '../tasks/encode.js';
import type { MultiTaskModel, TaskSpec } from '../tasks/multitask_model.js';
import type { Example } from '../tasks/task.js';
import type { SavedTask, TaskSource } from '../train/pretrained.js';
import { ComponentStore } from './components.js';
import { defaultHParams, type HParams } from './hparams.js';
import { checkPath, type Path, type Root } from './path.js';
import { PathModel, type Prediction } from './path_model.js';

export interface SystemTask {
  spec: TaskSpec;
  source: TaskSource;
  path: Path;
}

export class PathSystem {
  /** In the order tasks were added. */
  readonly tasks = new Map<string, SystemTask>();
  private readonly models = new Map<string, PathModel>();

  constructor(readonly store: ComponentStore, readonly root: Root, readonly tokenizer: Tokenizer, readonly maxLen: number) {
    for (const id of [root.embeddings, ...root.blocks]) store.get(id);
    if (root.finalNorm !== null) store.get(root.finalNorm, 'final_norm');
    if (root.blocks.length === 0) throw new RangeError('the root stack needs at least one block');
  }

  get depth(): number {
    return this.root.blocks.length;
  }

  addTask(spec: TaskSpec, source: TaskSource, path: Path): void {
    if (this.tasks.has(spec.name)) throw new RangeError(`task "${spec.name}" already exists`);
    checkPath(this.store, path, `task "${spec.name}" path`);
    this.tasks.set(spec.name, { spec, source, path });
  }

  task(name: string): SystemTask {
    const t = this.tasks.get(name);
    if (!t) throw new RangeError(`unknown task "${name}" (this model has: ${[...this.tasks.keys()].join(', ')})`);
    return t;
  }

  /** The task's path as a model (built once, then cached: the path never changes). */
  model(name: string): PathModel {
    let m = this.models.get(name);
    if (!m) {
      const t = this.task(name);
      this.models.set(name, (m = new PathModel(this.store, t.path, t.spec, this.tokenizer, this.maxLen)));
    }
    return m;
  }

  /** The root stack as a headless path (the parent of a first task), with default hyperparameters. */
  rootPath(task: string, hparams: HParams = defaultHParams(this.depth)): Omit<Path, 'head'> {
    return { task, embeddings: this.root.embeddings, blocks: [...this.root.blocks], adapters: this.root.blocks.map(() => null), finalNorm: this.root.finalNorm, hparams: { ...hparams, layers: this.depth } };
  }

  encode(task: string, examples: readonly Example[], withTargets = true): Promise<Batch> {
    return this.model(task).encode(examples, withTargets);
  }

  logits(task: string, batch: Batch): Tensor {
    return this.model(task).logits(batch);
  }

  loss(task: string, batch: Batch): Tensor {
    return this.model(task).loss(batch);
  }

  predict(task: string, inputs: readonly (string | Example)[], batchSize = 64): Promise<Prediction[]> {
    return this.model(task).predict(inputs, batchSize);
  }

  /** All parameters of the system (every stored component once). */
  numParameters(): number {
    return this.store.numParameters();
  }

  /** Removes unlocked components no task's path uses (discarded search candidates). */
  collectGarbage(): string[] {
    const used = new Set<string>([this.root.embeddings, ...this.root.blocks, ...(this.root.finalNorm ? [this.root.finalNorm] : [])]);
    for (const t of this.tasks.values()) {
      const p = t.path;
      for (const id of [p.embeddings, ...p.blocks, p.head, ...(p.finalNorm ? [p.finalNorm] : []), ...p.adapters.filter((a): a is string => a !== null)]) used.add(id);
    }
    const removed: string[] = [];
    for (const c of this.store.all()) {
      if (!used.has(c.id) && !c.locked) {
        this.store.remove(c.id);
        removed.push(c.id);
      }
    }
    return removed;
  }
}

/**
 * A dense multi-task model (as `pathwise train` makes it) as a path system: every task shares the
 * model's own embeddings, blocks and final norm (the root; by reference, nothing is copied) and
 * has its own head, and everything is locked, since those tasks are finished. Each path runs all
 * blocks, so each task's logits are bit-for-bit the dense model's. `hparams` overrides the
 * default starting hyperparameters of the converted tasks' paths (defaultHParams).
 */
export function fromMultiTask(model: MultiTaskModel, tasks: readonly SavedTask[], hparams?: Partial<HParams>): PathSystem {
  if (model.skills) throw new RangeError('sparse (skill) models cannot become path systems yet: only dense bases are supported');
  const enc = model.encoder;
  for (const l of enc.layers) {
    if (!(l.ffn instanceof FeedForward)) throw new RangeError('sparse (Switch) models cannot become path systems yet: only dense bases are supported');
  }
  const store = new ComponentStore();
  const cfg = enc.cfg;
  const emb = store.add('embeddings', { ...cfg }, enc.embeddings, null, true);
  const blocks = enc.layers.map((l) => store.add('block', { ...cfg }, l, null, true).id);
  const norm = enc.finalNorm ? store.add('final_norm', { dModel: cfg.dModel, layerNormEps: cfg.layerNormEps }, enc.finalNorm, null, true).id : null;
  const system = new PathSystem(store, { embeddings: emb.id, blocks, finalNorm: norm }, model.tokenizer, model.maxLen);
  for (const t of tasks) {
    const head = model.heads.byTask.get(t.name);
    if (!head) throw new RangeError(`the model has no head for task "${t.name}"`);
    const h = store.add('head', { ...head.cfg }, head, t.name, true);
    const { name, type, labels, source } = t;
    // The tasks' starting hyperparameters (what the children of their paths inherit).
    system.addTask({ name, type, labels }, source, { ...system.rootPath(name, { ...defaultHParams(system.depth), ...hparams }), head: h.id });
  }
  return system;
}
