// A path: the ordered list of components one task runs, plus its hyperparameters.
//   embeddings (with their low-rank update) -> for each used block i: (adapter i, if any) ->
//   block i (with lora i) -> final norm -> head
// `blocks` holds exactly the blocks the path runs (hparams.layers of them); `adapters[i]` is the
// residual adapter inserted before blocks[i], or null; `loras[i]`, the low-rank update the path
// adds to blocks[i]'s projections (nn/lora.ts), or null (absent: none anywhere); `embeddingLora`,
// the update it adds to the word embeddings (nn/embedding_lora.ts; absent: none); `skills`, the
// skills the path activates in its skill blocks (SkillNet's row of the skill table for the task).

import { loraTargets } from '../nn/index.js';
import { blockAccount } from '../sparse/index.js';
import { loraConfigFor, type ComponentKind, type ComponentStore } from './components.js';
import type { HParams } from './hparams.js';

export interface Path {
  task: string;
  embeddings: string;
  /** A low-rank update of the embeddings' word table; absent: none (every path made before them). */
  embeddingLora?: string;
  blocks: string[];
  adapters: (string | null)[];
  /** Low-rank updates of the blocks, slot by slot; absent: none (every path made before them). */
  loras?: (string | null)[];
  /** Pre-LN stacks end in a LayerNorm; post-LN stacks (BERT) have none. */
  finalNorm: string | null;
  head: string;
  hparams: HParams;
  /** The skills this path's skill blocks run (absent: the path has no skill block). */
  skills?: string[];
}

/** The encoder part every path is grown from: the base model's embeddings, blocks and norm. */
export interface Root {
  embeddings: string;
  blocks: string[];
  finalNorm: string | null;
}

/** The path's component ids in forward order (each once). */
export function pathComponents(p: Path): string[] {
  const ids = [p.embeddings];
  if (p.embeddingLora) ids.push(p.embeddingLora);
  p.blocks.forEach((b, i) => {
    const a = p.adapters[i];
    if (a) ids.push(a);
    ids.push(b);
    const l = p.loras?.[i];
    if (l) ids.push(l);
  });
  if (p.finalNorm) ids.push(p.finalNorm);
  ids.push(p.head);
  return [...new Set(ids)];
}

/** Parameters one forward pass of the task touches. */
export function activatedParameters(store: ComponentStore, p: Path): number {
  return store.numParameters(pathComponents(p));
}

/** The kinds only a path has: what a fine-tuned copy trains in place of them is the weights they adapt. */
const UPDATE_KINDS: ReadonlySet<ComponentKind> = new Set(['adapter', 'lora', 'embedding_lora']);

/**
 * Parameters a fine-tuned copy of the path would hold: those it activates, less its adapters and
 * low-rank updates. The search's size cap is a fraction of this (search_config.ts, maxAdded).
 */
export function copyParameters(store: ComponentStore, p: Path): number {
  return store.numParameters(pathComponents(p).filter((id) => !UPDATE_KINDS.has(store.get(id).kind)));
}

/**
 * FLOPs per token of one forward pass of the path on inputs of `seqLen` tokens, counted as
 * `pathwise inspect` counts an encoder's (sparse/accounting.ts: the blocks with the path's skills,
 * each adapter's two projections, each low-rank update's two factors per projection, the
 * embeddings' update's projection; norms, embeddings and the head left out).
 */
export function flopsPerToken(store: ComponentStore, p: Path, seqLen: number): number {
  let flops = 0;
  if (p.embeddingLora) {
    const c = store.get(p.embeddingLora, 'embedding_lora').config;
    flops += 2 * c.rank * c.dModel;
  }
  p.blocks.forEach((id, i) => {
    flops += blockAccount(store.get(id, 'block').module, i, p.skills ?? [], seqLen).flopsPerToken;
    const a = p.adapters[i];
    if (a) {
      const c = store.get(a, 'adapter').config;
      flops += 4 * c.dModel * c.size;
    }
    const l = p.loras?.[i];
    if (l) {
      const c = store.get(l, 'lora').config;
      for (const [, inF, outF] of loraTargets(c)) flops += 2 * c.rank * (inF + outF);
    }
  });
  return flops;
}

/** Parameters the task added to the system: those of the path's components created for it. */
export function addedParameters(store: ComponentStore, p: Path): number {
  return store.numParameters(pathComponents(p).filter((id) => store.get(id).owner === p.task));
}

