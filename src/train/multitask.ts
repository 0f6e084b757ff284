// Multi-task training: every step takes one batch of one task, tasks sampled in proportion to
// n^(1/T) (T = 1: proportional to size; T -> infinity: uniform; SkillNet uses this). Per-task
// overrides scale the learning rate or cap a task's steps. Each evaluation scores every task on
// its dev set; the parameters with the best average score are kept, and training stops early after
// `patience` evaluations without improvement. With `taskPatience`, a task whose own dev score has
// not risen in that many evaluations leaves the sampling: tasks peak at different points of one
// run (a small task overfits while a large one still learns), and one checkpoint for all of them
// would cost the small task its peak.

import { Rng, lrSchedule, type Tensor } from '../engine/index.js';
import type { TaskScore } from '../tasks/score.js';
import type { TaskModel } from '../model/index.js';
import { sampleExamples, type Example, type TaskData } from '../tasks/task.js';
import { BatchStream } from '../tasks/batches.js';
import { Progress } from './progress.js';
import { PRIOR_DEV_EXAMPLES, fitPriors, type PriorFit } from './fit_prior.js';
import { warmLexicalHeads } from './lexical_warmup.js';
import { Trainer, withFrozen, type StepMetrics } from './step.js';
import { trainOptionsSchema } from './train_config.js';

export type { TaskScore };

export interface MultiTaskOptions {
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  weightDecay: number;
  clipNorm: number;
  /** Sampling temperature T in p_i ∝ n_i^(1/T). */
  temperature: number;
  seed: number;
  evalEvery: number;
  /** Evaluations without improvement before stopping (0 = never stop early). */
  patience: number;
  /**
   * Evaluations without improvement of a task's own dev score before the task leaves the sampling
   * (0: never). Its head then gets no gradient, so AdamW leaves it as it is; the shared blocks go on
   * training with the other tasks.
   */
  taskPatience: number;
  /** Cap on dev examples per task at each evaluation (speed). */
  evalExamples: number;
  perTask: Record<string, { lrScale?: number; steps?: number }>;
  /** Transfer learning: freeze the embeddings, and the lowest k encoder layers. */
  freezeEmbeddings: boolean;
  /**
   * Multiplies the learning rate of the encoder's embeddings. Pretraining grows them to several
   * times their initial size, and AdamW moves every weight by about lr a step whatever its size,
   * so at the encoder's lr a pretrained embedding moves slowly relative to itself; word-level tasks
   * feel it (docs/multitask.md).
   */
  embeddingLrScale: number;
  /** Multiplies the learning rate of the heads' n-gram bags (heads with a lexical part). */
  lexicalLrScale: number;
  /** Epochs each head's n-gram bag trains alone before joint training (lexical_warmup.ts); 0: none. */
  lexicalWarmupEpochs: number;
  /** After training, fit each classification head's Naive Bayes prior on dev (fit_prior.ts). */
  naiveBayesPrior: boolean;
  /**
   * Batches' worth of each task's examples sorted by length together, so that a batch pads less
   * (tasks/batches.ts); 1 = plain shuffled batches.
   */
  groupByLength: number;
  freezeLayers: number;
  log: (s: string) => void;
  /**
   * Where the progress display goes (a bar with each task's running loss and steps, redrawn on a
   * terminal, a line every `logEvery` steps otherwise); null for none.
   */
  progress: NodeJS.WriteStream | null;
  logEvery: number;
  /** Called after every optimizer step with its metrics and the task it trained. */
  onStep?: (m: StepMetrics & { task: string }) => void;
  /**
   * Awaited after each dev evaluation, before training goes on: a benchmark records what it needs
   * along the run (bench:images, each task's test score at every evaluation). Scoring there
   * (model.evaluate, predict) runs in inference mode and puts every component back in its mode,
   * and draws nothing from the run's random streams, so the run goes on as without the hook; the
   * hook must not change the weights.
   */
  onEvaluate?: (e: { step: number; dev: Record<string, TaskScore> }) => void | Promise<void>;
}

// The settings' defaults are the train config's (train_config.ts); only the callbacks are added here.
export const DEFAULT_MULTITASK: MultiTaskOptions = { ...trainOptionsSchema.parse({}), perTask: {}, log: () => {}, progress: null };

/** Sampling probabilities ∝ n^(1/T) over the tasks' training sizes. */
export function taskProbabilities(sizes: number[], temperature: number): number[] {
  if (!(temperature > 0)) throw new RangeError(`temperature must be > 0, got ${temperature}`);
  const w = sizes.map((n) => n ** (1 / temperature));
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / s);
}

