// ONNX for a task head (tasks/heads.ts) in inference:
//   classification, pair_classification, regression: pool ([CLS] or the mean of the real tokens)
//     -> tanh(pooler) -> out, plus the lexical part (the mean of the n-gram bag's rows, through
//     bag_out) and the Naive Bayes prior (w · log P_NB(c | x)) where the head has them;
//   tagging: out on every token ([batch, sequence, labels]; a word's label is read at its first
//     subtoken, as Pathwise does).
//
// The prior's table is stored dense over the buckets it counted (its sparse keys expanded): row r
// is a seen bucket's log-likelihood per class, unseen[c] + log(1 + count / alpha). Each row is
// centred on its mean over the classes, which a normalised posterior cannot see (it adds the same
// number to every class), so float32 sums over a thousand words keep the precision the float64
// counts had. Which rows an example reads (its words' buckets among the seen ones) is the
// preprocessing's work (export/inputs.ts), as the n-gram ids are.

import type { NaiveBayesPrior } from '../../tasks/naive_bayes_prior.js';
import type { TaskHead } from '../../tasks/heads.js';
import type { Graph } from './graph.js';
import { emitLinear, emitLinearActivated } from './emit_nn.js';
import type { Weights } from './weights.js';

/** The graph inputs a head reads besides the hidden states. */
export interface HeadInputs {
  /** attention_mask as float [batch, sequence, 1] (mean pooling). */
  keep: string | null;
  /** ngram_ids [batch, ngrams] int64 and ngram_mask [batch, ngrams] float. */
  ngrams: { ids: string; mask: string } | null;
  /** prior_rows [batch, words] int64 and prior_mask [batch, words] float. */
  prior: { rows: string; mask: string } | null;
}

export function emitHead(g: Graph, w: Weights, head: TaskHead, hidden: string, inp: HeadInputs, name: string): string {
  if (head.cfg.type === 'tagging') return emitLinear(g, w, head.out, hidden, `${name}.out`);
  let summary: string;
  if (head.cfg.pooling === 'mean') {
    if (!inp.keep) throw new Error(`${name}: mean pooling needs the attention mask`);
    const sum = g.op('ReduceSum', [g.op('Mul', [hidden, inp.keep], `${name}.kept`), g.i64('axis_1', [1])], `${name}.sum`, { keepdims: 0 });
    const count = g.op('Max', [g.op('ReduceSum', [inp.keep, g.i64('axis_1', [1])], `${name}.count`, { keepdims: 0 }), g.scalar('one', 1)], `${name}.count1`);
    summary = g.op('Div', [sum, count], `${name}.mean`);
  } else {
    summary = g.op('Gather', [hidden, g.i64('zero_i64', [0], [])], `${name}.cls`, { axis: 1 });
  }
  let logits = emitLinear(g, w, head.out, emitLinearActivated(g, w, head.pooler!, 'tanh', summary, `${name}.pooler`), `${name}.out`);
  if (head.bag) {
    if (!inp.ngrams) throw new Error(`${name}: a lexical head needs the n-gram inputs`);
    const rows = g.op('Gather', [w.table(g, `${name}.bag.table`, head.bag.table), inp.ngrams.ids], `${name}.bag.rows`);
    const mask = g.op('Unsqueeze', [inp.ngrams.mask, g.i64('axis_m1', [-1])], `${name}.bag.mask`);
    const sum = g.op('ReduceSum', [g.op('Mul', [rows, mask], `${name}.bag.kept`), g.i64('axis_1', [1])], `${name}.bag.sum`, { keepdims: 0 });
    const count = g.op(
      'Max',
      [g.op('ReduceSum', [mask, g.i64('axis_1', [1])], `${name}.bag.count`, { keepdims: 0 }), g.scalar('one', 1)],
      `${name}.bag.count1`,
    );
    const mean = g.op('Div', [sum, count], `${name}.bag.mean`);
    logits = g.op('Add', [logits, emitLinear(g, w, head.bagOut!, mean, `${name}.bag_out`)], `${name}.with_bag`);
  }
  if (head.prior) {
    if (!inp.prior) throw new Error(`${name}: a head with a Naive Bayes prior needs the prior inputs`);
    const { table, logPrior } = priorTable(head.prior);
    const C = head.prior.classes;
    const rows = g.op('Gather', [g.f32(`${name}.prior.table`, table, [table.length / C, C]), inp.prior.rows], `${name}.prior.rows`);
    const mask = g.op('Unsqueeze', [inp.prior.mask, g.i64('axis_m1', [-1])], `${name}.prior.mask`);
    const words = g.op('ReduceSum', [g.op('Mul', [rows, mask], `${name}.prior.kept`), g.i64('axis_1', [1])], `${name}.prior.sum`, { keepdims: 0 });
    const s = g.op('Add', [words, g.f32(`${name}.prior.log_prior`, logPrior, [C])], `${name}.prior.score`);
    const post = g.op('LogSoftmax', [s], `${name}.prior.log_posterior`, { axis: -1 });
    logits = g.op('Add', [logits, g.op('Mul', [post, g.scalar(`${name}.prior.weight`, head.prior.weight)], `${name}.prior.logits`)], `${name}.with_prior`);
  }
  return logits;
}

/** The buckets a prior counted, ascending: row r of its table is bucket seen[r]. */
export function priorSeenBuckets(p: NaiveBayesPrior): Int32Array {
  // Once per prior: every batch's inputs look words up in it (export/inputs.ts), and a prior's keys run to millions.
  let seen = seenCache.get(p);
  if (!seen) {
    const out: number[] = [];
    for (const k of p.keys) {
      const b = Math.floor(k / p.classes);
      if (out.length === 0 || out[out.length - 1] !== b) out.push(b);
    }
    seenCache.set(p, (seen = Int32Array.from(out)));
  }
  return seen;
}
const seenCache = new WeakMap<NaiveBayesPrior, Int32Array>();

/** The prior's table [seen buckets, C], each row centred, and its class log-prior, centred. */
function priorTable(p: NaiveBayesPrior): { table: Float32Array; logPrior: Float32Array } {
  const C = p.classes;
  const seen = priorSeenBuckets(p);
  const table = new Float64Array(seen.length * C);
  for (let r = 0; r < seen.length; r++) table.set(p.unseen, r * C);
  let r = 0;
  p.keys.forEach((k, i) => {
    const b = Math.floor(k / C);
    while (seen[r] !== b) r++;
    table[r * C + (k - b * C)] += p.values[i];
  });
  const centred = (v: Float64Array | Float32Array, at: number): void => {
    let m = 0;
    for (let c = 0; c < C; c++) m += v[at + c];
    m /= C;
    for (let c = 0; c < C; c++) v[at + c] -= m;
  };
  for (let q = 0; q < seen.length; q++) centred(table, q * C);
  const logPrior = Float64Array.from(p.logPrior);
  centred(logPrior, 0);
  return { table: Float32Array.from(table), logPrior: Float32Array.from(logPrior) };
}
