// μ2Net's mutations: how a child path is made from a parent path.
//
//  1. Hyperparameters: each moves to an adjacent value in its list with probability μ
//     (mutateHParams, at the end of this file).
//  2. Depth: when `layers` moved, the child drops its parent's top blocks, or grows by the root
//     stack's next blocks (the base model's block at that depth), reused frozen.
//  3. Layer cloning: each component of the parent path except the head (embeddings, each block,
//     each adapter, the final norm) becomes a trainable copy with probability μ; otherwise the
//     child reuses it frozen, by reference. A component is only ever copied, never modified.
//  3b. Stem: an image task whose parent starts from text embeddings (another task's path, the
//     root) or from the stem of images of another shape gets a new image stem there instead,
//     trainable (nn/image_stem.ts); the blocks after it are reused or cloned as above.
//  4. Head: a parent of another task (or the root) gives the new task a new, randomly
//     initialised head for its own labels; a parent of the same task gives a trainable copy of
//     its head (a frozen head could not adapt to the child's other changes).
//  5. Adapters: with adapterSize > 0, a new residual adapter (the identity at init) is inserted
//     before every used block that has none; existing adapters are components like any other.
//  5b. Low-rank updates: with loraRank > 0, every used block the child reuses frozen (not one it
//     has just cloned, which trains whole) and that has no update gets a new one (nn/lora.ts; the
//     identity at init). The parent's updates are copied into the child, as a same-task parent's
//     head is, so that they go on training: a block runs one update, and another task's reused
//     frozen would leave the child nothing to train there (with loraRank 0 another task's are
//     components like any other: reused frozen, or cloned with probability μ). Not in μ2Net:
//     they let a child adapt every frozen block for a few percent of a block's parameters
//     (docs/continual_probes.md, "Low-rank updates").
//
//  5c. Embedding update: with the search's embeddingLoraRank > 0, a text child that reuses its
//     embeddings frozen (not cloned) and runs no update of them gets a new low-rank update of the
//     word table (nn/embedding_lora.ts; the identity at init). The parent's update is copied into
//     the child, as its block updates are (with embeddingLoraRank 0, another task's is a component
//     like any other). Not in μ2Net: it lets a path move every word's vector for a few percent of
//     the table (docs/continual_probes.md, "Embeddings a path can adapt").
//
//  6. Skills (only where the child runs a skill block): with probability μ, one skill of those its
//     skill blocks hold, drawn uniformly, is switched on or off in the path's skill set (never
//     leaving a skill block with none of its skills active). A child of another task starts from
//     that task's skills: SkillNet's row of a related task is a better start than none.
//
// Blocks of every kind (dense, Switch, skill) are reused and cloned alike: a clone copies the whole
// block, router and experts or every skill included.
//
// The parent's μ drives all of its child's mutations (the child's own, possibly mutated, μ is the
// one its children will use). Every random draw comes from the given Rng in a fixed order, so a
// child is a deterministic function of (parent, store contents, Rng state).

import type { Rng } from '../engine/index.js';
import { imageStemConfigFor, loraConfigFor, type ComponentStore, type Path, type Root, type TaskSpec } from '../model/index.js';
import { HPARAM_NAMES, hparamValues, type HParamName, type HParams } from '../model/hparams.js';

export interface Child {
  path: Path;
  /** Components created for this child (clones, the new or copied head, new adapters): the only ones it trains. */
  created: string[];
  /** What happened, for logs: "lr 1e-3 -> 2e-3", "clone blk1 -> blk9", "adapter ad10 before block 0". */
  notes: string[];
}

/** The parent's slots with cloned ids substituted, and what was cloned. */
export interface CloneResult extends Pick<Path, 'embeddings' | 'embeddingLora' | 'blocks' | 'adapters' | 'finalNorm'> {
  loras: (string | null)[];
  created: string[];
  notes: string[];
}

/**
 * Layer cloning: each non-head component of `parent` becomes a trainable copy (owned by `owner`)
 * with probability `mu`, else is reused by reference. Visits embeddings and their update, then for
 * each block its adapter, the block and its low-rank update, then the final norm. The head is left
 * to the caller.
 */
