// The component store of a model: every module any task's path runs (embeddings, encoder blocks
// — dense, Switch or skill —, final norms, residual adapters, low-rank updates of blocks and of
// the word embeddings, heads),
// by id. Paths refer to components by id, so a component is shared by reference among all the
// paths that use it: a multi-task model is a store whose tasks all run the same blocks, a μ2Net
// model one whose tasks also run blocks cloned for them.
//
// Locking: a component that a finished task's path uses is locked for ever. A locked component is
// never trained again and never removed; a child that wants to change one gets a trainable copy
// (clone). The search trains only components it has just created (trainPath refuses a locked
// one), which is what makes earlier tasks' predictions bit-for-bit stable.

import { Rng } from '../engine/index.js';
import {
  EmbeddingLowRank,
  Embeddings,
  EncoderBlock,
  ImageStem,
  LayerNorm,
  LowRankUpdate,
  Module,
  ResidualAdapter,
  type EmbeddingLoraConfig,
  type EncoderConfig,
  type ImageStemConfig,
  type LoraConfig,
} from '../nn/index.js';
import { buildSparseFfn, type BlockSparse } from '../sparse/index.js';
import { TaskHead, type HeadConfig } from '../tasks/heads.js';

export type ComponentKind = 'embeddings' | 'image_stem' | 'block' | 'final_norm' | 'adapter' | 'lora' | 'embedding_lora' | 'head';

export const COMPONENT_KINDS: readonly ComponentKind[] = ['embeddings', 'image_stem', 'block', 'final_norm', 'adapter', 'lora', 'embedding_lora', 'head'];

/** The kinds that start a path: text tasks' embeddings, image tasks' stems. */
export type StemKind = 'embeddings' | 'image_stem';

export interface NormConfig {
  dModel: number;
  layerNormEps: number;
}

export interface AdapterComponentConfig {
  dModel: number;
  size: number;
  layerNormEps: number;
  initStd: number;
}

/**
 * A block's config: the whole encoder config (a superset of BlockConfig, so one validator checks
 * embeddings and blocks), and what stands in its FFN slot. No `sparse`: a dense FFN (every block
 * of a version-1 folder).
 */
export type BlockComponentConfig = EncoderConfig & { sparse?: BlockSparse };

/**
 * The low-rank update of rank `rank` that fits a block: all four projections of a dense block,
 * attention's alone where the FFN slot holds a Switch or skill layer (ffn 0).
 */
export function loraConfigFor(block: BlockComponentConfig, rank: number): LoraConfig {
  const sparse = Boolean(block.sparse?.switch || block.sparse?.skills);
  return { dModel: block.dModel, ffn: sparse ? 0 : block.ffn, rank };
}

/** What each kind is built from (its config, saved in config.json) and what it builds. */
export interface KindMap {
  /** The whole encoder config: Embeddings reads vocab, positions, segments, norm placement. */
  embeddings: { config: EncoderConfig; module: Embeddings };
  image_stem: { config: ImageStemConfig; module: ImageStem };
  block: { config: BlockComponentConfig; module: EncoderBlock };
  final_norm: { config: NormConfig; module: LayerNorm };
  adapter: { config: AdapterComponentConfig; module: ResidualAdapter };
  /** A low-rank update of one block's projections (nn/lora.ts), run with the block it sits on. */
  lora: { config: LoraConfig; module: LowRankUpdate };
  /** A low-rank update of the word-embedding table (nn/embedding_lora.ts), run with the embeddings it sits on. */
  embedding_lora: { config: EmbeddingLoraConfig; module: EmbeddingLowRank };
  head: { config: HeadConfig; module: TaskHead };
}

export type Component<K extends ComponentKind = ComponentKind> = {
  [P in K]: {
    readonly id: string;
    readonly kind: P;
    readonly config: KindMap[P]['config'];
    readonly module: KindMap[P]['module'];
    locked: boolean;
    /** The task the component was created for; null for the base the system was built from. */
    readonly owner: string | null;
  };
}[K];

