// The task model every model folder opens to: a component store, the root stack (embeddings,
// blocks, final norm) every path is grown from, the shared tokenizer, and for each task its spec,
// where its data comes from and its path through the store.
//
// A model trained jointly (`pathwise train`) is one whose tasks all run the root blocks (dense,
// Switch or skill: each task's skill row is its path's `skills`) and a head of their own; `pathwise
// add-task` grows the same model with paths that reuse, clone or extend those components (μ2Net).
// Either way a task runs only its own path (TaskPath, the one forward pass), and what is saved,
// loaded, served or exported is a TaskModel.
//
// Parameters are named "components.<id>.<param>", in the store's order: for a model built from an
// encoder that is the encoder's own order followed by the heads in task order, the order the
// trainer has always clipped and stepped them in.

import { Rng, type Tensor } from '../engine/index.js';
import { Module, defaultStem, type ImageStemConfig, type TransformerEncoder } from '../nn/index.js';
import { SkillTable, blockSparseOf, type SparseConfig } from '../sparse/index.js';
import type { Tokenizer } from '../data/tokenizer/index.js';
import type { Batch } from '../tasks/encode.js';
import type { HeadConfig, TaskHead } from '../tasks/heads.js';
import type { TaskFileConfig } from '../tasks/from_files.js';
import type { TaskScore } from '../tasks/score.js';
import type { Example } from '../tasks/task.js';
import { ComponentStore } from './components.js';
import { defaultHParams, type HParams } from './hparams.js';
import { activatedParameters, addedParameters, checkPath, describePath, pathComponents, type Path, type Root } from './path.js';
import type { Prediction, TaskSpec } from './predictions.js';
import { TaskPath, type PredictOptions } from './task_path.js';
import { predictMixed, type MixedOptions, type MixedRequest } from './mixed_batch.js';

/** Where a task's data comes from: a built-in name, or data files; null for a task made in code. */
export type TaskSource = { builtin: string } | { files: TaskFileConfig };

export interface ModelTask {
  spec: TaskSpec;
  source: TaskSource | null;
  path: Path;
}

/** What `tasks` lists of a task: its spec, and what running and adding it costs. */
export interface TaskInfo extends TaskSpec {
  /** Parameters one forward pass of the task touches. */
  activatedParameters: number;
  /** Parameters created for the task (its head, and whatever its path cloned or inserted). */
  addedParameters: number;
  /** The path, "emb0 > blk1 > ... > head9". */
  path: string;
}

/**
 * How the root was made, when it was made from one encoder config and sparse layout: what lets a
 * model whose tasks all run the root be saved as a plain encoder with heads (folder.ts).
 */
export interface RootLayout {
  sparse: SparseConfig;
}

/** The stem an image task gets in front of an encoder of `enc`: the default stem for its images' size. */
export function imageStemConfigFor(spec: TaskSpec, enc: { dModel: number; initStd: number; dropout: number }): ImageStemConfig {
  if (!spec.image) throw new RangeError(`task "${spec.name}": an image task needs its image shape`);
  const { width, height, channels } = spec.image;
  return { width, height, channels, ...defaultStem(width, height), dModel: enc.dModel, initStd: enc.initStd, dropout: enc.dropout };
}

/** The head a task running an encoder of `enc` gets: as many outputs as labels (one for regression). */
export function headConfigFor(spec: TaskSpec, enc: { dModel: number; initStd: number }, dropout = 0.1): HeadConfig {
  return {
    type: spec.type,
    dModel: enc.dModel,
    classes: Math.max(1, spec.labels.length),
    dropout,
    initStd: enc.initStd,
    pooling: spec.pooling ?? 'cls',
    ...(spec.lexical ? { lexical: { ...spec.lexical } } : {}),
  };
}

export class TaskModel extends Module {
  /** In the order tasks were added. */
  readonly tasks = new Map<string, ModelTask>();
  private readonly paths = new Map<string, TaskPath>();
  /** The skill table of a SkillNet layout (a new task's skills come from its row). */
  readonly skills: SkillTable | null;

