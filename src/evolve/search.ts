// μ2Net's search for a new task's path, in generations of `parallel` children trained at once:
//
//   repeat until `children` children are made, the task's compute bound (`budget` training steps
//   over all children) is spent, or `stopAfter` generations in a row found no better child:
//     for each child of the round, in order:
//       parent <- this task's candidates in order of decreasing score, each accepted with
//                 probability 0.5^(children it already has); if none is accepted (always so for
//                 the first child): another task's path, drawn uniformly at random among the
//                 system's tasks (the root stack when the system has no task yet)
//       child  <- makeChild(parent)                     (mutations.ts), drawn again while it would
//                 add more than `maxAdded` of a fine-tuned copy of its path; a child of
//                 another task's path then takes the next of the search's `lrs`, if any
//     train the round's children's new components, concurrently: `steps` steps, or with
//       `patience` until dev stops improving, keeping the best evaluation's weights (with
//       `cooldown`, the rate then decays to 0 before the child stops)  (train_path.ts);
//       the round shares what is left of the bound, so the search never spends more than it
//     score  <- dev quality × base^(added parameters / total parameters), for each child
//   keep the best-scoring child: its path becomes the task's, its components are locked for
//   ever, and every component made for a discarded child is dropped.
//
// "added parameters" are those of the child's components created during this search (its own
// and any it reuses from an ancestor candidate of the same task): what the system grows by if
// the child is kept. "total parameters" is the system's size with them: before the search plus
// added. base = 1 puts no price on size; base < 1 makes a child pay for what it adds.
//
// The size cap (`maxAdded`) is a hard bound beside the score's soft price: μ2Net has only the
// price, but a user who wants each task to cost at most a fraction of a fine-tuned copy should not
// have to tune `base` to get it. A draw over the cap is not trained: the child is drawn again from
// the same parent (its components become garbage, dropped with the discarded candidates), up to
// MAX_REDRAWS times; if every draw is over, the search stops with an error naming the cap. The
// cap counts the components the search creates (clones, adapters, stem, head with its n-gram bag).
// With `naiveBayesPrior` the cap bounds the prior too, which is fitted after the search: the kept
// path gets one only if the path and the prior's stored numbers fit under the cap together (the
// prior on both sides: a fine-tuned copy's head gets one too). The children are not made to leave
// it room: the network decides a path's quality and the prior rarely does (dev mostly gives it a
// weight of 0 or 0.1 on an added task), so the cap's room goes to the network first
// (docs/continual_probes.md, "Rank-32 block updates, the prior's room given to the network").
//
// Why the fallback draws uniformly: a new task has no score on other tasks' paths, so there is no
// order to follow; a uniform draw gives every finished task's representation an equal chance to
// be the starting point, and the 0.5^children rule then keeps exploiting whatever this task's own
// candidates have learned.
//
// Rounds (μ2Net trains children in parallel where cores allow): a parent choice only needs the
// scores of finished candidates, so a round's parents are all chosen from the candidates
// finished before the round, counting a child against its parent as soon as it is chosen (a
// parent chosen twice in a round counts both). Every random draw (parents, mutations, each
// child's training seed) is made in the main thread, in child order, from the one seeded Rng, so
// the search is a deterministic function of (seed, parallel), whichever child finishes first.
// The children of a round are trained and scored in worker threads, one each, with OpenBLAS at
// one thread (train_in_workers.ts); each worker rebuilds its child from a copy of the path's
// components and trains it exactly as the main thread would (child_job.ts), and results are
// recorded in child order. parallel = 1 (and any round of a single child) trains in process:
// that is the sequential search, draw for draw. Where workers cannot run the main thread's
// kernels, the round is trained in process instead, one child after another, and the log says so.

import { Rng } from '../engine/index.js';
import { isTextSequenceTask, sampleExamples, type TaskData } from '../tasks/task.js';
import type { TaskScore } from '../tasks/score.js';
import {
  activatedParameters,
  addedParameters,
  copyParameters,
  describePath,
  pathComponents,
  type Path,
  type TaskModel,
  type TaskSource,
  type TaskSpec,
} from '../model/index.js';
import { applyOutcome, childJob } from './child_job.js';
import { makeChild, type Child, type ParentRef } from './mutations.js';
import { trainInWorkers, WorkersUnavailable } from './train_in_workers.js';
import { PRIOR_DEV_EXAMPLES, fitPriors, type PriorFit } from '../train/fit_prior.js';
import { NaiveBayesPrior, takesPrior } from '../tasks/naive_bayes_prior.js';
import { trainPath, type EvalProgress, type TrainPathOptions } from './train_path.js';
import { DEFAULT_SEARCH_CONFIG, parseSearchConfig, type SearchConfig } from './search_config.js';

