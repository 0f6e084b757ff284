// The floors of data-sources.md as code: simple baselines every trained model must beat.
//
//  - NaiveBayes (classification, pair_classification): multinomial Naive Bayes over a bag of
//    lower-cased words (runs of Unicode letters and digits, so "don't" -> don, t), Laplace
//    smoothing (alpha = 1) over the training vocabulary; words never seen in training are ignored;
//    class priors are the training label frequencies. A pair is scored on the concatenation
//    `text + " " + textPair`. Ties go to the earlier label of the task's label set.
//  - MostFrequentTag (tagging): each word gets the tag it carries most often in training (exact
//    form; failing that, its lower-cased form; failing that, the most frequent tag overall). Count
//    ties go to the tag that sorts first.
//  - WordOverlap (`wic`): the Jaccard overlap |A ∩ B| / |A ∪ B| of the two sentences' lower-cased
//    word sets, without the target lemma's own words (the text before ": " in `text`, see wic.ts);
//    'same' when the overlap is at least a threshold fitted on the training pairs (the
//    accuracy-maximising cut between consecutive observed overlaps), else 'different'. The idea:
//    usages of one sense share context words.
// runBaseline() trains the task's default baseline on train and scores dev and test.

import { accuracy, macroF1, spanF1, tokenAccuracy } from './metrics.js';
import { exampleWords, type Example, type TaskData } from './task.js';
import { bagOfWords } from './word_hashing.js';

export { bagOfWords } from './word_hashing.js';

/** The text a single-input baseline sees: `text`, or `text + " " + textPair` for pairs. */
export function baselineText(ex: Example): string {
  return ex.textPair === undefined ? ex.text : `${ex.text} ${ex.textPair}`;
}

function labelOf(ex: Example): string {
  if (typeof ex.label !== 'string') throw new Error('baseline: example has no string label');
  return ex.label;
}

export class NaiveBayes {
  private constructor(
    readonly labels: readonly string[],
    private readonly vocab: Map<string, number>,
    /** logLik[c][w] = log P(word w | class c). */
    private readonly logLik: Float64Array[],
    private readonly logPrior: Float64Array,
  ) {}

  static train(examples: readonly Example[], labels: readonly string[], alpha = 1): NaiveBayes {
    if (!(alpha > 0)) throw new RangeError('NaiveBayes: alpha must be > 0');
    const index = new Map(labels.map((l, i) => [l, i]));
    const vocab = new Map<string, number>();
    const docs: { c: number; words: number[] }[] = [];
    for (const ex of examples) {
      const c = index.get(labelOf(ex));
      if (c === undefined) throw new Error(`NaiveBayes: label ${JSON.stringify(ex.label)} is not in the label set`);
      const ids = bagOfWords(baselineText(ex)).map((w) => {
        let id = vocab.get(w);
        if (id === undefined) vocab.set(w, (id = vocab.size));
        return id;
      });
      docs.push({ c, words: ids });
    }
    const V = vocab.size;
    const counts = labels.map(() => new Float64Array(V));
    const totals = new Float64Array(labels.length);
    const nDocs = new Float64Array(labels.length);
    for (const d of docs) {
      nDocs[d.c]++;
      totals[d.c] += d.words.length;
      const row = counts[d.c];
      for (const w of d.words) row[w]++;
    }
    const logLik = counts.map((row, c) => {
      const denom = Math.log(totals[c] + alpha * V);
      const out = new Float64Array(V);
      for (let w = 0; w < V; w++) out[w] = Math.log(row[w] + alpha) - denom;
      return out;
    });
    const logPrior = new Float64Array(labels.length);
    for (let c = 0; c < labels.length; c++) logPrior[c] = Math.log(nDocs[c] / Math.max(1, docs.length));
    return new NaiveBayes([...labels], vocab, logLik, logPrior);
  }

