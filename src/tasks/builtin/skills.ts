// SkillNet's task -> skills table for the built-in tasks (used by bench:multitask and the tests;
// a starting point for your own).

import type { SparseSkillsConfig } from '../../sparse/index.js';

/**
 * SkillNet's task → skills table for our tasks. Every task also runs the generic skill. Skills are
 * the abilities a task needs, named for what they do, so tasks that share an ability share its
 * parameters and tasks that do not, do not interfere:
 *   sentence  — meaning of a whole text pooled into one vector (the four text classifiers)
 *   token     — a decision per word (pos)
 *   pair      — comparing two texts (wic)
 *   lexical   — word meaning and word class (sense: a gloss's supersense; wic: same sense or not; pos)
 *   topic     — subject matter, register and style of a document (spam, genre)
 *   sentiment — opinion and polarity (sent)
 * Skill layers replace the FFN of layers 1 and 3 (the Switch layers' positions), each skill a copy
 * of the base's FFN (upcycling); a task activates 3 of the 7 skills there.
 */
export const BUILTIN_SKILLS: SparseSkillsConfig = {
  skills: ['general', 'sentence', 'token', 'pair', 'lexical', 'topic', 'sentiment'],
  generic: 'general',
  table: {
    sent: ['sentence', 'sentiment'],
    spam: ['sentence', 'topic'],
    sense: ['sentence', 'lexical'],
    genre: ['sentence', 'topic'],
    pos: ['token', 'lexical'],
    wic: ['pair', 'lexical'],
  },
  layers: [1, 3],
};
