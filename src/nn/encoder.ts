// The Pathwise Transformer encoder: embeddings (token + learned position + segment), a stack of
// encoder blocks, and a final LayerNorm for pre-LN stacks. One typed config describes it, and the
// config plus named parameters is a checkpoint (config.json + model.safetensors).

import { Tensor, add, dropout, embedding, type Rng } from '../engine/index.js';
import { Module } from './module.js';
import { LayerNorm } from './layer_norm.js';
import { EncoderBlock } from './encoder_block.js';
import { truncNormal } from './init.js';
import type { FfnLike, RouteContext } from './ffn.js';
import type { EmbeddingLowRank } from './embedding_lora.js';
import { validateEncoderConfig, type EncoderConfig } from './encoder_config.js';

// The config (type, defaults, bounds) is declared once, as a schema, in encoder_config.ts.
export { DEFAULT_ENCODER, encoderConfigSchema, validateEncoderConfig, type EncoderConfig } from './encoder_config.js';

/** Token + position + segment embeddings (then LayerNorm for post-LN stacks, as in BERT). */
export class Embeddings extends Module {
  readonly word: Tensor;
  readonly position: Tensor;
  readonly type: Tensor;
  readonly norm: LayerNorm | null;

  constructor(
    readonly cfg: EncoderConfig,
    private readonly rng: Rng,
  ) {
    super();
    // Registered as sub-modules named word/position/type with a `weight`, like torch.nn.Embedding.
    this.word = this.child('word', new Table(cfg.vocabSize, cfg.dModel, rng, cfg.initStd)).weight;
    this.position = this.child('position', new Table(cfg.maxPositions, cfg.dModel, rng, cfg.initStd)).weight;
    this.type = this.child('type', new Table(cfg.typeVocabSize, cfg.dModel, rng, cfg.initStd)).weight;
    this.norm = cfg.normPlacement === 'post' ? this.child('norm', new LayerNorm(cfg.dModel, cfg.layerNormEps)) : null;
  }

  /** ids, typeIds: int32 [B, T] -> [B, T, D]; `update`, a path's low-rank update of the word table (nn/embedding_lora.ts). */
  forward(ids: Tensor, typeIds: Tensor | null, update?: EmbeddingLowRank | null): Tensor {
    const T = ids.shape[1];
    if (T > this.cfg.maxPositions) throw new RangeError(`sequence length ${T} exceeds maxPositions ${this.cfg.maxPositions}`);
    let x = embedding(ids, this.word);
    if (update) x = add(x, update.forward(ids));
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
  if (!r)
    rangeCache.set(
      T,
      (r = new Tensor(
        Int32Array.from({ length: T }, (_, i) => i),
        [T],
      )),
    );
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
  constructor(
    readonly cfg: EncoderConfig,
    rng: Rng,
    ffnFor?: (layer: number) => FfnLike | null,
  ) {
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