  /** Unnormalised log posteriors, one per label. */
  scores(ex: Example): Float64Array {
    const s = Float64Array.from(this.logPrior);
    for (const w of bagOfWords(baselineText(ex))) {
      const id = this.vocab.get(w);
      if (id === undefined) continue;
      for (let c = 0; c < s.length; c++) s[c] += this.logLik[c][id];
    }
    return s;
  }

  predict(ex: Example): string {
    const s = this.scores(ex);
    let best = 0;
    for (let c = 1; c < s.length; c++) if (s[c] > s[best]) best = c;
    return this.labels[best];
  }
}

function argmaxTag(m: Map<string, number>): string {
  let best = '';
  let n = -1;
  for (const [t, k] of m) if (k > n || (k === n && t < best)) [best, n] = [t, k];
  return best;
}

export class MostFrequentTag {
  private constructor(
    private readonly exact: Map<string, string>,
    private readonly lower: Map<string, string>,
    readonly fallback: string,
  ) {}

  static train(examples: readonly Example[]): MostFrequentTag {
    const exact = new Map<string, Map<string, number>>();
    const lower = new Map<string, Map<string, number>>();
    const overall = new Map<string, number>();
    const bump = (m: Map<string, Map<string, number>>, w: string, t: string) => {
      let c = m.get(w);
      if (!c) m.set(w, (c = new Map()));
      c.set(t, (c.get(t) ?? 0) + 1);
    };
    for (const ex of examples) {
      const words = exampleWords(ex);
      const tags = ex.tags;
      if (!tags || tags.length !== words.length) throw new Error('MostFrequentTag: a training example has no tags aligned with its words');
      for (let i = 0; i < words.length; i++) {
        bump(exact, words[i], tags[i]);
        bump(lower, words[i].toLowerCase(), tags[i]);
        overall.set(tags[i], (overall.get(tags[i]) ?? 0) + 1);
      }
    }
    if (overall.size === 0) throw new Error('MostFrequentTag: no training tokens');
    const pick = (m: Map<string, Map<string, number>>) => new Map([...m].map(([w, c]) => [w, argmaxTag(c)]));
    return new MostFrequentTag(pick(exact), pick(lower), argmaxTag(overall));
  }

  tag(words: readonly string[]): string[] {
    return words.map((w) => this.exact.get(w) ?? this.lower.get(w.toLowerCase()) ?? this.fallback);
  }

  predict(ex: Example): string[] {
    return this.tag(exampleWords(ex));
  }
}

/** The `wic` target lemma: the text before the first ": " ("" if none). */
function targetOf(ex: Example): { target: string; sentence: string } {
  const i = ex.text.indexOf(': ');
  return i < 0 ? { target: '', sentence: ex.text } : { target: ex.text.slice(0, i), sentence: ex.text.slice(i + 2) };
}

export class WordOverlap {
  private constructor(
    readonly threshold: number,
    readonly positive: string,
    readonly negative: string,
  ) {}

  /** Jaccard overlap of the two sentences' word sets, the target lemma's words removed. */
  static overlap(ex: Example): number {
    const { target, sentence } = targetOf(ex);
    const drop = new Set(bagOfWords(target));
    const a = new Set(bagOfWords(sentence).filter((w) => !drop.has(w)));
    const b = new Set(bagOfWords(ex.textPair ?? '').filter((w) => !drop.has(w)));
    let inter = 0;
    for (const w of a) if (b.has(w)) inter++;
    const union = a.size + b.size - inter;
    return union === 0 ? 0 : inter / union;
  }

  /** Fits the threshold on `examples`; `positive` is the label for high overlap. */
  static train(examples: readonly Example[], positive = 'same', negative = 'different'): WordOverlap {
    const pts = examples.map((ex) => ({ x: WordOverlap.overlap(ex), pos: labelOf(ex) === positive })).sort((p, q) => p.x - q.x);
    const nPos = pts.filter((p) => p.pos).length;
    // threshold below everything: all predicted positive
    let bestCorrect = nPos;
    let bestT = pts.length > 0 ? pts[0].x : 0;
    let negBelow = 0;
    let posBelow = 0;
    for (let i = 0; i < pts.length; i++) {
      if (pts[i].pos) posBelow++;
      else negBelow++;
      if (i + 1 < pts.length && pts[i + 1].x === pts[i].x) continue;
      const correct = negBelow + (nPos - posBelow);
      if (correct > bestCorrect) {
        bestCorrect = correct;
        bestT = i + 1 < pts.length ? (pts[i].x + pts[i + 1].x) / 2 : pts[i].x + 1;
      }
    }
    return new WordOverlap(bestT, positive, negative);
  }

