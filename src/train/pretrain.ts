// Self-supervised pretraining (masked or causal LM) with resumable checkpoints.
//
// Order of work matters for "nothing half-written": every input is validated (config, corpus,
// tokenizer) before the output folder is touched. A run whose output folder already holds a
// checkpoint resumes from it if its config matches (train.steps may grow). Resuming restores the
// parameters, AdamW moments and step, the data position, the RNG state and the loss accumulator,
// so a killed and resumed run follows the uninterrupted run's loss curve.

import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, Tensor, lrSchedule, noGrad, type RngState } from '../engine/index.js';
import { LanguageModel, type RouteContext } from '../nn/index.js';
import { SkillTable, SwitchFFN, sparseFfnFactory, type SparseConfig } from '../sparse/index.js';
import { Tokenizer } from '../data/tokenizer/index.js';
import { loadCorpusTexts, packedData, tokenizerFor, type PackedData } from '../data/pretrain_data.js';
import { writeFileAtomic } from '../util/atomic.js';
import { CheckpointDir, loadModelWeights, type TrainerState } from './checkpoint.js';
import { ConfigError } from './config.js';
import { encoderConfigOf, type PretrainConfig } from './pretrain_config.js';
import { maskTokens } from './objectives.js';
import { Progress } from './progress.js';
import { Trainer } from './step.js';
import { FOLDER_FORMAT, inLayout, loadPretrained, saveModuleFolder } from '../model/index.js';
import { checkWritableFolder } from '../util/writable.js';

interface State extends TrainerState {
  step: number;
  epoch: number;
  cursor: number;
  rng: { s: RngState; spare: number | null };
  lossSum: number;
  lossCount: number;
  tokens: number;
  config: PretrainConfig;
}

export interface PretrainResult {
  out: string;
  steps: number;
  heldOut: { step: number; loss: number; ppl: number }[];
  tokensPerSecond: number;
}

export interface PretrainOptions {
  log?: (s: string) => void;
  /** Progress output (default stderr). */
  stream?: NodeJS.WriteStream;
  /** Start over even if the output folder holds a checkpoint from another config. */
  overwrite?: boolean;
}

