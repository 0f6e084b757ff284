// Warming the heads' lexical parts before joint training: each head's n-gram bag is trained alone,
// as fastText, on its task's whole training set, with no encoder in the step. A bag step costs
// tens of milliseconds where an encoder step costs hundreds, so the lexical part can see every training
// example in seconds while joint training's budget shows a small task's head only a few hundred
// batches; joint training then starts from a head whose lexical half already knows the words.

import { Rng, lrSchedule } from '../engine/index.js';
import type { TaskModel } from '../model/index.js';
import { BatchStream } from '../tasks/batches.js';
import { labelTargets } from '../tasks/encode.js';
import { ngramBags } from '../tasks/ngrams.js';
import type { TaskData } from '../tasks/task.js';
import { Trainer } from './step.js';

// Batches of 512, and at least 50 steps: a bag step's cost is the dense AdamW update of its whole
// table, not the batch, so large batches make an epoch cheap (sense's 94k examples: 184 steps,
// about 5 s), and a small task still gets enough steps (sent's bag alone: 0.800 on test after 50
// steps of 512 at lr 0.05, the quickstart's; Naive Bayes: 0.837; test/unit/lexical.test.ts).
export const WARMUP_BATCH = 512;
export const WARMUP_MIN_STEPS = 50;

export interface LexicalWarmupOptions {
  /** Passes over each task's training set (at least WARMUP_MIN_STEPS steps are taken). */
  epochs: number;
  /** Peak learning rate (linear decay to 0 over the warm-up). */
  lr: number;
  /** Default WARMUP_BATCH. */
  batchSize?: number;
  seed: number;
  log?: (s: string) => void;
}

/** Trains the n-gram bag of every task in `tasks` whose head has one, alone; returns each one's steps and final loss. */
export async function warmLexicalHeads(
  model: TaskModel,
  tasks: readonly TaskData[],
  o: LexicalWarmupOptions,
): Promise<Record<string, { steps: number; loss: number }>> {
  const out: Record<string, { steps: number; loss: number }> = {};
  const rng = new Rng(o.seed);
  for (const t of tasks) {
    const head = model.store.get(model.task(t.name).path.head, 'head').module;
    const lexical = head.cfg.lexical;
    if (!head.bag || !lexical || t.train.length === 0) continue;
    const batchSize = o.batchSize ?? WARMUP_BATCH;
    const steps = Math.max(WARMUP_MIN_STEPS, Math.ceil((o.epochs * t.train.length) / batchSize));
    const params = [...head.bag.parameters(), ...head.bagOut!.parameters()];
    const trainer = new Trainer(head, params, {
      lr: o.lr,
      weightDecay: 0,
      clipNorm: 1,
      schedule: lrSchedule({ kind: 'linear', warmupSteps: 0, totalSteps: steps }),
      stopOnNonFinite: true,
    });
    const stream = new BatchStream(t.train, rng.fork(), { batchSize, group: 1 }, async (xs) => xs.map(() => 0));
    let loss = NaN;
    const mode = head.training;
    head.train();
    try {
      for (let s = 0; s < steps; s++) {
        const rows = await stream.next();
        loss = trainer.step(head.loss(head.bagLogits(ngramBags(rows, lexical)), labelTargets(t, rows, 'n-gram warm-up'))).loss;
      }
    } finally {
      head.train(mode);
    }
    out[t.name] = { steps, loss };
    o.log?.(`${t.name}: n-gram bag warmed alone, ${steps} steps of ${batchSize}, loss ${loss.toFixed(3)}`);
  }
  return out;
}