/** What a component is without its weights: what config.json saves of it (folder.ts) and what a worker thread gets with the weights (component_snapshot.ts). */
export interface ComponentDescription {
  id: string;
  kind: ComponentKind;
  owner: string | null;
  locked: boolean;
  config: KindMap[ComponentKind]['config'];
}

export function describeComponent(c: Component): ComponentDescription {
  return { id: c.id, kind: c.kind, owner: c.owner, locked: c.locked, config: c.config };
}

/** An Rng's full state. */
export type RngSnapshot = ReturnType<Rng['state']>;

const PREFIX: Record<ComponentKind, string> = {
  embeddings: 'emb',
  image_stem: 'img',
  block: 'blk',
  final_norm: 'norm',
  adapter: 'ad',
  lora: 'lora',
  embedding_lora: 'elora',
  head: 'head',
};

/** Ids are safe in parameter names ("components.<id>.<param>"): no dots. */
export const COMPONENT_ID = /^[A-Za-z][A-Za-z0-9_-]*$/;

/** A fresh module of a kind, randomly initialised from its config (adapters and low-rank updates: the identity). */
export function buildModule<K extends ComponentKind>(kind: K, config: KindMap[K]['config'], rng: Rng): KindMap[K]['module'] {
  switch (kind) {
    case 'embeddings':
      return new Embeddings(config as EncoderConfig, rng) as KindMap[K]['module'];
    case 'image_stem':
      return new ImageStem(config as ImageStemConfig, rng) as KindMap[K]['module'];
    case 'block': {
      // The FFN is built before the block's attention, as TransformerEncoder builds a sparse layer,
      // so that a block draws its initial weights in the same order either way.
      const c = config as BlockComponentConfig;
      const ffn = c.sparse ? buildSparseFfn(c, c.sparse, rng) : null;
      return new EncoderBlock(c, rng, ffn ?? undefined) as KindMap[K]['module'];
    }
    case 'final_norm': {
      const c = config as NormConfig;
      return new LayerNorm(c.dModel, c.layerNormEps) as KindMap[K]['module'];
    }
    case 'adapter': {
      const c = config as AdapterComponentConfig;
      return new ResidualAdapter(c.dModel, c.size, c.layerNormEps, rng, c.initStd) as KindMap[K]['module'];
    }
    case 'lora':
      return new LowRankUpdate(config as LoraConfig, rng) as KindMap[K]['module'];
    case 'embedding_lora':
      return new EmbeddingLowRank(config as EmbeddingLoraConfig, rng) as KindMap[K]['module'];
    case 'head':
      return new TaskHead(config as HeadConfig, rng) as KindMap[K]['module'];
    default:
      throw new RangeError(`unknown component kind ${JSON.stringify(kind)}`);
  }
}

export class ComponentStore {
  private readonly byId = new Map<string, Component>();
  /** The state of the Rng each module built here (create, clone) was built from; see builtFrom(). */
  private readonly buildRng = new Map<string, RngSnapshot>();
  private next = 0;

  get size(): number {
    return this.byId.size;
  }

  /**
   * A path's first component (the `embeddings` slot): a text task's embeddings or an image task's
   * stem; `dModel`, `initStd` and `layerNormEps` of the sequence it starts (a stem has no norm
   * of its own: it takes the blocks' epsilon from the root's embeddings, `rootEps`).
   */
  stem(id: string, rootEps = 1e-5): { kind: StemKind; dModel: number; initStd: number; layerNormEps: number } {
    const c = this.get(id);
    if (c.kind === 'embeddings') return { kind: c.kind, dModel: c.config.dModel, initStd: c.config.initStd, layerNormEps: c.config.layerNormEps };
    if (c.kind === 'image_stem') return { kind: c.kind, dModel: c.config.dModel, initStd: c.config.initStd, layerNormEps: rootEps };
    throw new RangeError(`component "${id}" is a ${c.kind}, expected embeddings or an image stem`);
  }