export function cloneMutation(
  store: ComponentStore,
  parent: Pick<Path, 'embeddings' | 'embeddingLora' | 'blocks' | 'adapters' | 'finalNorm' | 'loras'>,
  mu: number,
  owner: string,
  rng: Rng,
): CloneResult {
  const created: string[] = [];
  const notes: string[] = [];
  const maybe = (id: string): string => {
    if (rng.uniform() >= mu) return id;
    const c = store.clone(id, owner, rng.fork());
    created.push(c.id);
    notes.push(`clone ${id} -> ${c.id}`);
    return c.id;
  };
  const embeddings = maybe(parent.embeddings);
  const embeddingLora = parent.embeddingLora === undefined ? undefined : maybe(parent.embeddingLora);
  const adapters: (string | null)[] = [];
  const blocks: string[] = [];
  const loras: (string | null)[] = [];
  parent.blocks.forEach((b, i) => {
    const a = parent.adapters[i] ?? null;
    adapters.push(a === null ? null : maybe(a));
    blocks.push(maybe(b));
    const l = parent.loras?.[i] ?? null;
    loras.push(l === null ? null : maybe(l));
  });
  const finalNorm = parent.finalNorm === null ? null : maybe(parent.finalNorm);
  return { embeddings, ...(embeddingLora === undefined ? {} : { embeddingLora }), blocks, adapters, loras, finalNorm, created, notes };
}

export interface ParentRef {
  path: Path;
  /** True when the parent is a path of the task being searched (not another task's, not the root). */
  sameTask: boolean;
}

export interface ChildOptions {
  /** Dropout of a new head. Default 0.1. */
  headDropout?: number;
  /** The rank of a new update of the word embeddings (step 5c); 0 (the default): none. */
  embeddingLoraRank?: number;
}