/** Compares the saved run config with this one; train.steps may differ. */
function sameRun(a: PretrainConfig, b: PretrainConfig): string | null {
  const strip = (c: PretrainConfig) => JSON.stringify({ ...c, train: { ...c.train, steps: 0 }, out: '' });
  if (strip(a) === strip(b)) return null;
  const diff = (x: unknown, y: unknown, path: string): string | null => {
    if (typeof x === 'object' && x && typeof y === 'object' && y) {
      for (const k of Object.keys(x)) {
        const d = diff((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
        if (d) return d;
      }
      return null;
    }
    return x === y ? null : path;
  };
  return diff({ ...a, train: { ...a.train, steps: 0 }, out: '' }, { ...b, train: { ...b.train, steps: 0 }, out: '' }, '');
}

export async function pretrain(cfg: PretrainConfig, opts: PretrainOptions = {}): Promise<PretrainResult> {
  const log = opts.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const ckpt = new CheckpointDir(cfg.out);

  // 1. Validate every input before writing anything.
  const resumeFrom = opts.overwrite ? null : ckpt.latest();
  if (resumeFrom) {
    const saved = CheckpointDir.loadState<State>(resumeFrom).config;
    const d = sameRun(saved, cfg);
    if (d) throw new ConfigError(`${cfg.out} holds a checkpoint of a different run (${d} differs); use --overwrite or another --out`);
  }
  checkWritableFolder(cfg.out, 'out');
  const texts = loadCorpusTexts(cfg.data);
  const init = cfg.init ? initFrom(cfg) : null;
  const given = init ? init.tokenizer : cfg.tokenizer.path ? Tokenizer.fromFile(cfg.tokenizer.path) : null;

  // 2. Tokenizer and data (cached outside the output folder).
  const tok = given ?? tokenizerFor(texts, cfg.tokenizer.vocabSize, log);
  const special = tok.specialIds;
  if (special.mask === null || special.cls === null || special.sep === null || special.pad === null) {
    throw new ConfigError('the tokenizer must define [PAD], [CLS], [SEP] and [MASK]');
  }
  const data: PackedData = await packedData(texts, tok, cfg.data.seqLen, log);
  const T = cfg.data.seqLen;
  const B = cfg.train.batchSize;
  const encCfg = init ? init.config : encoderConfigOf(cfg, tok.vocabSize);
  log(`data: ${data.trainSequences} training sequences of ${T} tokens (${data.trainTokens} tokens), ${data.heldOutSequences} held out`);

  // 3. Model, optimizer, schedule.
  const rng = new Rng(cfg.train.seed);
  const sparse = cfg.model.sparse;
  const model = init ? init.model(sparse, rng).train() : new LanguageModel(encCfg, rng, sparseFfnFactory(encCfg, sparse, rng));
  // SkillNet: the objective activates its own row of the skill table, or (skill-aware pretraining)
  // a row drawn per step from objective.skillRows.
  const table = sparse.skills ? new SkillTable(sparse.skills) : null;
  const rows = cfg.objective.skillRows.length ? cfg.objective.skillRows : [cfg.objective.kind];
  const routeOf = (k: number): RouteContext | undefined => (table ? { skills: table.skillsFor(rows[k % rows.length]) } : undefined);
  const switches = [...model.modules()].filter((m): m is SwitchFFN => m instanceof SwitchFFN);
  const sched = lrSchedule({ kind: cfg.train.schedule, warmupSteps: cfg.train.warmupSteps, totalSteps: cfg.train.steps, minRatio: cfg.train.minLrRatio });
  const trainer = new Trainer(model, model.parameters(), {
    stopOnNonFinite: true,
    lr: cfg.train.lr,
    weightDecay: cfg.train.weightDecay,
    clipNorm: cfg.train.clipNorm,
    schedule: sched,
  });
  const specialIds = new Set([special.pad, special.cls, special.sep, special.mask, special.unk].filter((x): x is number => x !== null));
  const firstRegular = Math.max(...specialIds) + 1;
  log(`model: ${model.numParameters().toLocaleString('en-US')} parameters (${encCfg.layers} layers, d_model ${encCfg.dModel}, vocab ${encCfg.vocabSize})`);

  const state: State = { step: 0, epoch: 0, cursor: 0, rng: rng.state(), lossSum: 0, lossCount: 0, tokens: 0, config: cfg };
  const metricsFile = join(cfg.out, 'metrics.jsonl');
  let metricsLines: string[] = [];
  if (resumeFrom) {
    loadModelWeights(model, join(resumeFrom, 'model.safetensors'));
    CheckpointDir.loadOptimizer(resumeFrom, model, trainer.opt);
    Object.assign(state, CheckpointDir.loadState<State>(resumeFrom), { config: cfg });
    rng.setState(state.rng);
    // The schedule's position is the optimizer's step count.
    if (trainer.steps !== state.step) throw new Error(`${resumeFrom}: the optimizer is at step ${trainer.steps}, the trainer state at ${state.step}`);
    // Metrics logged after the checkpoint belong to the lost part of the run.
    if (existsSync(metricsFile)) {
      metricsLines = readFileSync(metricsFile, 'utf8')
        .split('\n')
        .filter((l) => {
          try {
            return JSON.parse(l).step <= state.step;
          } catch {
            return false; // blank, or a line cut short by the kill
          }
        });
    }
    log(`resuming from ${resumeFrom} (step ${state.step})`);
  }
  ckpt.cleanTemporary();
  // Rewritten once (atomically) at start or resume; then one appended line per entry.
  writeFileAtomic(metricsFile, metricsLines.map((l) => l + '\n').join(''));
  const appendMetrics = (m: Record<string, unknown>) => appendFileSync(metricsFile, JSON.stringify(m) + '\n');

  // 4. Batches: a seeded permutation per epoch, so the data order needs only (epoch, cursor).
  const nSeq = data.trainSequences;
  let perm = new Int32Array(0);
  let permEpoch = -1;
  const nextBatch = (): Int32Array => {
    const ids = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      if (state.cursor >= nSeq) {
        state.epoch++;
        state.cursor = 0;
      }
      if (permEpoch !== state.epoch) {
        perm = Int32Array.from({ length: nSeq }, (_, i) => i);
        new Rng((cfg.train.seed * 1000003 + state.epoch) >>> 0).shuffle(perm);
        permEpoch = state.epoch;
      }
      const s = perm[state.cursor++];
      ids.set(data.train.subarray(s * T, (s + 1) * T), b * T);
    }
    return ids;
  };

  const lossOf = (ids: Int32Array, r: Rng, route: RouteContext | undefined): { loss: Tensor; count: number } => {
    if (cfg.objective.kind === 'clm') {
      return { loss: model.clmLoss(new Tensor(ids, [ids.length / T, T]), null, -100, special.pad!, route), count: ids.length };
    }
    const m = maskTokens(ids, (id) => specialIds.has(id), firstRegular, tok.vocabSize, special.mask!, cfg.objective.maskProb, r);
    const loss = model.mlmLoss(
      new Tensor(m.inputs, [ids.length / T, T]),
      new Tensor(m.positions, [m.positions.length]),
      new Tensor(m.targets, [m.targets.length]),
      null,
      null,
      route,
    );
    return { loss, count: m.positions.length };
  };

  // Held-out loss on a fixed slice with fixed masking, so evaluations are comparable.
  const evaluate = (): { loss: number; ppl: number } =>
    noGrad(() => {
      model.eval();
      const r = new Rng(0xe7a1);
      let sum = 0;
      let count = 0;
      const nHeld = data.heldOutSequences;
      for (let k = 0; k < cfg.train.evalBatches && k * B < nHeld; k++) {
        const rows = Math.min(B, nHeld - k * B);
        const ids = data.heldOut.slice(k * B * T, (k * B + rows) * T);
        const { loss, count: c } = lossOf(ids, r, routeOf(k)); // rows in turn
        sum += loss.item() * c;
        count += c;
      }
      model.train();
      const loss = sum / count;
      return { loss, ppl: Math.exp(loss) };
    });

  // 5. The loop.
  const heldOut: PretrainResult['heldOut'] = [];
  const progress = new Progress(cfg.train.steps, state.step, opts.stream ?? process.stderr);
  const t0 = performance.now();
  let tokensThisRun = 0;
  let lastLoss = NaN;
  while (state.step < cfg.train.steps) {
    // With one row no draw is made, so runs without skillRows keep their RNG stream (and resume).
    const { loss } = lossOf(nextBatch(), rng, routeOf(rows.length > 1 ? rng.int(rows.length) : 0));
    // Switch layers add their load-balancing and z losses to the objective (in the step).
    const { loss: stepLoss, lr } = trainer.step(loss);
    lastLoss = stepLoss;
    state.step++;
    state.tokens += B * T;
    tokensThisRun += B * T;
    if (!Number.isFinite(lastLoss)) throw new Error(`loss became ${lastLoss} at step ${state.step}; lower train.lr`);
    state.lossSum += lastLoss;
    state.lossCount++;
    const elapsed = (performance.now() - t0) / 1000;
    if (state.step % cfg.train.logEvery === 0 || state.step === cfg.train.steps) {
      // Switch layers inside skills of other tasks do not run; report the ones that did.
      const ran = switches.filter((w) => Number.isFinite(w.lastLb));
      const routing = ran.length
        ? {
            lb: mean(ran.map((w) => w.lastLb)),
            z: mean(ran.map((w) => w.lastZ)),
            dropped: mean(ran.map((w) => w.stats.droppedFraction)),
            tokens_per_expert: ran.map((w) => w.stats.tokensPerExpert),
          }
        : {};
      appendMetrics({
        step: state.step,
        loss: state.lossSum / state.lossCount,
        lr,
        tokens: state.tokens,
        tokens_per_s: Math.round(tokensThisRun / elapsed),
        ...routing,
      });
      state.lossSum = 0;
      state.lossCount = 0;
    }
    if (state.step % cfg.train.evalEvery === 0 || state.step === cfg.train.steps) {
      const ev = evaluate();
      heldOut.push({ step: state.step, ...ev });
      appendMetrics({ step: state.step, heldout_loss: ev.loss, heldout_ppl: ev.ppl });
      progress.log(`step ${state.step}: held-out ${cfg.objective.kind} loss ${ev.loss.toFixed(4)} (perplexity ${ev.ppl.toFixed(1)})`);
    }
    if (state.step % cfg.train.checkpointEvery === 0 || state.step === cfg.train.steps) {
      state.rng = rng.state();
      ckpt.save(
        state.step,
        model,
        { config: modelConfigJson(encCfg, sparse), tokenizerJson: tok.toJsonString() },
        trainer.opt,
        state,
        cfg.train.keepCheckpoints,
      );
    }
    progress.update(state.step, { loss: lastLoss.toFixed(3), lr: lr.toExponential(1) }, tokensThisRun);
  }
  progress.done();

  // 6. The exported model.
  saveModuleFolder(join(cfg.out, 'model'), model, { config: modelConfigJson(encCfg, sparse), tokenizerJson: tok.toJsonString() });
  const tps = tokensThisRun / Math.max(1e-9, (performance.now() - t0) / 1000);
  log(`saved ${join(cfg.out, 'model')} (${Math.round(tps)} tokens/s this run)`);
  return { out: cfg.out, steps: state.step, heldOut, tokensPerSecond: tps };
}

/** cfg.init: the folder's shape and tokenizer, and its weights (upcycled when it is dense). */
function initFrom(cfg: PretrainConfig) {
  const dir = cfg.init!;
  let pre: ReturnType<typeof loadPretrained>;
  try {
    pre = loadPretrained(dir);
  } catch (e) {
    throw new ConfigError(`init: ${(e as Error).message}`);
  }
  if (!pre.tokenizer) throw new ConfigError(`init: ${dir} has no tokenizer.json`);
  if (cfg.data.seqLen > pre.config.maxPositions)
    throw new ConfigError(`data.seqLen ${cfg.data.seqLen} exceeds the init model's maxPositions ${pre.config.maxPositions}`);
  return {
    tokenizer: pre.tokenizer,
    config: pre.config,
    model(sparse: SparseConfig, rng: Rng): LanguageModel {
      try {
        return inLayout(pre, dir, sparse, rng, 'model.sparse');
      } catch (e) {
        throw new ConfigError(`init: ${(e as Error).message}`);
      }
    },
  };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** config.json of a Pathwise model folder. */
function modelConfigJson(c: ReturnType<typeof encoderConfigOf>, sparse: PretrainConfig['model']['sparse']): Record<string, unknown> {
  return { model_type: 'pathwise', architectures: ['LanguageModel'], format: FOLDER_FORMAT, ...c, sparse };
}