  /** Every component, in insertion order. */
  all(): Component[] {
    return [...this.byId.values()];
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** The component `id`, which must be of `kind` when one is given. */
  get<K extends ComponentKind>(id: string, kind?: K): Component<K> {
    const c = this.byId.get(id);
    if (!c) throw new RangeError(`no component "${id}"`);
    if (kind !== undefined && c.kind !== kind) throw new RangeError(`component "${id}" is a ${c.kind}, expected a ${kind}`);
    return c as Component<K>;
  }

  /**
   * Adds an existing module under `id` (or a new id). Used to load saved components and to
   * adopt a trained dense model's modules.
   */
  add<K extends ComponentKind>(
    kind: K,
    config: KindMap[K]['config'],
    module: KindMap[K]['module'],
    owner: string | null,
    locked: boolean,
    id?: string,
  ): Component<K> {
    const cid = id ?? this.newId(kind);
    if (!COMPONENT_ID.test(cid)) throw new RangeError(`component id ${JSON.stringify(cid)} must match ${COMPONENT_ID}`);
    if (this.byId.has(cid)) throw new RangeError(`duplicate component id "${cid}"`);
    const c = { id: cid, kind, config, module, owner, locked } as Component<K>;
    this.byId.set(cid, c as Component);
    const n = /(\d+)$/.exec(cid);
    if (n) this.next = Math.max(this.next, Number(n[1]) + 1);
    return c;
  }

  /** A new, randomly initialised, trainable component. */
  create<K extends ComponentKind>(kind: K, config: KindMap[K]['config'], owner: string | null, rng: Rng): Component<K> {
    const from = rng.state();
    const c = this.add(kind, config, buildModule(kind, config, rng), owner, false);
    this.buildRng.set(c.id, from);
    return c;
  }

  /**
   * A trainable deep copy of `id` under a new id: same kind and config, its own parameter tensors
   * holding copies of the source's values. The source (locked or not) is only read.
   */
  clone(id: string, owner: string | null, rng: Rng): Component {
    const src = this.get(id);
    const from = rng.state();
    const module = buildModule(src.kind, src.config, rng);
    const values: Record<string, Float32Array> = {};
    for (const [name, p] of src.module.namedParameters()) values[name] = p.f32;
    module.loadParameters(values); // copies (Float32Array.set), so no storage is shared
    module.train(src.module.training);
    const c = this.add(src.kind, src.config, module as never, owner, false);
    this.buildRng.set(c.id, from);
    return c;
  }

  /**
   * The state of the Rng the component's module was built from (create and clone), or null for a
   * module added as it was (loaded, adopted). A module keeps the Rng it was built with and draws
   * its dropout masks from it, so building the same kind and config from this state, then loading
   * the weights, gives a copy that trains bit for bit like the original: how a worker thread gets
   * a child's new components (component_snapshot.ts).
   */
  builtFrom(id: string): RngSnapshot | null {
    this.get(id);
    return this.buildRng.get(id) ?? null;
  }

  /** Locks components for ever: they will never be trained or removed. */
  lock(ids: Iterable<string>): void {
    for (const id of ids) this.get(id).locked = true;
  }

  /** Removes an unlocked component (a discarded search candidate's). */
  remove(id: string): void {
    const c = this.get(id);
    if (c.locked) throw new Error(`component "${id}" is locked and cannot be removed`);
    this.byId.delete(id);
    this.buildRng.delete(id);
  }

  numParameters(ids?: Iterable<string>): number {
    const set = ids ? new Set(ids) : new Set(this.byId.keys());
    let n = 0;
    for (const id of set) n += this.get(id).module.numParameters();
    return n;
  }

  private newId(kind: ComponentKind): string {
    return `${PREFIX[kind]}${this.next++}`;
  }
}

/** The components' modules as one Module, parameters named "components.<id>.<param>" (saving). */
export class ComponentsModule extends Module {
  constructor(store: ComponentStore) {
    super();
    for (const c of store.all()) this.child(`components.${c.id}`, c.module);
  }
}
