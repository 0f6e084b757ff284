// Parameter and FLOP accounting for one task's path through a (sparse) encoder.
//
// Per token, forward pass, counting a multiply-add as 2 FLOPs and ignoring norms, softmax and
// activations (a few FLOPs per element, well under 1% here):
//   attention   8·d² (QKV and output projections) + 4·T·d (scores and context for length T)
//   dense FFN   4·d·F
//   Switch      2·d·E (router) + k · 4·d·F (the k experts a token visits)
//   skills      the sum over the task's active skills (each dense or Switch)
// Activated parameters are those a token's computation reads: one row of each embedding table,
// every attention and norm parameter, the router and k experts of a Switch layer, and the
// active skills of a skill layer. Total parameters count everything in the model.

import type { Module } from '../nn/module.js';
import type { TransformerEncoder } from '../nn/encoder.js';
import type { EncoderBlock } from '../nn/encoder_block.js';
import { FeedForward, type FfnLike } from '../nn/ffn.js';
import { SwitchFFN } from './switch_ffn.js';
import { SkillFFN } from './skill_ffn.js';

export interface LayerAccount {
  layer: number;
  kind: string;
  totalParams: number;
  activeParams: number;
  flopsPerToken: number;
}

export interface Account {
  task: string | null;
  skills: string[];
  seqLen: number;
  totalParams: number;
  activeParams: number;
  flopsPerToken: number;
  embeddings: { totalParams: number; activeParams: number };
  layers: LayerAccount[];
  /** Parameters outside the encoder (heads), all counted as active. */
  other: { totalParams: number; activeParams: number; flopsPerToken: number };
}

const count = (m: Module) => m.numParameters();

function ffnAccount(f: FfnLike, skills: readonly string[]): { kind: string; total: number; active: number; flops: number } {
  if (f instanceof SwitchFFN) {
    const { experts, topK } = f.cfg;
    const perExpert = count(f.experts) / experts;
    return {
      kind: `switch(${experts}e, top-${topK})`,
      total: count(f),
      active: count(f.router) + topK * perExpert,
      flops: 2 * f.dModel * experts + topK * 4 * f.dModel * f.ffn,
    };
  }
  if (f instanceof SkillFFN) {
    const mine = skills.filter((s) => f.skills.has(s));
    let active = 0;
    let flops = 0;
    const kinds = new Set<string>();
    for (const s of mine) {
      const a = ffnAccount(f.skills.get(s)!, skills);
      active += a.active;
      flops += a.flops;
      kinds.add(a.kind);
    }
    return { kind: `skills(${mine.length}/${f.skills.size} ${[...kinds].join(',') || '-'})`, total: count(f), active, flops };
  }
  if (f instanceof FeedForward) {
    return { kind: 'dense', total: count(f), active: count(f), flops: 4 * f.cfg.dModel * f.cfg.ffn };
  }
  throw new Error('accounting: unknown FFN kind');
}

/** One encoder block, for a task activating `skills`, on inputs of `seqLen` tokens. */
export function blockAccount(block: EncoderBlock, layer: number, skills: readonly string[], seqLen: number): LayerAccount {
  const d = block.cfg.dModel;
  const f = ffnAccount(block.ffn, skills);
  const attnAndNorms = count(block) - f.total;
  return { layer, kind: f.kind, totalParams: count(block), activeParams: attnAndNorms + f.active, flopsPerToken: 8 * d * d + 4 * seqLen * d + f.flops };
}

/** Accounts for `encoder` inside `model` (the rest of `model` counts as heads). */
export function account(model: Module, encoder: TransformerEncoder, opts: { task?: string | null; skills?: string[]; seqLen?: number } = {}): Account {
  const c = encoder.cfg;
  const d = c.dModel;
  const T = opts.seqLen ?? c.maxPositions;
  const skills = opts.skills ?? [];
  const emb = encoder.embeddings;
  const embTotal = count(emb);
  const embActive = embTotal - emb.word.size - emb.position.size - emb.type.size + 3 * d;
  const layers: LayerAccount[] = encoder.layers.map((block, i) => blockAccount(block, i, skills, T));
  const encTotal = count(encoder);
  const finalNorm = encTotal - embTotal - layers.reduce((s, l) => s + l.totalParams, 0);
  const otherTotal = count(model) - encTotal;
  const sum = (f: (l: LayerAccount) => number) => layers.reduce((s, l) => s + f(l), 0);
  return {
    task: opts.task ?? null,
    skills,
    seqLen: T,
    totalParams: count(model),
    activeParams: embActive + sum((l) => l.activeParams) + finalNorm + otherTotal,
    flopsPerToken: sum((l) => l.flopsPerToken),
    embeddings: { totalParams: embTotal, activeParams: embActive },
    layers,
    other: { totalParams: otherTotal, activeParams: otherTotal, flopsPerToken: 0 },
  };
}

export function formatAccount(a: Account): string {
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const rest = a.totalParams - a.embeddings.totalParams - a.layers.reduce((s, l) => s + l.totalParams, 0);
  const lines = [
    `task ${a.task ?? '(none)'}${a.skills.length ? `, skills ${a.skills.join(', ')}` : ''}; sequence length ${a.seqLen}`,
    `${'layer'.padEnd(7)}${'kind'.padEnd(30)}${'params'.padStart(14)}${'activated'.padStart(14)}${'FLOPs/token'.padStart(16)}`,
    `${'embed'.padEnd(7)}${'token/position/segment'.padEnd(30)}${n(a.embeddings.totalParams).padStart(14)}${n(a.embeddings.activeParams).padStart(14)}${'0'.padStart(16)}`,
    ...a.layers.map(
      (l) =>
        `${String(l.layer).padEnd(7)}${l.kind.padEnd(30)}${n(l.totalParams).padStart(14)}${n(l.activeParams).padStart(14)}${n(l.flopsPerToken).padStart(16)}`,
    ),
    `${'other'.padEnd(7)}${'final norm, heads'.padEnd(30)}${n(rest).padStart(14)}${n(rest).padStart(14)}${'-'.padStart(16)}`,
    `${'total'.padEnd(7)}${''.padEnd(30)}${n(a.totalParams).padStart(14)}${n(a.activeParams).padStart(14)}${n(a.flopsPerToken).padStart(16)}`,
  ];
  return lines.join('\n');
}