/** Builds a child path for `task` from a parent (see the top of this file for the steps). */
export function makeChild(store: ComponentStore, parent: ParentRef, task: TaskSpec, root: Root, rng: Rng, o: ChildOptions = {}): Child {
  const headDropout = o.headDropout ?? 0.1;
  const mu = parent.path.hparams.mu;
  const notes: string[] = [];
  const { hparams, changed } = mutateHParams(parent.path.hparams, mu, root.blocks.length, rng);
  for (const k of changed as HParamName[]) notes.push(`${k} ${parent.path.hparams[k]} -> ${hparams[k]}`);

  // Depth first, so that cloning sees exactly the blocks the child runs.
  const blocks = parent.path.blocks.slice(0, hparams.layers);
  const adapters = parent.path.adapters.slice(0, hparams.layers);
  const loras = (parent.path.loras ?? parent.path.blocks.map(() => null)).slice(0, hparams.layers);
  for (let i = blocks.length; i < hparams.layers; i++) {
    blocks.push(root.blocks[i]);
    adapters.push(null);
    loras.push(null);
  }

  const cl = cloneMutation(
    store,
    { embeddings: parent.path.embeddings, embeddingLora: parent.path.embeddingLora, blocks, adapters, loras, finalNorm: parent.path.finalNorm },
    mu,
    task.name,
    rng,
  );
  notes.push(...cl.notes);
  const created = [...cl.created];
  /** Removes a component made for this child that the child will not run. */
  const discard = (id: string) => {
    if (!created.includes(id)) return;
    store.remove(id);
    created.splice(created.indexOf(id), 1);
  };
  /**
   * A same-task parent's own component (not one just made for this child) goes on training in
   * the child: copied, not reused frozen. Other ids are returned as they are.
   */
  const ownCopy = (id: string, what: string): string => (parent.sameTask && store.get(id).owner === task.name ? trainableCopy(id, what) : id);
  /**
   * A parent's low-rank update (of a block or of the word table) in the child: with updates on
   * (`on`), always a trainable copy, since what it updates runs one update and another task's
   * reused frozen would leave the child nothing to train there; with them off, as ownCopy.
   */
  const updateCopy = (id: string, what: string, on: boolean): string => (on ? trainableCopy(id, what) : ownCopy(id, what));
  /** A trainable copy of any component not made for this child (which trains already). */
  const trainableCopy = (id: string, what: string): string => {
    if (created.includes(id)) return id;
    const copy = store.clone(id, task.name, rng.fork()).id;
    created.push(copy);
    notes.push(`${what}: copy of ${id} -> ${copy}`);
    return copy;
  };
  if (task.type === 'image_classification' && !readsImagesOf(store, cl.embeddings, task)) {
    const enc = store.get(root.embeddings, 'embeddings').config;
    discard(cl.embeddings); // a clone of text embeddings the image task cannot use
    const stem = store.create('image_stem', imageStemConfigFor(task, enc), task.name, rng.fork());
    cl.embeddings = stem.id;
    created.push(stem.id);
    notes.push(`stem: new ${stem.id}`);
  }

  let head: string;
  if (parent.sameTask) {
    head = store.clone(parent.path.head, task.name, rng.fork()).id;
    notes.push(`head: copy of ${parent.path.head} -> ${head}`);
  } else {
    const emb = store.stem(cl.embeddings);
    const h = store.create(
      'head',
      {
        type: task.type,
        dModel: emb.dModel,
        classes: Math.max(1, task.labels.length),
        dropout: headDropout,
        initStd: emb.initStd,
        // the task's own pooling (specOf's: averaging), tagging heads none
        ...(task.type === 'tagging' ? {} : { pooling: task.pooling ?? ('mean' as const) }),
        ...(task.lexical ? { lexical: { ...task.lexical } } : {}),
      },
      task.name,
      rng.fork(),
    );
    head = h.id;
    notes.push(`head: new ${head}`);
  }
  created.push(head);

  const adapterIds = cl.adapters.slice();
  if (hparams.adapterSize > 0) {
    const emb = store.stem(cl.embeddings, store.get(root.embeddings, 'embeddings').config.layerNormEps);
    for (let i = 0; i < adapterIds.length; i++) {
      if (adapterIds[i] !== null) continue;
      const a = store.create(
        'adapter',
        { dModel: emb.dModel, size: hparams.adapterSize, layerNormEps: emb.layerNormEps, initStd: emb.initStd },
        task.name,
        rng.fork(),
      );
      adapterIds[i] = a.id;
      created.push(a.id);
      notes.push(`adapter ${a.id} (size ${hparams.adapterSize}) before block ${i}`);
    }
  }

  const loraIds = cl.loras.slice();
  // A same-task parent's own updates go on training in its child, as its head does: copied, not
  // reused frozen. They are small (a few percent of a block), and an update frozen after one
  // child's few hundred steps cannot adapt its block further down the lineage. With loraRank > 0,
  // another task's updates are copied too: a block can run one update, so one reused frozen would
  // leave that block with nothing of this task's to train (sense drawn from spam's path trained
  // only its head and adapters: dev 79.0, against 82.2 from pos's path, which had no updates).
  for (let i = 0; i < loraIds.length; i++) {
    const id = loraIds[i];
    if (id !== null) loraIds[i] = updateCopy(id, 'lora', hparams.loraRank > 0);
  }
  if (hparams.loraRank > 0) {
    for (let i = 0; i < loraIds.length; i++) {
      if (loraIds[i] !== null || cl.created.includes(cl.blocks[i])) continue;
      const l = store.create('lora', loraConfigFor(store.get(cl.blocks[i], 'block').config, hparams.loraRank), task.name, rng.fork());
      loraIds[i] = l.id;
      created.push(l.id);
      notes.push(`lora ${l.id} (rank ${hparams.loraRank}) on block ${i}`);
    }
  }

  let embeddingLora = cl.embeddingLora;
  const textStem = store.stem(cl.embeddings).kind === 'embeddings';
  const rank = o.embeddingLoraRank ?? 0;
  if (embeddingLora !== undefined) {
    if (textStem) embeddingLora = updateCopy(embeddingLora, 'embedding lora', rank > 0);
    else {
      discard(embeddingLora); // an image stem has no word table to update
      embeddingLora = undefined;
    }
  }
  if (textStem && rank > 0 && embeddingLora === undefined && !cl.created.includes(cl.embeddings)) {
    const emb = store.get(cl.embeddings, 'embeddings').config;
    const u = store.create('embedding_lora', { vocabSize: emb.vocabSize, dModel: emb.dModel, rank }, task.name, rng.fork());
    notes.push(`embedding lora ${u.id} (rank ${rank})`);
    created.push((embeddingLora = u.id));
  }

  const path: Path = { task: task.name, embeddings: cl.embeddings, blocks: cl.blocks, adapters: adapterIds, finalNorm: cl.finalNorm, head, hparams };
  if (embeddingLora !== undefined) path.embeddingLora = embeddingLora;
  if (loraIds.some((l) => l !== null)) path.loras = loraIds;
  const skills = skillMutation(store, cl.blocks, parent.path.skills, mu, rng);
  if (skills) {
    path.skills = skills.skills;
    notes.push(...skills.notes);
  }
  return { path, created, notes };
}

