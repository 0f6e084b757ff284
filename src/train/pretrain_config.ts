// The pretraining run's config: one typed object, JSON on disk, CLI flags on top.

import { readFileSync } from 'node:fs';
import { DEFAULT_ENCODER, validateEncoderConfig, type EncoderConfig } from '../nn/index.js';
import { DEFAULT_SPARSE_SWITCH, validateSparseConfig, type SparseConfig } from '../sparse/index.js';
import { ConfigError, mergeConfig } from './config.js';

export interface PretrainConfig {
  /**
   * Continue from a model folder instead of a random start: its encoder shape and tokenizer replace
   * model.* and tokenizer.*; a dense folder is upcycled to model.sparse (continued pretraining,
   * SkillNet's skill-aware pretraining of a dense base).
   */
  init: string | null;
  /** The encoder; vocabSize comes from the tokenizer and maxPositions from data.seqLen. */
  model: Omit<EncoderConfig, 'vocabSize' | 'maxPositions'> & { sparse: SparseConfig };
  tokenizer: {
    /** Size of the byte-level BPE vocabulary trained on the corpus (bytes + specials + merges). */
    vocabSize: number;
    /** An existing tokenizer.json to use instead of training one. */
    path: string | null;
  };
  data: {
    /** "builtin" (Brown, State of the Union, Moby-Dick, WordNet; downstream test splits excluded) or a .txt / .jsonl file or folder. */
    corpus: string;
    format: 'auto' | 'txt' | 'jsonl';
    /** JSONL field holding the text. */
    field: string;
    seqLen: number;
    /** For user corpora: share of documents held out for evaluation. */
    heldOutFraction: number;
  };
  objective: {
    kind: 'mlm' | 'clm';
    maskProb: number;
    /**
     * Skill models: rows of the skill table the objective activates, one drawn at random per step
     * (SkillNet's sparsely activated pretraining: every skill combination the tasks will use is
     * pretrained). Empty: the objective's own row.
     */
    skillRows: string[];
  };
  train: {
    steps: number;
    batchSize: number;
    lr: number;
    warmupSteps: number;
    schedule: 'constant' | 'linear' | 'cosine';
    minLrRatio: number;
    weightDecay: number;
    clipNorm: number;
    seed: number;
    logEvery: number;
    evalEvery: number;
    evalBatches: number;
    checkpointEvery: number;
    keepCheckpoints: number;
  };
  /** Output folder: checkpoints/, model/, metrics.jsonl. */
  out: string;
}

const { vocabSize: _v, maxPositions: _p, ...MODEL } = DEFAULT_ENCODER;

export const DEFAULT_PRETRAIN: PretrainConfig = {
  init: null,
  model: { ...MODEL, sparse: { switch: null, skills: null } },
  tokenizer: { vocabSize: DEFAULT_ENCODER.vocabSize, path: null },
  data: { corpus: 'builtin', format: 'auto', field: 'text', seqLen: DEFAULT_ENCODER.maxPositions, heldOutFraction: 0.02 },
  objective: { kind: 'mlm', maskProb: 0.15, skillRows: [] },
  train: {
    steps: 3000, batchSize: 32, lr: 5e-4, warmupSteps: 300, schedule: 'cosine', minLrRatio: 0.1, weightDecay: 0.01,
    clipNorm: 1.0, seed: 0, logEvery: 10, evalEvery: 250, evalBatches: 16, checkpointEvery: 250, keepCheckpoints: 2,
  },
  out: 'runs/pretrain',
};

/** Byte-level BPE needs the 256 byte symbols plus the five special tokens. */
const MIN_VOCAB = 256 + 5;
const MAX_VOCAB = 1 << 20;

export function encoderConfigOf(c: PretrainConfig, vocabSize: number): EncoderConfig {
  const { sparse: _s, ...model } = c.model;
  return { ...model, vocabSize, maxPositions: c.data.seqLen };
}

/**
 * model.sparse: "switch" is merged over the Switch defaults (so {"experts": 8} is enough);
 * "skills" is free-form (skill and task names are the user's) and checked by validateSparseConfig.
 */
export function mergeSparse(user: unknown, source: string): SparseConfig {
  if (user === undefined) return { switch: null, skills: null };
  if (typeof user !== 'object' || user === null || Array.isArray(user)) throw new ConfigError(`${source}: "model.sparse" must be an object`);
  const u = user as Record<string, unknown>;
  for (const k of Object.keys(u)) if (k !== 'switch' && k !== 'skills') throw new ConfigError(`${source}: unknown key "model.sparse.${k}" (expected "switch" or "skills")`);
  const sw = u.switch === undefined || u.switch === null ? null : mergeConfig(DEFAULT_SPARSE_SWITCH, u.switch, source, 'model.sparse.switch');
  let skills: SparseConfig['skills'] = null;
  if (u.skills !== undefined && u.skills !== null) {
    const k = u.skills as Record<string, unknown>;
    for (const key of Object.keys(k)) {
      if (!['skills', 'generic', 'table', 'layers'].includes(key)) throw new ConfigError(`${source}: unknown key "model.sparse.skills.${key}"`);
    }
    if (!Array.isArray(k.skills) || !k.skills.every((x) => typeof x === 'string')) throw new ConfigError(`${source}: "model.sparse.skills.skills" must be a list of names`);
    if (typeof k.table !== 'object' || k.table === null) throw new ConfigError(`${source}: "model.sparse.skills.table" must map tasks to skill lists`);
    skills = { skills: k.skills as string[], generic: (k.generic as string | null | undefined) ?? null, table: k.table as Record<string, string[]>, layers: (k.layers as 'all' | number[] | undefined) ?? 'all' };
  }
  return { switch: sw, skills };
}