/** "emb0+elora10 > blk1 > +ad7 > blk2+lora8 > norm3 > head9" (adapters marked with +, a low-rank update joined to what it updates with +). */
export function describePath(p: Path): string {
  const parts = [p.embeddingLora ? `${p.embeddings}+${p.embeddingLora}` : p.embeddings];
  p.blocks.forEach((b, i) => {
    const a = p.adapters[i];
    if (a) parts.push(`+${a}`);
    const l = p.loras?.[i];
    parts.push(l ? `${b}+${l}` : b);
  });
  if (p.finalNorm) parts.push(p.finalNorm);
  parts.push(p.head);
  return parts.join(' > ') + (p.skills ? ` [skills ${p.skills.join(', ')}]` : '');
}

/** Checks that every id exists with the kind its slot needs and that the shapes fit together. */
export function checkPath(store: ComponentStore, p: Path, where: string): void {
  const need = (id: string | null, kind: ComponentKind | readonly ComponentKind[], slot: string) => {
    if (id === null) return;
    if (!store.has(id)) throw new RangeError(`${where}.${slot}: no component "${id}"`);
    const c = store.get(id);
    const kinds = typeof kind === 'string' ? [kind] : kind;
    if (!kinds.includes(c.kind))
      throw new RangeError(`${where}.${slot}: component "${id}" is a ${c.kind}, expected ${kinds.map((k) => `a ${k}`).join(' or ')}`);
  };
  need(p.embeddings, ['embeddings', 'image_stem'], 'embeddings');
  if (p.embeddingLora !== undefined) {
    need(p.embeddingLora, 'embedding_lora', 'embeddingLora');
    const e = store.get(p.embeddings);
    if (e.kind !== 'embeddings')
      throw new RangeError(`${where}.embeddingLora: "${p.embeddingLora}" updates word embeddings, the path starts with ${e.kind} "${p.embeddings}"`);
    const vocab = store.get(p.embeddingLora, 'embedding_lora').config.vocabSize;
    if (vocab !== e.config.vocabSize)
      throw new RangeError(`${where}.embeddingLora: "${p.embeddingLora}" has vocabSize ${vocab}, the embeddings "${p.embeddings}" ${e.config.vocabSize}`);
  }
  if (p.blocks.length === 0) throw new RangeError(`${where}.blocks: a path needs at least one block`);
  if (p.blocks.length !== p.hparams.layers) throw new RangeError(`${where}.blocks: ${p.blocks.length} blocks but hparams.layers is ${p.hparams.layers}`);
  if (p.adapters.length !== p.blocks.length) throw new RangeError(`${where}.adapters: ${p.adapters.length} entries for ${p.blocks.length} blocks`);
  p.blocks.forEach((b, i) => need(b, 'block', `blocks[${i}]`));
  p.adapters.forEach((a, i) => need(a, 'adapter', `adapters[${i}]`));
  if (p.loras) {
    if (p.loras.length !== p.blocks.length) throw new RangeError(`${where}.loras: ${p.loras.length} entries for ${p.blocks.length} blocks`);
    p.loras.forEach((l, i) => {
      need(l, 'lora', `loras[${i}]`);
      if (l === null) return;
      // The update must fit its block: a dense FFN's width, or none for a sparse one.
      const want = loraConfigFor(store.get(p.blocks[i], 'block').config, 1).ffn;
      const got = store.get(l, 'lora').config.ffn;
      if (got !== want)
        throw new RangeError(
          `${where}.loras[${i}]: "${l}" updates an FFN of width ${got}, block ${p.blocks[i]} has ${want === 0 ? 'a sparse FFN (0)' : `a dense FFN of width ${want}`}`,
        );
    });
  }
  need(p.finalNorm, 'final_norm', 'finalNorm');
  need(p.head, 'head', 'head');
  p.blocks.forEach((b, i) => {
    const skills = store.get(b, 'block').config.sparse?.skills;
    if (skills && !(p.skills ?? []).some((s) => skills.includes(s))) {
      throw new RangeError(`${where}.skills: block ${b} (blocks[${i}]) is a skill block [${skills.join(', ')}] and the path activates none of its skills`);
    }
  });
  const d = store.stem(p.embeddings).dModel;
  for (const id of pathComponents(p)) {
    const c = store.get(id);
    if (c.config.dModel !== d) throw new RangeError(`${where}: component "${id}" has dModel ${c.config.dModel}, the embeddings ${d}`);
  }
}
