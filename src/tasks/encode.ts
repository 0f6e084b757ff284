// Examples -> model inputs: token ids, segment ids, padding mask, targets.
//
// Sequence tasks are encoded as [CLS] text [SEP] (text_pair [SEP]) with segment ids 0 / 1,
// truncated longest-first to maxLen. Tagging examples are encoded word by word: each word with the
// leading space that the byte-level pre-tokenizer gives it in running text, so the concatenation
// equals the encoding of the sentence, and the first subtoken of each word is known exactly. Its
// tag is predicted there; words cut off by maxLen are scored as tagged "O" (or the first label).

import { Tensor } from '../engine/index.js';
import type { Tokenizer } from '../data/tokenizer/index.js';
import { exampleWords, type Example, type TaskData } from './task.js';

export interface Batch {
  ids: Tensor; // int32 [B, T]
  typeIds: Tensor; // int32 [B, T]
  /** 1 for real tokens, 0 for padding, [B, T]. */
  keep: Tensor;
  /** Classification: label index [B]; regression: float [B]; tagging: tag index per scored word [R]. */
  targets: Tensor | null;
  /** Tagging: flat positions (b*T + t) of each word's first subtoken [R]. */
  rows: Tensor | null;
  /** Tagging: how many words of each example were scored (the rest were truncated). */
  wordsScored: number[] | null;
}

export async function encodeBatch(tok: Tokenizer, task: Pick<TaskData, 'type' | 'labels'>, examples: readonly Example[], maxLen: number, withTargets = true): Promise<Batch> {
  const { cls, sep, pad } = tok.specialIds;
  if (cls === null || sep === null || pad === null) throw new Error('the tokenizer needs [CLS], [SEP] and [PAD]');
  const labelIndex = new Map(task.labels.map((l, i) => [l, i]));
  const seqs: number[][] = [];
  const types: number[][] = [];
  const rowsPer: number[][] = [];
  const tagTargets: number[] = [];
  const scored: number[] = [];

  if (task.type === 'tagging') {
    for (const ex of examples) {
      const words = exampleWords(ex);
      const pieces = await tok.encodeBatch(words.map((w, i) => (i === 0 ? w : ' ' + w)), null, { addSpecialTokens: false });
      const ids = [cls];
      const firsts: number[] = [];
      for (const p of pieces) {
        if (ids.length + p.ids.length + 1 > maxLen) break;
        firsts.push(ids.length);
        for (const id of p.ids) ids.push(id);
      }
      ids.push(sep);
      seqs.push(ids);
      types.push(new Array(ids.length).fill(0));
      rowsPer.push(firsts);
      scored.push(firsts.length);
      if (withTargets) {
        const tags = ex.tags ?? [];
        for (let w = 0; w < firsts.length; w++) {
          const t = labelIndex.get(tags[w]);
          if (t === undefined) throw new RangeError(`tag "${tags[w]}" is not in the task's labels`);
          tagTargets.push(t);
        }
      }
    }
  } else {
    const enc = await Promise.all(examples.map((ex) => tok.encode(ex.text, ex.textPair ?? null, { maxLength: maxLen })));
    for (const e of enc) {
      seqs.push(Array.from(e.ids));
      types.push(Array.from(e.typeIds));
    }
  }

  const B = seqs.length;
  const T = Math.max(2, ...seqs.map((s) => s.length));
  const ids = new Int32Array(B * T).fill(pad);
  const typeIds = new Int32Array(B * T);
  const keep = new Int32Array(B * T);
  seqs.forEach((s, b) => {
    ids.set(s, b * T);
    typeIds.set(types[b], b * T);
    keep.fill(1, b * T, b * T + s.length);
  });
  let targets: Tensor | null = null;
  let rows: Tensor | null = null;
  if (task.type === 'tagging') {
    const flat: number[] = [];
    rowsPer.forEach((r, b) => r.forEach((t) => flat.push(b * T + t)));
    rows = new Tensor(Int32Array.from(flat), [flat.length]);
    if (withTargets) targets = new Tensor(Int32Array.from(tagTargets), [tagTargets.length]);
  } else if (withTargets) {
    if (task.type === 'regression') {
      targets = new Tensor(Float32Array.from(examples.map((e) => Number(e.label))), [B]);
    } else {
      targets = new Tensor(Int32Array.from(examples.map((e) => {
        const i = labelIndex.get(String(e.label));
        if (i === undefined) throw new RangeError(`label "${e.label}" is not in the task's labels`);
        return i;
      })), [B]);
    }
  }
  return {
    ids: new Tensor(ids, [B, T]),
    typeIds: new Tensor(typeIds, [B, T]),
    keep: new Tensor(keep, [B, T]),
    targets,
    rows,
    wordsScored: task.type === 'tagging' ? scored : null,
  };
}