/** Semantic checks beyond types; messages name the field. */
export function validatePretrainConfig(c: PretrainConfig, source: string): void {
  const fail = (m: string): never => {
    throw new ConfigError(`${source}: ${m}`);
  };
  const int = (v: number, key: string, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (!Number.isInteger(v) || v < min || v > max) fail(`${key} must be an integer in [${min}, ${max}], got ${v}`);
  };
  if (c.tokenizer.path === null) int(c.tokenizer.vocabSize, 'tokenizer.vocabSize', MIN_VOCAB, MAX_VOCAB);
  int(c.data.seqLen, 'data.seqLen', 8, 8192);
  if (!['auto', 'txt', 'jsonl'].includes(c.data.format)) fail(`data.format must be auto, txt or jsonl, got ${c.data.format}`);
  if (!(c.data.heldOutFraction > 0 && c.data.heldOutFraction < 0.5)) fail(`data.heldOutFraction must be in (0, 0.5), got ${c.data.heldOutFraction}`);
  if (c.objective.kind !== 'mlm' && c.objective.kind !== 'clm') fail(`objective.kind must be "mlm" or "clm", got ${c.objective.kind}`);
  if (!(c.objective.maskProb > 0 && c.objective.maskProb < 1)) fail(`objective.maskProb must be in (0, 1), got ${c.objective.maskProb}`);
  const t = c.train;
  int(t.steps, 'train.steps', 1);
  int(t.batchSize, 'train.batchSize', 1, 1 << 16);
  int(t.warmupSteps, 'train.warmupSteps', 0, t.steps);
  int(t.seed, 'train.seed', 0, 2 ** 32 - 1);
  for (const k of ['logEvery', 'evalEvery', 'evalBatches', 'checkpointEvery', 'keepCheckpoints'] as const) int(t[k], `train.${k}`, 1);
  if (!(t.lr > 0 && t.lr < 1)) fail(`train.lr must be in (0, 1), got ${t.lr}`);
  if (!['constant', 'linear', 'cosine'].includes(t.schedule)) fail(`train.schedule must be constant, linear or cosine, got ${t.schedule}`);
  if (!(t.minLrRatio >= 0 && t.minLrRatio <= 1)) fail(`train.minLrRatio must be in [0, 1], got ${t.minLrRatio}`);
  if (!(t.weightDecay >= 0)) fail(`train.weightDecay must be >= 0, got ${t.weightDecay}`);
  if (!(t.clipNorm > 0)) fail(`train.clipNorm must be > 0, got ${t.clipNorm}`);
  if (!c.out) fail('out must name a folder');
  try {
    validateEncoderConfig(encoderConfigOf(c, c.tokenizer.path === null ? c.tokenizer.vocabSize : MIN_VOCAB));
    validateSparseConfig(c.model.sparse, c.model.layers);
    const rows = c.objective.skillRows;
    if (!Array.isArray(rows) || !rows.every((r) => typeof r === 'string')) fail('objective.skillRows must be a list of skill-table rows');
    if (c.model.sparse.skills) {
      const t = c.model.sparse.skills.table;
      for (const r of rows) if (!t[r]) fail(`objective.skillRows: "${r}" is not a row of model.sparse.skills.table (rows: ${Object.keys(t).join(', ')})`);
      if (rows.length === 0 && !t[c.objective.kind]) fail(`model.sparse.skills.table needs a row for the pretraining objective "${c.objective.kind}" (or list rows in objective.skillRows)`);
    } else if (rows.length) fail('objective.skillRows needs a skill model (model.sparse.skills)');
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    fail((e as Error).message);
  }
}

/** mergeConfig, with model.sparse handled by mergeSparse. */
function mergeWithSparse(base: PretrainConfig, user: unknown, source: string): PretrainConfig {
  // biome-ignore lint/suspicious/noExplicitAny: the user's JSON, whose fields are checked one by one below and by mergeConfig
  const u = (typeof user === 'object' && user !== null ? { ...(user as Record<string, unknown>) } : user) as Record<string, any>;
  let sparse = base.model.sparse;
  if (u && typeof u.model === 'object' && u.model !== null && 'sparse' in u.model) {
    const { sparse: us, ...rest } = u.model;
    const merged = mergeSparse(us, source);
    sparse = { switch: merged.switch ?? (us && 'switch' in us ? null : sparse.switch), skills: merged.skills ?? (us && 'skills' in us ? null : sparse.skills) };
    u.model = rest;
  }
  const c = mergeConfig({ ...base, model: { ...base.model, sparse: null as unknown as SparseConfig } }, u, source);
  return { ...c, model: { ...c.model, sparse } };
}

/** Reads a config file (or none: the defaults), applies overrides, validates. */
export function loadPretrainConfig(path: string | null, overrides: Record<string, unknown>): PretrainConfig {
  let c = DEFAULT_PRETRAIN;
  if (path !== null) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      throw new ConfigError(`config file not found: ${path}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new ConfigError(`${path}: not valid JSON (${(e as Error).message})`);
    }
    c = mergeWithSparse(c, json, path);
  }
  c = mergeWithSparse(c, overrides, 'command-line flags');
  validatePretrainConfig(c, path ?? 'config');
  return c;
}