/** Scores a task on examples with its natural metric. */
export function evaluateTask(model: TaskModel, task: Pick<TaskData, 'name'>, examples: readonly Example[]): Promise<TaskScore> {
  return model.evaluate(task.name, examples);
}

export interface MultiTaskResult {
  bestStep: number;
  dev: Record<string, TaskScore>;
  history: { step: number; dev: Record<string, number>; average: number }[];
  stepsPerTask: Record<string, number>;
  /** With taskPatience: the step at which each task it stopped left the sampling (a task past its step cap is not listed). */
  stoppedAt: Record<string, number>;
  /** With naiveBayesPrior: each classification task's fitted prior. */
  priors?: Record<string, PriorFit>;
}

export async function trainMultiTask(model: TaskModel, tasks: TaskData[], o: Partial<MultiTaskOptions> = {}): Promise<MultiTaskResult> {
  const opts: MultiTaskOptions = { ...DEFAULT_MULTITASK, ...o };
  if (!Number.isInteger(opts.groupByLength) || opts.groupByLength < 1)
    throw new RangeError(`groupByLength must be an integer >= 1 (1: no grouping), got ${opts.groupByLength}`);
  // Checked before freezing below changes the model's parameters.
  if (!(opts.embeddingLrScale > 0)) throw new RangeError(`embeddingLrScale must be > 0, got ${opts.embeddingLrScale}`);
  if (!(opts.lexicalLrScale > 0)) throw new RangeError(`lexicalLrScale must be > 0, got ${opts.lexicalLrScale}`);
  const rng = new Rng(opts.seed);
  for (const t of tasks) if (!model.tasks.has(t.name)) throw new Error(`the model has no head for task "${t.name}"`);

  // Transfer learning: frozen parameters are left out of the optimizer and get no gradient, until
  // training ends whichever way it ends.
  const frozen = new Set<Tensor>();
  const rootEmbeddings = model.store.get(model.root.embeddings).module;
  if (opts.freezeEmbeddings) for (const p of rootEmbeddings.parameters()) frozen.add(p);
  for (let i = 0; i < Math.min(opts.freezeLayers, model.depth); i++) {
    for (const p of model.store.get(model.root.blocks[i]).module.parameters()) frozen.add(p);
  }
  if (opts.lexicalWarmupEpochs > 0) {
    await warmLexicalHeads(model, tasks, {
      epochs: opts.lexicalWarmupEpochs,
      lr: opts.lr * opts.lexicalLrScale,
      seed: (opts.seed ^ 0x5eed) >>> 0,
      log: opts.log,
    });
  }
  const res = await withFrozen(frozen, () => trainLoop(model, tasks, opts, rng, frozen));
  if (!opts.naiveBayesPrior) return res;
  return { ...res, priors: await fitPriors(model, tasks, { devExamples: PRIOR_DEV_EXAMPLES, seed: opts.seed, log: opts.log }) };
}