/** Whether component `id` is an image stem that reads the task's images (their width, height and channels). */
function readsImagesOf(store: ComponentStore, id: string, task: TaskSpec): boolean {
  if (store.stem(id).kind !== 'image_stem' || !task.image) return false;
  const c = store.get(id, 'image_stem').config;
  return c.width === task.image.width && c.height === task.image.height && c.channels === task.image.channels;
}

/**
 * μ2Net's hyperparameter mutation: each hyperparameter, with probability μ, moves to an adjacent
 * value in its list (up or down with equal probability; at either end of the list, to the only
 * neighbour). A value that is not in its list (a hand-edited config) first snaps to the nearest
 * listed value. A loraRank of 0 stays 0 (low-rank updates are opt-in). Returns the new values and
 * the names that moved.
 */
export function mutateHParams(h: HParams, mu: number, depth: number, rng: Rng): { hparams: HParams; changed: HParamName[] } {
  const lists = hparamValues(depth);
  const out: HParams = { ...h };
  const changed: HParamName[] = [];
  for (const name of HPARAM_NAMES) {
    const list = lists[name];
    let i = nearestIndex(list, h[name]);
    out[name] = list[i];
    // Low-rank updates are opt-in (the search's loraRank): a rank of 0 stays 0 and draws nothing,
    // so a search without them makes the very draws it made before they existed.
    if (name === 'loraRank' && h.loraRank === 0) continue;
    if (rng.uniform() >= mu || list.length < 2) continue;
    const up = rng.uniform() < 0.5;
    if (i === 0) i = 1;
    else if (i === list.length - 1) i = list.length - 2;
    else i += up ? 1 : -1;
    out[name] = list[i];
    changed.push(name);
  }
  return { hparams: out, changed };
}

function nearestIndex(list: readonly number[], v: number): number {
  let best = 0;
  for (let i = 1; i < list.length; i++) if (Math.abs(list[i] - v) < Math.abs(list[best] - v)) best = i;
  return best;
}

/**
 * The child's skill set (step 6 above), or null when none of its blocks is a skill block. Draws
 * from the Rng only in that case, so that searches over models without skills are unchanged.
 */
export function skillMutation(
  store: ComponentStore,
  blocks: readonly string[],
  parentSkills: readonly string[] | undefined,
  mu: number,
  rng: Rng,
): { skills: string[]; notes: string[] } | null {
  const perBlock = blocks.map((b) => store.get(b, 'block').config.sparse?.skills).filter((s): s is string[] => !!s);
  if (perBlock.length === 0) return null;
  const all = [...new Set(perBlock.flat())];
  const skills = (parentSkills ?? []).filter((s) => all.includes(s));
  const notes: string[] = [];
  if (rng.uniform() < mu) {
    const s = all[rng.int(all.length)];
    const without = skills.filter((x) => x !== s);
    if (!skills.includes(s)) {
      skills.push(s);
      notes.push(`skill +${s}`);
    } else if (perBlock.every((bs) => without.some((x) => bs.includes(x)))) {
      skills.splice(skills.indexOf(s), 1);
      notes.push(`skill -${s}`);
    }
  }
  // A parent without skills for these blocks (cannot come from a checked path) gets all of them.
  if (!perBlock.every((bs) => skills.some((x) => bs.includes(x)))) return { skills: all, notes: [...notes, 'skills: all'] };
  return { skills, notes };
}
