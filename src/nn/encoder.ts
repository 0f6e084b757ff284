// The Pathwise Transformer encoder: embeddings (token + learned position + segment), a stack of
// encoder blocks, and a final LayerNorm for pre-LN stacks. One typed config describes it, and the
// config plus named parameters is a checkpoint (config.json + model.safetensors).

import { Tensor, add, dropout, embedding, type Rng } from '../engine/index.js';
import { Module } from './module.js';
import { LayerNorm } from './layer_norm.js';
import { EncoderBlock, type NormPlacement } from './encoder_block.js';
import { truncNormal } from './init.js';
import type { Activation, FfnLike, RouteContext } from './ffn.js';

export interface EncoderConfig {
  vocabSize: number;
  /** Longest sequence the position table covers. */
  maxPositions: number;
  /** Segment ids (0 / 1 for sentence pairs). */
  typeVocabSize: number;
  dModel: number;
  layers: number;
  heads: number;
  ffn: number;
  activation: Activation;
  dropout: number;
  attentionDropout: number;
  layerNormEps: number;
  /** Std of the truncated-normal initialiser (BERT's initializer_range). */
  initStd: number;
  normPlacement: NormPlacement;
}

export const DEFAULT_ENCODER: EncoderConfig = {
  vocabSize: 16384,
  maxPositions: 128,
  typeVocabSize: 2,
  dModel: 256,
  layers: 4,
  heads: 4,
  ffn: 1024,
  activation: 'gelu',
  dropout: 0.1,
  attentionDropout: 0.1,
  layerNormEps: 1e-5,
  initStd: 0.02,
  normPlacement: 'pre',
};

/** Checks a config for shapes that cannot work; the message names the field. */
export function validateEncoderConfig(c: EncoderConfig, where = 'model'): void {
  const int = (k: keyof EncoderConfig, min: number, max = 1 << 24) => {
    const v = c[k] as number;
    if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${where}.${k} must be an integer in [${min}, ${max}], got ${v}`);
  };
  int('vocabSize', 8, 1 << 21);
  int('maxPositions', 2, 1 << 16);
  int('typeVocabSize', 1, 64);
  int('dModel', 1, 1 << 15);
  int('layers', 0, 256);
  int('heads', 1, 1024);
  int('ffn', 1, 1 << 17);
  if (c.dModel % c.heads !== 0) throw new RangeError(`${where}.dModel (${c.dModel}) must be divisible by ${where}.heads (${c.heads})`);
  for (const k of ['dropout', 'attentionDropout'] as const) {
    if (!(c[k] >= 0 && c[k] < 1)) throw new RangeError(`${where}.${k} must be in [0, 1), got ${c[k]}`);
  }
  if (!(c.layerNormEps > 0)) throw new RangeError(`${where}.layerNormEps must be > 0, got ${c.layerNormEps}`);
  if (!(c.initStd > 0)) throw new RangeError(`${where}.initStd must be > 0, got ${c.initStd}`);
  if (!['gelu', 'gelu_tanh', 'relu'].includes(c.activation)) throw new RangeError(`${where}.activation must be gelu, gelu_tanh or relu, got ${c.activation}`);
  if (c.normPlacement !== 'pre' && c.normPlacement !== 'post') throw new RangeError(`${where}.normPlacement must be "pre" or "post", got ${c.normPlacement}`);
}

/** Token + position + segment embeddings (then LayerNorm for post-LN stacks, as in BERT). */
export class Embeddings extends Module {
  readonly word: Tensor;
  readonly position: Tensor;
  readonly type: Tensor;
  readonly norm: LayerNorm | null;

  constructor(readonly cfg: EncoderConfig, private readonly rng: Rng) {
    super();
    // Registered as sub-modules named word/position/type with a `weight`, like torch.nn.Embedding.
    this.word = this.child('word', new Table(cfg.vocabSize, cfg.dModel, rng, cfg.initStd)).weight;
    this.position = this.child('position', new Table(cfg.maxPositions, cfg.dModel, rng, cfg.initStd)).weight;
    this.type = this.child('type', new Table(cfg.typeVocabSize, cfg.dModel, rng, cfg.initStd)).weight;
    this.norm = cfg.normPlacement === 'post' ? this.child('norm', new LayerNorm(cfg.dModel, cfg.layerNormEps)) : null;
  }

  /** ids, typeIds: int32 [B, T] -> [B, T, D]. */
  forward(ids: Tensor, typeIds: Tensor | null): Tensor {
    const T = ids.shape[1];
    if (T > this.cfg.maxPositions) throw new RangeError(`sequence length ${T} exceeds maxPositions ${this.cfg.maxPositions}`);
    let x = embedding(ids, this.word);
    x = add(x, positionsOf(this.position, T)); // [T, D] broadcast over the batch
    x = add(x, embedding(typeIds ?? zerosLike(ids), this.type));
    if (this.norm) x = this.norm.forward(x);
    return dropout(x, this.cfg.dropout, this.rng, this.training);
  }
}

/** An embedding table module (one `weight` parameter). */
class Table extends Module {
  readonly weight: Tensor;
  constructor(rows: number, dim: number, rng: Rng, std: number) {
    super();
    this.weight = this.param('weight', truncNormal([rows, dim], rng, std));
  }
}

const rangeCache = new Map<number, Tensor>();
/** The first T rows of the position table, differentiable (a gather of 0..T-1). */
function positionsOf(table: Tensor, T: number): Tensor {
  let r = rangeCache.get(T);
  if (!r) rangeCache.set(T, (r = new Tensor(Int32Array.from({ length: T }, (_, i) => i), [T])));
  return embedding(r, table);
}

function zerosLike(ids: Tensor): Tensor {
  return new Tensor(new Int32Array(ids.size), ids.shape);
}

/** Embeddings, N blocks, and (pre-LN) a final LayerNorm: ids -> hidden states [B, T, D]. */
export class TransformerEncoder extends Module {
  readonly embeddings: Embeddings;
  readonly layers: EncoderBlock[];
  readonly finalNorm: LayerNorm | null;

  /** `ffnFor(i)` may supply layer i's FFN (a sparse layer); null keeps the dense FFN. */
  constructor(readonly cfg: EncoderConfig, rng: Rng, ffnFor?: (layer: number) => FfnLike | null) {
    super();
    validateEncoderConfig(cfg);
    this.embeddings = this.child('embeddings', new Embeddings(cfg, rng));
    this.layers = Array.from({ length: cfg.layers }, (_, i) => this.child(`layers.${i}`, new EncoderBlock(cfg, rng, ffnFor?.(i) ?? undefined)));
    this.finalNorm = cfg.normPlacement === 'pre' ? this.child('final_norm', new LayerNorm(cfg.dModel, cfg.layerNormEps)) : null;
  }

  /**
   * ids [B, T] int32; typeIds [B, T] or null (all segment 0); mask: an additive attention mask
   * (from paddingMask) or null; causal for left-to-right language modelling; route: the active
   * skills of sparse layers.
   */
  forward(ids: Tensor, typeIds: Tensor | null = null, mask: Tensor | null = null, causal = false, route?: RouteContext): Tensor {
    let x = this.embeddings.forward(ids, typeIds);
    for (const block of this.layers) x = block.forward(x, mask, causal, route);
    return this.finalNorm ? this.finalNorm.forward(x) : x;
  }
}