/** trainMultiTask's loop, run with `frozen` frozen. */
async function trainLoop(model: TaskModel, tasks: TaskData[], opts: MultiTaskOptions, rng: Rng, frozen: ReadonlySet<Tensor>): Promise<MultiTaskResult> {
  const params = model.parameters().filter((p) => !frozen.has(p));
  // The embeddings (tables, and a post-LN stack's norm) at their own lr scale.
  const embeddings = new Set(model.store.get(model.root.embeddings).module.parameters());
  // The heads' n-gram bags, and their output layers, at theirs: fastText trains them at a rate
  // far above an encoder's fine-tuning rate (tasks/heads.ts).
  const bags = new Set(
    tasks.flatMap((t) => {
      const head = model.store.get(model.tasks.get(t.name)!.path.head, 'head').module;
      return head.bag ? [...head.bag.parameters(), ...head.bagOut!.parameters()] : [];
    }),
  );
  const sched = lrSchedule({ kind: 'linear', warmupSteps: Math.min(opts.warmupSteps, opts.steps), totalSteps: opts.steps });
  const trainer = new Trainer(model, params, {
    lr: opts.lr,
    weightDecay: opts.weightDecay,
    clipNorm: opts.clipNorm,
    schedule: sched,
    stopOnNonFinite: true,
    scaled: [
      { params: embeddings, lrScale: opts.embeddingLrScale },
      { params: bags, lrScale: opts.lexicalLrScale },
    ],
  });

  const probs = taskProbabilities(
    tasks.map((t) => t.train.length),
    opts.temperature,
  );
  const streams = tasks.map((t) => new BatchStream(t.train, rng, { batchSize: opts.batchSize, group: opts.groupByLength }, (xs) => model.lengths(t.name, xs)));
  const stepsPerTask: Record<string, number> = Object.fromEntries(tasks.map((t) => [t.name, 0]));
  const history: MultiTaskResult['history'] = [];
  let best = { average: -Infinity, step: 0, params: [] as Float32Array[], dev: {} as Record<string, TaskScore> };
  let sinceBest = 0;
  // Tasks that have left the sampling, past their step cap or stopped by taskPatience; for the
  // latter, each task's best dev score, evaluations since, and when it left.
  const out = tasks.map(() => false);
  const cap = tasks.map((t) => opts.perTask[t.name]?.steps ?? Infinity);
  const taskBest = tasks.map(() => -Infinity);
  const taskSince = tasks.map(() => 0);
  const stoppedAt: Record<string, number> = {};
  const bar = opts.progress ? new Progress(opts.steps, 0, opts.progress, opts.logEvery, 'ex') : null;
  const say = bar ? (s: string) => bar.log(s) : opts.log;
  const runLoss = tasks.map(() => NaN); // exponential moving average per task
  let examples = 0;

  // A fixed random sample of each dev set: loaders keep source order (often grouped by label or
  // document), so a prefix would score one class or one genre.
  const devSample = tasks.map((t) => sampleExamples(t.dev, opts.evalExamples, opts.seed));
  const evaluate = async (step: number) => {
    const dev: Record<string, TaskScore> = {};
    for (const [i, t] of tasks.entries()) dev[t.name] = await evaluateTask(model, t, devSample[i]);
    await opts.onEvaluate?.({ step, dev });
    const average = tasks.reduce((s, t) => s + dev[t.name].score, 0) / tasks.length;
    // From the first evaluation on every component trains (dropout on), as the trainer has always
    // done. Before it, components keep the mode they came in: a pretrained base loads in inference
    // mode, so its first evalEvery steps run without the encoder's dropout. Putting the model in
    // training mode at the start would be the consistent rule; it changes every result, so it is
    // left for a change of its own.
    model.train();
    history.push({ step, dev: Object.fromEntries(tasks.map((t) => [t.name, dev[t.name].score])), average });
    say(`step ${step}: dev ${tasks.map((t) => `${t.name} ${dev[t.name].score.toFixed(3)}`).join('  ')}  (average ${average.toFixed(3)})`);
    for (const [i, t] of tasks.entries()) {
      if (out[i]) continue;
      if (dev[t.name].score > taskBest[i]) [taskBest[i], taskSince[i]] = [dev[t.name].score, 0];
      else taskSince[i]++;
      if (opts.taskPatience > 0 && taskSince[i] >= opts.taskPatience) {
        out[i] = true;
        stoppedAt[t.name] = step;
        say(`step ${step}: task "${t.name}" leaves the sampling (dev ${taskBest[i].toFixed(3)} not beaten in ${opts.taskPatience} evaluations)`);
      }
    }
    if (average > best.average) {
      best = { average, step, params: model.parameters().map((p) => Float32Array.from(p.f32)), dev };
      sinceBest = 0;
    } else sinceBest++;
  };

  for (let step = 1; step <= opts.steps; step++) {
    const live = probs.map((p, i) => (out[i] ? 0 : p));
    const total = live.reduce((a, b) => a + b, 0);
    if (total === 0) break;
    let u = rng.uniform() * total;
    let ti = 0;
    while (ti < tasks.length - 1 && (u -= live[ti]) > 0) ti++;
    const task = tasks[ti];
    const rows = await streams[ti].next();
    const batch = await model.encode(task.name, rows);
    const loss = model.loss(task.name, batch);
    const m = trainer.step(loss, opts.perTask[task.name]?.lrScale ?? 1, `task "${task.name}"`);
    const l = m.loss;
    opts.onStep?.({ ...m, task: task.name });
    if (++stepsPerTask[task.name] >= cap[ti]) out[ti] = true;
    runLoss[ti] = Number.isNaN(runLoss[ti]) ? l : 0.9 * runLoss[ti] + 0.1 * l;
    examples += rows.length;
    bar?.update(
      step,
      Object.fromEntries(tasks.map((t, i) => [t.name, `${Number.isNaN(runLoss[i]) ? '-' : runLoss[i].toFixed(3)} (${stepsPerTask[t.name]})`])),
      examples,
    );
    if (step % opts.evalEvery === 0 || step === opts.steps) {
      await evaluate(step);
      if (opts.patience > 0 && sinceBest >= opts.patience) {
        say(`early stop at step ${step}: no dev improvement in ${opts.patience} evaluations`);
        break;
      }
    }
  }
  bar?.done();
  if (best.params.length) model.parameters().forEach((p, i) => p.f32.set(best.params[i]));
  return { bestStep: best.step, dev: best.dev, history, stepsPerTask, stoppedAt };
}