  predict(ex: Example): string {
    return WordOverlap.overlap(ex) >= this.threshold ? this.positive : this.negative;
  }
}

export type BaselineKind = 'naive_bayes' | 'most_frequent_tag' | 'word_overlap';

export interface BaselineResult {
  task: string;
  baseline: BaselineKind;
  /** The headline metric: accuracy (classification), token_accuracy (tagging) or span_f1 (BIO tagging). */
  metric: string;
  dev: number;
  test: number;
  /** Every metric computed, on dev and test. */
  all: Record<string, { dev: number; test: number }>;
}

/** The default baseline of a task: most_frequent_tag for tagging, word_overlap for `wic`, else naive_bayes. */
export function defaultBaseline(task: Pick<TaskData, 'name' | 'type'>): BaselineKind {
  if (task.type === 'tagging') return 'most_frequent_tag';
  if (task.name === 'wic') return 'word_overlap';
  return 'naive_bayes';
}

/** Trains a baseline on task.train and scores task.dev and task.test (NaN for an empty split). */
export function runBaseline(task: TaskData, kind: BaselineKind = defaultBaseline(task)): BaselineResult {
  if (task.type === 'regression') throw new Error(`runBaseline: no baseline for regression tasks (${task.name})`);
  const all: Record<string, { dev: number; test: number }> = {};
  let metric: string;
  if (kind === 'most_frequent_tag') {
    if (task.type !== 'tagging') throw new Error(`runBaseline: most_frequent_tag needs a tagging task (${task.name} is ${task.type})`);
    const m = MostFrequentTag.train(task.train);
    const score = (xs: Example[]) => {
      const gold = xs.map((x) => x.tags!);
      const pred = xs.map((x) => m.predict(x));
      return { tok: tokenAccuracy(gold, pred), span: spanF1(gold, pred).f1 };
    };
    const d = score(task.dev);
    const t = score(task.test);
    all.token_accuracy = { dev: d.tok, test: t.tok };
    const bio = task.labels.some((l) => l.startsWith('B-'));
    if (bio) all.span_f1 = { dev: task.dev.length ? d.span : NaN, test: task.test.length ? t.span : NaN };
    metric = bio ? 'span_f1' : 'token_accuracy';
  } else {
    if (task.type === 'tagging') throw new Error(`runBaseline: ${kind} needs a classification task (${task.name} is tagging)`);
    const m = kind === 'naive_bayes' ? NaiveBayes.train(task.train, task.labels) : WordOverlap.train(task.train, ...wordOverlapLabels(task));
    const score = (xs: Example[]) => {
      const gold = xs.map(labelOf);
      const pred = xs.map((x) => m.predict(x));
      return { acc: accuracy(gold, pred), f1: macroF1(gold, pred) };
    };
    const d = score(task.dev);
    const t = score(task.test);
    all.accuracy = { dev: d.acc, test: t.acc };
    all.macro_f1 = { dev: d.f1, test: t.f1 };
    metric = 'accuracy';
  }
  return { task: task.name, baseline: kind, metric, dev: all[metric].dev, test: all[metric].test, all };
}

function wordOverlapLabels(task: TaskData): [string, string] {
  if (task.labels.includes('same') && task.labels.includes('different')) return ['same', 'different'];
  if (task.labels.length !== 2) throw new Error(`runBaseline: word_overlap needs a binary task (${task.name} has ${task.labels.length} labels)`);
  return [task.labels[1], task.labels[0]];
}