  constructor(
    readonly store: ComponentStore,
    readonly root: Root,
    readonly tokenizer: Tokenizer,
    readonly maxLen: number,
    readonly layout: RootLayout | null = null,
    /** Initialises the heads addTask creates (and is their dropout generator). */
    private readonly rng: Rng = new Rng(0),
  ) {
    super();
    for (const id of [root.embeddings, ...root.blocks]) store.get(id);
    if (root.finalNorm !== null) store.get(root.finalNorm, 'final_norm');
    if (root.blocks.length === 0) throw new RangeError('the root stack needs at least one block');
    this.skills = layout?.sparse.skills ? new SkillTable(layout.sparse.skills) : null;
  }

  /**
   * A model whose root is a (pretrained) encoder's own modules, adopted by reference and left
   * trainable; tasks are added with addTask. `sparse` describes the encoder's layout.
   */
  static fromEncoder(encoder: TransformerEncoder, tokenizer: Tokenizer, o: { sparse: SparseConfig; rng: Rng; maxLen: number }): TaskModel {
    const store = new ComponentStore();
    const cfg = encoder.cfg;
    const emb = store.add('embeddings', { ...cfg }, encoder.embeddings, null, false).id;
    const blocks = encoder.layers.map((l, i) => store.add('block', { ...cfg, sparse: blockSparseOf(o.sparse, i) }, l, null, false).id);
    const norm = encoder.finalNorm ? store.add('final_norm', { dModel: cfg.dModel, layerNormEps: cfg.layerNormEps }, encoder.finalNorm, null, false).id : null;
    return new TaskModel(store, { embeddings: emb, blocks, finalNorm: norm }, tokenizer, o.maxLen, { sparse: o.sparse }, o.rng);
  }

  get depth(): number {
    return this.root.blocks.length;
  }

  // ------------------------------------------------------------------------- parameters

  // The store is the module tree: components come and go (a search creates and drops them), so
  // the parameters, modules and mode are always read from it.
  override namedParameters(prefix = ''): [string, Tensor][] {
    return this.store.all().flatMap((c) => c.module.namedParameters(`${prefix}components.${c.id}.`));
  }

  override namedBuffers(prefix = ''): [string, Tensor][] {
    return this.store.all().flatMap((c) => c.module.namedBuffers(`${prefix}components.${c.id}.`));
  }

  override *modules(): Generator<Module> {
    yield this;
    for (const c of this.store.all()) yield* c.module.modules();
  }

  override train(on = true): this {
    this.training = on;
    for (const c of this.store.all()) c.module.train(on);
    return this;
  }

  override numParameters(): number {
    return this.store.numParameters();
  }

  // ------------------------------------------------------------------------------ tasks

  /**
   * Adds a task that runs the root stack and a head of its own (joint training; in a skill layout
   * the task's skills are its row of the skill table): a new head, or `head`, one already built
   * (and loaded) for it from headConfigFor.
   */
  addTask(spec: TaskSpec, o: { source?: TaskSource | null; dropout?: number; head?: TaskHead } = {}): TaskPath {
    if (this.tasks.has(spec.name)) throw new Error(`task "${spec.name}" already exists`);
    const emb = this.store.get(this.root.embeddings, 'embeddings').config;
    // An image task reads the blocks through a stem of its own (nn/image_stem.ts); the stem is
    // made before the head, so a text task's head draws as it always has.
    const stem = spec.type === 'image_classification' ? this.store.create('image_stem', imageStemConfigFor(spec, emb), spec.name, this.rng).id : null;
    const head = o.head
      ? this.store.add('head', o.head.cfg, o.head, spec.name, false)
      : this.store.create('head', headConfigFor(spec, emb, o.dropout), spec.name, this.rng);
    const root = this.rootPath(spec.name);
    return this.addTaskPath(spec, o.source ?? null, { ...root, embeddings: stem ?? root.embeddings, head: head.id });
  }

  /** Adds a task with a path already made (a μ2Net search's, or one read from a folder). */
  addTaskPath(spec: TaskSpec, source: TaskSource | null, path: Path): TaskPath {
    if (this.tasks.has(spec.name)) throw new RangeError(`task "${spec.name}" already exists`);
    checkPath(this.store, path, `task "${spec.name}" path`);
    this.tasks.set(spec.name, { spec, source, path });
    return this.taskPath(spec.name);
  }

  task(name: string): ModelTask {
    const t = this.tasks.get(name);
    if (!t) throw new RangeError(`unknown task "${name}" (this model has: ${[...this.tasks.keys()].join(', ')})`);
    return t;
  }