/** The search's settings (search_config.ts declares them, with their defaults and bounds), and a log. */
export interface SearchOptions extends SearchConfig {
  log: (s: string) => void;
}

/** Draws again of a child over the size cap before the search gives up (search_config.ts: maxAdded). */
const MAX_REDRAWS = 10;

export const DEFAULT_SEARCH: SearchOptions = { ...DEFAULT_SEARCH_CONFIG, log: () => {} };

export interface Candidate {
  index: number;
  path: Path;
  /** "task:<name>" for another task's path, "root", or "child <i>" for one of this search's. */
  parent: string;
  notes: string[];
  dev: TaskScore;
  added: number;
  /** Parameters one forward pass of its path reads. */
  activated: number;
  /** Parameters a fine-tuned copy of its path would hold (model/path.ts copyParameters): what `maxAdded` is a fraction of. */
  copy: number;
  total: number;
  score: number;
  /** How many children this candidate has had (for the 0.5^children acceptance). */
  children: number;
  trainLoss: number;
  /** Training steps the child took (fewer than `steps` when patience stopped it). */
  steps: number;
}

export interface SearchResult {
  best: Candidate;
  candidates: Candidate[];
  /** Components created during the search and dropped with the discarded candidates. */
  dropped: string[];
  /** Training steps over all children: what the task cost, against its bound. */
  stepsSpent: number;
  /** Generations run (rounds of `parallel` children). */
  generations: number;
  /** Why the search stopped: all children made, the compute bound spent, or `stopAfter` generations without a better child. */
  stopped: 'children' | 'budget' | 'no improvement';
  /** With naiveBayesPrior, a classification task's fitted prior (weight 0: none); absent where the prior and the kept path would exceed maxAdded together. */
  prior?: PriorFit;
}

/** quality × base^(added / total). A negative quality (Pearson < 0) is divided instead, so that size is never rewarded. */
export function pathScore(quality: number, added: number, total: number, base: number): number {
  if (!Number.isFinite(quality)) return -Infinity;
  const penalty = base ** (total > 0 ? added / total : 0);
  return quality >= 0 ? quality * penalty : quality / penalty;
}

/** Checks search options against the schema; the RangeError names the option. */
export function validateSearchOptions(o: SearchOptions): void {
  const { log: _log, ...settings } = o;
  parseSearchConfig(settings);
}

/**
 * Adds `task` to the system by search (see the top of this file). The system is changed in place:
 * on return the task has its path and the path's components are locked. Nothing that an earlier
 * task's path uses is ever trained or changed.
 */
