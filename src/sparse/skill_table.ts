// SkillNet's skill table: which skills each task (or pretraining objective) activates.

export interface SkillTableConfig {
  /** Every skill, in order. */
  skills: string[];
  /** Skill every task may use in addition to its own (SkillNet's s0); null for none. */
  generic: string | null;
  /** Task or objective name -> the skills it activates (the generic skill is added). */
  table: Record<string, string[]>;
}

export class SkillTable {
  constructor(readonly cfg: SkillTableConfig) {
    const known = new Set(cfg.skills);
    if (known.size !== cfg.skills.length) throw new RangeError('skills: duplicate skill names');
    if (cfg.generic !== null && !known.has(cfg.generic)) throw new RangeError(`skills.generic "${cfg.generic}" is not in skills.skills`);
    for (const [task, skills] of Object.entries(cfg.table)) {
      for (const s of skills) if (!known.has(s)) throw new RangeError(`skills.table.${task}: unknown skill "${s}" (known: ${cfg.skills.join(', ')})`);
      if (skills.length === 0 && cfg.generic === null) throw new RangeError(`skills.table.${task}: a task needs at least one skill`);
    }
  }

  /** The skills a task activates (generic first), or an error naming the task. */
  skillsFor(task: string): string[] {
    const own = this.cfg.table[task];
    if (!own) throw new RangeError(`no skills for task "${task}" (the skill table knows: ${Object.keys(this.cfg.table).join(', ')})`);
    const out = this.cfg.generic !== null ? [this.cfg.generic] : [];
    for (const s of own) if (!out.includes(s)) out.push(s);
    return out;
  }

  /** Adds a task's row (for tasks that arrive later). */
  addTask(task: string, skills: string[]): void {
    for (const s of skills) if (!this.cfg.skills.includes(s)) throw new RangeError(`unknown skill "${s}"`);
    this.cfg.table[task] = [...skills];
  }
}