  /** The task's path as a model (built once: a task's path never changes). */
  taskPath(name: string): TaskPath {
    let m = this.paths.get(name);
    if (!m) {
      const t = this.task(name);
      this.paths.set(name, (m = new TaskPath(this.store, t.path, t.spec, this.tokenizer, this.maxLen)));
    }
    return m;
  }

  /** A path that is no task yet (a search candidate) as a model over this model's components. */
  pathModel(spec: TaskSpec, path: Path): TaskPath {
    return new TaskPath(this.store, path, spec, this.tokenizer, this.maxLen);
  }

  /**
   * The root stack as a headless path for `task`, with default hyperparameters: all blocks, and
   * in a skill layout the task's row of the skill table (or, for a task without one, the generic
   * skill, else every skill of the first skill block).
   */
  rootPath(task: string, hparams: HParams = defaultHParams(this.depth)): Omit<Path, 'head'> {
    const path: Omit<Path, 'head'> = {
      task,
      embeddings: this.root.embeddings,
      blocks: [...this.root.blocks],
      adapters: this.root.blocks.map(() => null),
      finalNorm: this.root.finalNorm,
      hparams: { ...hparams, layers: this.depth },
    };
    const skillBlock = this.root.blocks.map((b) => this.store.get(b, 'block').config.sparse?.skills).find((s) => s);
    if (!skillBlock) return path;
    if (this.skills?.cfg.table[task]) return { ...path, skills: this.skills.skillsFor(task) };
    const generic = this.skills?.cfg.generic ?? null;
    return { ...path, skills: generic !== null ? [generic] : [...skillBlock] };
  }

  /** Each task with its type, labels, path and parameter counts. */
  listTasks(): TaskInfo[] {
    return [...this.tasks.values()].map(({ spec, path }) => ({
      ...spec,
      activatedParameters: activatedParameters(this.store, path),
      addedParameters: addedParameters(this.store, path),
      path: describePath(path),
    }));
  }

  // ------------------------------------------------------------------- running a task

  async encode(task: string, examples: readonly Example[], withTargets = true): Promise<Batch> {
    // async: an unknown task rejects the promise, as every other failure of these calls does.
    return this.taskPath(task).encode(examples, withTargets);
  }

  /** Each example's encoded length in tokens (for grouping batches by length). */
  async lengths(task: string, examples: readonly Example[]): Promise<number[]> {
    return this.taskPath(task).lengths(examples);
  }

  logits(task: string, batch: Batch): Tensor {
    return this.taskPath(task).logits(batch);
  }

  loss(task: string, batch: Batch): Tensor {
    return this.taskPath(task).loss(batch);
  }

  /** A typed prediction per input, in input order: {label, score, scores}, {words, spans} or {value}. */
  async predict(task: string, inputs: readonly (string | Example)[], o: PredictOptions = {}): Promise<Prediction[]> {
    return this.taskPath(task).predict(inputs, o);
  }

  /**
   * Inputs of many tasks in one batched forward pass (mixed_batch.ts): a component shared by
   * several tasks' paths runs once over all their rows. A typed prediction per request, in
   * request order, equal to what predict(task, ...) answers for it.
   */
  async predictMixed(requests: readonly MixedRequest[], o: MixedOptions = {}): Promise<Prediction[]> {
    return predictMixed(this, requests, o);
  }

  /** The task's natural metrics on labelled examples. */
  async evaluate(task: string, examples: readonly Example[]): Promise<TaskScore> {
    return this.taskPath(task).evaluate(examples);
  }

  // ----------------------------------------------------------------------- the store

  /** Locks every component a task's path or the root uses: finished tasks never change again. */
  lockTasks(): void {
    this.store.lock([this.root.embeddings, ...this.root.blocks, ...(this.root.finalNorm ? [this.root.finalNorm] : [])]);
    for (const t of this.tasks.values()) this.store.lock(pathComponents(t.path));
  }

  /** Removes unlocked components no task's path uses (discarded search candidates). */
  collectGarbage(): string[] {
    const used = new Set<string>([this.root.embeddings, ...this.root.blocks, ...(this.root.finalNorm ? [this.root.finalNorm] : [])]);
    for (const t of this.tasks.values()) for (const id of pathComponents(t.path)) used.add(id);
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