export async function searchTask(system: TaskModel, task: TaskData, source: TaskSource, o: Partial<SearchOptions> = {}): Promise<SearchResult> {
  const opts: SearchOptions = { ...DEFAULT_SEARCH, ...o };
  validateSearchOptions(opts);
  if (system.tasks.has(task.name)) throw new RangeError(`task "${task.name}" already exists (this model has: ${[...system.tasks.keys()].join(', ')})`);
  if (task.train.length === 0) throw new RangeError(`task "${task.name}" has no training examples`);
  if (task.dev.length === 0)
    throw new RangeError(`task "${task.name}" has no dev examples: the search scores children on dev (give "dev", or keep devFraction > 0)`);
  const store = system.store;
  // The task's name is mixed into the seed: with the default seed, successive add-task runs
  // would otherwise draw the very same mutations for every task.
  const rng = new Rng((opts.seed ^ nameHash(task.name)) >>> 0);
  const spec: TaskSpec = {
    name: task.name,
    type: task.type,
    labels: task.labels,
    ...(opts.lexical && isTextSequenceTask(task.type) ? { lexical: opts.lexical } : {}),
    ...(task.image ? { image: { ...task.image } } : {}),
  };
  const others: Path[] = [...system.tasks.values()].map((t) => t.path);
  const totalBefore = system.numParameters();
  const existing = new Set(store.all().map((c) => c.id));
  // A sample across the whole split, as trainMultiTask scores on: a split's files are often in
  // document or label order, and its first examples would then cover a few of its labels (the
  // first 1,000 of genre's dev, 4 of 15 genres; of sense's, 3 of 45 senses).
  const dev = sampleExamples(task.dev, opts.evalExamples, opts.seed);
  const candidates: Candidate[] = [];

  // A child trains for up to hours: each of its dev evaluations is reported as it comes.
  const onEval = (index: number, e: EvalProgress) =>
    opts.log(
      `child ${index}: step ${e.step}/${e.steps}, dev ${e.dev.metric} ${e.dev.score.toFixed(4)} (best ${e.best.score.toFixed(4)} at step ${e.bestStep})${e.decaying ? ', rate decaying' : ''}`,
    );
  const trainHere = async (index: number, child: Child, train: TrainPathOptions) => {
    const model = system.pathModel(spec, child.path).eval();
    const trained = await trainPath(
      model,
      child.created.map((id) => store.get(id)),
      task.train,
      { ...train, onEval: (e) => onEval(index, e) },
      dev,
    );
    return { dev: trained.dev!, trainLoss: trained.finalLoss, steps: trained.steps };
  };
  // maxAdded 1 is no cap: a child that clones everything and adds updates besides would exceed a copy.
  const overCap = (p: Path, extra = 0) => opts.maxAdded < 1 && addedParameters(store, p) + extra > opts.maxAdded * (copyParameters(store, p) + extra);
  const budget = opts.budget > 0 ? opts.budget : opts.children * opts.steps;
  let stepsSpent = 0;
  let generations = 0;
  let stale = 0;
  let stopped: SearchResult['stopped'] = 'children';
  let useWorkers = opts.parallel > 1;
  const lrs = opts.lrs ?? [];
  let fromOthers = 0;
  let tokenizerJson: string | null = null;
  if (useWorkers) opts.log(`training up to ${opts.parallel} children at a time, each in a worker thread (OpenBLAS at 1 thread meanwhile)`);

  for (let c = 0; c < opts.children; ) {
    if (stepsSpent >= budget) {
      stopped = 'budget';
      break;
    }
    if (opts.stopAfter > 0 && stale >= opts.stopAfter) {
      stopped = 'no improvement';
      break;
    }
    const bestBefore = candidates.reduce((m, x) => Math.max(m, x.score), -Infinity);
    generations++;
    // The round's parents and children, in order, from the candidates finished before it.
    const ranked = [...candidates].sort((a, b) => b.score - a.score || a.index - b.index);
    const round: { index: number; parentName: string; child: Child; train: TrainPathOptions }[] = [];
    // The bound is never overspent: the round's children share what is left of it, each training
    // at most `steps` (its schedule then warms up and decays within its share).
    const left = budget - stepsSpent;
    const end = Math.min(opts.children, c + opts.parallel, c + left);
    const share = Math.min(opts.steps, Math.floor(left / (end - c)));
    for (; c < end; c++) {
      let parent: ParentRef | null = null;
      let parentCand: Candidate | null = null;
      for (const cand of ranked) {
        if (rng.uniform() < 0.5 ** cand.children) {
          parent = { path: cand.path, sameTask: true };
          parentCand = cand;
          break;
        }
      }
      let parentName: string;
      if (parent) parentName = `child ${parentCand!.index}`;
      else if (others.length > 0) {
        const p = others[rng.int(others.length)];
        parent = { path: p, sameTask: false };
        parentName = `task:${p.task}`;
      } else {
        // A system with no task yet: the root stack with a placeholder head the child replaces.
        parent = { path: { ...system.rootPath(task.name), head: '' }, sameTask: false };
        parentName = 'root';
      }
      if (parentCand) parentCand.children++;
      // A child of another task's path (or of the root) starts from that path's hyperparameters,
      // with the search's own low-rank rank when one is set.
      if (!parent.sameTask && opts.loraRank !== undefined)
        parent = { ...parent, path: { ...parent.path, hparams: { ...parent.path.hparams, loraRank: opts.loraRank } } };
      const childOpts = { headDropout: opts.headDropout, embeddingLoraRank: opts.embeddingLoraRank };
      let child = makeChild(store, parent, spec, system.root, rng, childOpts);
      for (let redraw = 0; overCap(child.path); redraw++) {
        if (redraw === MAX_REDRAWS)
          throw new RangeError(
            `task "${task.name}": ${MAX_REDRAWS + 1} children drawn from ${parentName} each add more than maxAdded ${opts.maxAdded} of a fine-tuned copy of their path (the last: ${addedParameters(store, child.path).toLocaleString('en-US')} of ${copyParameters(store, child.path).toLocaleString('en-US')}); raise maxAdded, or make the new head smaller (a smaller n-gram bag)`,
          );
        child = makeChild(store, parent, spec, system.root, rng, childOpts);
      }
      // The rate is the hyperparameter a new task's path is most sensitive to
      // (docs/continual_probes.md, "A first generation that spans the rate"), and a search of a few
      // long children rarely mutates it: children of other tasks' paths take the search's rates in
      // turn, after the draws, so the draws themselves are those of a search without them.
      if (!parent.sameTask && lrs.length > 0) {
        const lr = lrs[fromOthers++ % lrs.length];
        if (lr !== child.path.hparams.lr) child.notes.push(`lr ${child.path.hparams.lr} -> ${lr} (the search's lrs)`);
        child.path.hparams = { ...child.path.hparams, lr };
      }
      const train: TrainPathOptions = {
        steps: share,
        batchSize: opts.batchSize,
        lr: child.path.hparams.lr,
        warmupRatio: child.path.hparams.warmupRatio,
        weightDecay: opts.weightDecay,
        clipNorm: opts.clipNorm,
        lexicalLrScale: opts.lexicalLrScale,
        ...(opts.patience > 0 ? { patience: opts.patience, evalEvery: opts.evalEvery, cooldown: opts.cooldown } : {}),
        seed: rng.nextU32(),
      };
      round.push({ index: c, parentName, child, train });
    }

    let results: { dev: TaskScore; trainLoss: number; steps: number }[] | null = null;
    if (useWorkers && round.length > 1) {
      tokenizerJson ??= system.tokenizer.toJsonString();
      const jobs = round.map((r) => childJob(store, r.index, r.child, spec, tokenizerJson!, system.maxLen, task.train, dev, r.train));
      try {
        const outcomes = await trainInWorkers(jobs, onEval);
        for (const o of outcomes) applyOutcome(store, o);
        results = outcomes;
      } catch (e) {
        if (!(e instanceof WorkersUnavailable)) throw e;
        useWorkers = false;
        opts.log(`worker threads cannot train here (${e.message}); training the children in process, one after another`);
      }
    }
    if (!results) {
      results = [];
      for (const r of round) results.push(await trainHere(r.index, r.child, r.train));
    }

    round.forEach((r, i) => {
      const { dev: score, trainLoss, steps } = results![i];
      stepsSpent += steps;
      const added = addedParameters(store, r.child.path);
      const total = totalBefore + added;
      const cand: Candidate = {
        index: r.index,
        path: r.child.path,
        parent: r.parentName,
        notes: r.child.notes,
        dev: score,
        added,
        activated: activatedParameters(store, r.child.path),
        copy: copyParameters(store, r.child.path),
        total,
        score: pathScore(score.score, added, total, opts.base),
        children: 0,
        trainLoss,
        steps,
      };
      candidates.push(cand);
      opts.log(
        `child ${r.index} (parent ${r.parentName}): dev ${score.metric} ${score.score.toFixed(4)}, +${added.toLocaleString('en-US')} params, score ${cand.score.toFixed(4)}, ${steps} steps; ${r.child.notes.join('; ')}`,
      );
    });
    stale = candidates.some((x) => x.score > bestBefore) ? 0 : stale + 1;
  }

  const best = candidates.reduce((a, b) => (b.score > a.score ? b : a));
  system.addTaskPath(spec, source, best.path);
  // The prior is the new head's alone (counted on this task's data), set before the head is locked.
  const priorSize = opts.naiveBayesPrior && takesPrior(task.type) ? NaiveBayesPrior.count(task.train, task.labels).size : 0;
  const priorFits = !overCap(best.path, priorSize);
  if (priorSize > 0 && !priorFits)
    opts.log(
      `${task.name}: no Naive Bayes prior: its ${priorSize.toLocaleString('en-US')} numbers and the path's ${best.added.toLocaleString('en-US')} parameters exceed maxAdded ${opts.maxAdded} of a fine-tuned copy with its prior`,
    );
  const prior =
    priorSize > 0 && priorFits ? (await fitPriors(system, [task], { devExamples: PRIOR_DEV_EXAMPLES, seed: opts.seed, log: opts.log }))[task.name] : undefined;
  store.lock(pathComponents(best.path));
  const dropped = system.collectGarbage().filter((id) => !existing.has(id));
  opts.log(
    `best: child ${best.index}, ${describePath(best.path)}; ${generations} generations, ${stepsSpent} training steps (bound ${budget}), stopped: ${stopped}`,
  );
  return { best, candidates, dropped, stepsSpent, generations, stopped, ...(prior ? { prior } : {}) };
}

/** FNV-1a over the name's UTF-16 code units. */
function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
