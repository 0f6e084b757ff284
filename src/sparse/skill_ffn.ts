// SkillNet's skill layer: the FFN split into named skill modules. A forward pass computes only
// the skills its task activates and averages their outputs; other tasks' skills are never
// touched. A skill is a dense FFN, or a Switch layer (token-routed experts inside a skill).

import * as E from '../engine/index.js';
import { Tensor } from '../engine/index.js';
import { Module } from '../nn/module.js';
import type { FeedForward, FfnLike, RouteContext } from '../nn/ffn.js';

export class SkillFFN extends Module implements FfnLike {
  readonly skills = new Map<string, FfnLike>();

  constructor(skills: [string, FfnLike][]) {
    super();
    for (const [name, m] of skills) this.skills.set(name, this.child(`skills.${name}`, m));
  }

  forward(x: Tensor, route?: RouteContext): Tensor {
    const active = route?.skills ?? [];
    const mine = active.filter((s) => this.skills.has(s));
    if (mine.length === 0) {
      throw new RangeError(`skill layer: none of the active skills [${active.join(', ')}] is in this layer [${[...this.skills.keys()].join(', ')}]`);
    }
    let sum: Tensor | null = null;
    for (const s of mine) {
      const y = this.skills.get(s)!.forward(x, route);
      sum = sum ? E.add(sum, y) : y;
    }
    return mine.length === 1 ? sum! : E.scale(sum!, 1 / mine.length);
  }

  /** Every skill starts as a copy of a (pretrained) dense FFN: a dense model becomes a skill model. */
  initFromDense(dense: FeedForward): void {
    const src = new Map(dense.namedParameters());
    for (const skill of this.skills.values()) {
      const init = (skill as { initFromDense?: (d: FeedForward) => void }).initFromDense;
      if (init) init.call(skill, dense);
      else for (const [n, p] of skill.namedParameters()) p.f32.set(src.get(n)!.f32);
    }
  }
}
