// Evaluation metrics: pure functions on arrays. Every pairwise metric throws RangeError when the
// gold and predicted arrays differ in length.
//
//  - accuracy:       fraction of equal items; NaN for empty input.
//  - macroF1:        scikit-learn's f1_score(gold, pred, average='macro') with its defaults
//                    (labels=None, zero_division=0): the unweighted mean of per-label F1 over the
//                    labels that occur in gold OR pred (a label present in neither is excluded; one
//                    predicted but never gold, or gold but never predicted, counts with F1 = 0). An
//                    undefined precision or recall (0/0) is 0. `labels`, when given, restricts the
//                    average to those labels (as sklearn's `labels=` does), still excluding labels
//                    absent from both. NaN for empty input.
//  - spanF1:         CoNLL-2000 `conlleval` chunk scoring of BIO (IOB2, also IOB1-tolerant) tag
//                    sequences: a chunk starts at B-X, or at I-X after O, after another type or at the
//                    sentence start; it ends before O, B-*, or a tag of another type. A predicted
//                    chunk is correct when its type, start and end all match a gold chunk. Micro-
//                    averaged precision / recall / F1 over all chunks of all sentences; 0 when a
//                    denominator is 0 (as conlleval). Tags other than O, B-X, I-X are treated as O.
//  - tokenAccuracy:  accuracy over all tokens of all sentences (each sentence pair must align).
//  - pearson:        Pearson's r; NaN when either side is constant or has fewer than 2 items.
//  - spearman:       Pearson's r of the ranks, ties getting their average rank (scipy.stats.spearmanr).

function sameLength(a: ArrayLike<unknown>, b: ArrayLike<unknown>, what: string): void {
  if (a.length !== b.length) throw new RangeError(`${what}: gold has ${a.length} items, predictions ${b.length}`);
}

export function accuracy<T>(gold: readonly T[], pred: readonly T[]): number {
  sameLength(gold, pred, 'accuracy');
  if (gold.length === 0) return NaN;
  let ok = 0;
  for (let i = 0; i < gold.length; i++) if (gold[i] === pred[i]) ok++;
  return ok / gold.length;
}

export interface LabelScore {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  /** Number of gold items with this label. */
  support: number;
}

/** Per-label precision / recall / F1 (zero_division = 0) for the labels in gold or pred, sorted. */
export function perLabelF1(gold: readonly string[], pred: readonly string[], labels?: readonly string[]): LabelScore[] {
  sameLength(gold, pred, 'perLabelF1');
  const tp = new Map<string, number>();
  const nGold = new Map<string, number>();
  const nPred = new Map<string, number>();
  for (let i = 0; i < gold.length; i++) {
    nGold.set(gold[i], (nGold.get(gold[i]) ?? 0) + 1);
    nPred.set(pred[i], (nPred.get(pred[i]) ?? 0) + 1);
    if (gold[i] === pred[i]) tp.set(gold[i], (tp.get(gold[i]) ?? 0) + 1);
  }
  const present = new Set([...nGold.keys(), ...nPred.keys()]);
  const use = labels ? [...new Set(labels)].filter((l) => present.has(l)) : [...present].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return use.map((label) => {
    const t = tp.get(label) ?? 0;
    const g = nGold.get(label) ?? 0;
    const p = nPred.get(label) ?? 0;
    const precision = p === 0 ? 0 : t / p;
    const recall = g === 0 ? 0 : t / g;
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    return { label, precision, recall, f1, support: g };
  });
}

export function macroF1(gold: readonly string[], pred: readonly string[], labels?: readonly string[]): number {
  const per = perLabelF1(gold, pred, labels);
  if (per.length === 0) return NaN;
  return per.reduce((s, x) => s + x.f1, 0) / per.length;
}

export interface Span {
  type: string;
  /** First token (inclusive). */
  start: number;
  /** Last token (inclusive). */
  end: number;
}

function parseTag(tag: string): { prefix: 'B' | 'I' | 'O'; type: string } {
  if (tag.length > 2 && (tag[0] === 'B' || tag[0] === 'I') && tag[1] === '-') return { prefix: tag[0] as 'B' | 'I', type: tag.slice(2) };
  return { prefix: 'O', type: '' };
}

/** The chunks of one BIO tag sequence (conlleval rules). */
export function bioSpans(tags: readonly string[]): Span[] {
  const out: Span[] = [];
  let cur: Span | null = null;
  for (let i = 0; i < tags.length; i++) {
    const { prefix, type } = parseTag(tags[i]);
    if (prefix === 'O') {
      if (cur) out.push(cur);
      cur = null;
    } else if (prefix === 'B' || !cur || cur.type !== type) {
      if (cur) out.push(cur);
      cur = { type, start: i, end: i };
    } else {
      cur.end = i;
    }
  }
  if (cur) out.push(cur);
  return out;
}

export interface SpanScore {
  precision: number;
  recall: number;
  f1: number;
  /** Gold chunks, predicted chunks, correct predicted chunks. */
  gold: number;
  predicted: number;
  correct: number;
}

export function spanF1(gold: readonly (readonly string[])[], pred: readonly (readonly string[])[]): SpanScore {
  sameLength(gold, pred, 'spanF1');
  let nGold = 0;
  let nPred = 0;
  let correct = 0;
  for (let s = 0; s < gold.length; s++) {
    sameLength(gold[s], pred[s], `spanF1 (sentence ${s})`);
    const g = bioSpans(gold[s]);
    const p = bioSpans(pred[s]);
    nGold += g.length;
    nPred += p.length;
    const keys = new Set(g.map((x) => `${x.type}\u0000${x.start}\u0000${x.end}`));
    for (const x of p) if (keys.has(`${x.type}\u0000${x.start}\u0000${x.end}`)) correct++;
  }
  const precision = nPred === 0 ? 0 : correct / nPred;
  const recall = nGold === 0 ? 0 : correct / nGold;
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f1, gold: nGold, predicted: nPred, correct };
}

export function tokenAccuracy<T>(gold: readonly (readonly T[])[], pred: readonly (readonly T[])[]): number {
  sameLength(gold, pred, 'tokenAccuracy');
  let ok = 0;
  let n = 0;
  for (let s = 0; s < gold.length; s++) {
    sameLength(gold[s], pred[s], `tokenAccuracy (sentence ${s})`);
    for (let i = 0; i < gold[s].length; i++) {
      if (gold[s][i] === pred[s][i]) ok++;
      n++;
    }
  }
  return n === 0 ? NaN : ok / n;
}

export function pearson(x: readonly number[], y: readonly number[]): number {
  sameLength(x, y, 'pearson');
  const n = x.length;
  if (n < 2) return NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return NaN;
  const r = sxy / Math.sqrt(sxx * syy);
  return Math.max(-1, Math.min(1, r));
}

/** 1-based ranks, ties sharing their average rank. */
export function averageRanks(x: readonly number[]): number[] {
  const idx = Array.from(x.keys()).sort((a, b) => x[a] - x[b]);
  const ranks = new Array<number>(x.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && x[idx[j + 1]] === x[idx[i]]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[idx[k]] = r;
    i = j + 1;
  }
  return ranks;
}

export function spearman(x: readonly number[], y: readonly number[]): number {
  sameLength(x, y, 'spearman');
  if (![...x, ...y].every(Number.isFinite)) throw new RangeError('spearman: values must be finite numbers');
  return pearson(averageRanks(x), averageRanks(y));
}
