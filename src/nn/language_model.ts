// The pretraining model: the encoder plus BERT's tied LM head. Checkpoint names are flat
// ("embeddings.word.weight", "layers.0.attn.qkv.weight", "lm_head.bias"), so an encoder-only
// consumer (fine-tuning) reads the same file and ignores lm_head.*.

import { Tensor, crossEntropy, gatherRows, reshape, type Rng } from '../engine/index.js';
import { Module } from './module.js';
import { TransformerEncoder, type EncoderConfig } from './encoder.js';
import { LmHead } from './lm_head.js';
import type { FfnLike, RouteContext } from './ffn.js';

export class LanguageModel extends Module {
  readonly encoder: TransformerEncoder;
  readonly lmHead: LmHead;

  constructor(
    readonly cfg: EncoderConfig,
    rng: Rng,
    ffnFor?: (layer: number) => FfnLike | null,
  ) {
    super();
    this.encoder = this.child('', new TransformerEncoder(cfg, rng, ffnFor));
    this.lmHead = this.child('lm_head', new LmHead(cfg.dModel, cfg.vocabSize, cfg.layerNormEps, cfg.initStd, rng));
  }

  /** Logits [N, V] for the flat positions `rows` (b*T + t) of the hidden states. */
  logitsAt(hidden: Tensor, rows: Tensor): Tensor {
    const [B, T, D] = hidden.shape;
    return this.lmHead.forward(gatherRows(reshape(hidden, [B * T, D]), rows), this.encoder.embeddings.word);
  }

  /**
   * Masked LM: ids [B, T] already masked; `positions` int32 flat indices of the masked tokens,
   * `targets` their original ids. Only masked positions go through the head.
   */
  mlmLoss(ids: Tensor, positions: Tensor, targets: Tensor, typeIds: Tensor | null = null, mask: Tensor | null = null, route?: RouteContext): Tensor {
    const h = this.encoder.forward(ids, typeIds, mask, false, route);
    return crossEntropy(this.logitsAt(h, positions), targets);
  }

  /** Causal LM: every position predicts the next token; targets equal to ignoreIndex are skipped. */
  clmLoss(ids: Tensor, mask: Tensor | null = null, ignoreIndex = -100, padId = -1, route?: RouteContext): Tensor {
    const [B, T] = ids.shape;
    const h = this.encoder.forward(ids, null, mask, true, route);
    const rows = new Int32Array(B * (T - 1));
    const targets = new Int32Array(B * (T - 1));
    for (let b = 0, k = 0; b < B; b++) {
      for (let t = 0; t < T - 1; t++, k++) {
        rows[k] = b * T + t;
        const next = ids.data[b * T + t + 1];
        targets[k] = next === padId ? ignoreIndex : next;
      }
    }
    return crossEntropy(this.logitsAt(h, new Tensor(rows, [rows.length])), new Tensor(targets, [targets.length]), { ignoreIndex });
  }
}
