// The image stem (ViT): an image becomes a sequence the encoder blocks read like text.
//
//   image [H, W, C] -> patches of patch × patch pixels, `stride` apart (stride = patch: ViT's
//   non-overlapping patches; stride < patch: overlapping ones, a one-layer convolutional stem)
//   -> one linear projection -> + a learned position per token
//
// With `conv` the patches are cut from a feature map instead of the pixels: a kernel × kernel
// convolution (stride 1, the image padded with background, pixel value 0, to keep its size) and GELU first, a two-layer
// convolutional stem (Xiao et al. 2021, "Early convolutions help transformers see better"). The
// data side then cuts the convolution's neighbourhoods (one row per pixel); the stem cuts the
// patches from its feature map with a row gather (engine gatherRows), so the patch projection is
// the same Linear, over `channels` features a pixel instead of the image's channels.
//
// The default patches overlap (defaultPatching says why). Token 0 is the [CLS] token. Its input "patch" is all zeros, so the projection maps it to the
// bias, and its learned position makes it a free learned vector: ViT's prepended class token,
// without a concatenation in the graph. Patches are cut on the data side (tasks/encode_image.ts),
// where training-time shifts and flips are applied; the stem sees [B, 1 + P, patch·patch·C].

import { Tensor, activation, add, concat, dropout, gatherRows, reshape, type Rng } from '../engine/index.js';
import { Module } from './module.js';
import { Linear } from './linear.js';
import { truncNormal } from './init.js';

export interface ImageStemConfig {
  width: number;
  height: number;
  channels: number;
  /** Side of a square patch, in pixels. */
  patch: number;
  /** Pixels between the starts of neighbouring patches (= patch: no overlap). */
  stride: number;
  dModel: number;
  initStd: number;
  dropout: number;
  /** A convolution (and GELU) in front of the patches; absent: none (the one-layer stem). */
  conv?: StemConv;
}

/** The first layer of a two-layer convolutional stem: kernel × kernel, stride 1, size-keeping background padding. */
export interface StemConv {
  /** Side of the square kernel, odd. */
  kernel: number;
  /** Features per pixel of the map the patches are cut from. */
  channels: number;
}

/** What the data side cuts from an image for a stem: patch × patch neighbourhoods, `stride` apart,
 *  the image padded by `pad` on every side with background (pixel value 0, -1 once scaled). */
export interface InputPatching {
  width: number;
  height: number;
  channels: number;
  patch: number;
  stride: number;
  pad: number;
}

/** The stem's input rows: the patches themselves, or with `conv` the convolution's neighbourhoods
 *  (one per pixel). Either way row 0 of an image is left zero for [CLS]. */
export function stemInput(c: ImageStemConfig): InputPatching {
  const { width, height, channels } = c;
  if (!c.conv) return { width, height, channels, patch: c.patch, stride: c.stride, pad: 0 };
  return { width, height, channels, patch: c.conv.kernel, stride: 1, pad: (c.conv.kernel - 1) / 2 };
}

/** Values per row of stem input: one patch × patch neighbourhood of the image's channels. */
export function inputSize(p: InputPatching): number {
  return p.patch * p.patch * p.channels;
}

/** Rows of stem input per image: [CLS] and the input grid. */
export function inputRows(p: InputPatching): number {
  const g = patchGrid(p);
  return 1 + g.cols * g.rows;
}

/** Patches per row and per column (of the image padded by `pad`, if given). */
export function patchGrid(c: Pick<ImageStemConfig, 'width' | 'height' | 'patch' | 'stride'> & { pad?: number }): { cols: number; rows: number } {
  const pad = c.pad ?? 0;
  return { cols: Math.floor((c.width + 2 * pad - c.patch) / c.stride) + 1, rows: Math.floor((c.height + 2 * pad - c.patch) / c.stride) + 1 };
}

/** Tokens the stem emits per image: [CLS] and the patches. */
export function stemTokens(c: Pick<ImageStemConfig, 'width' | 'height' | 'patch' | 'stride'>): number {
  const g = patchGrid(c);
  return 1 + g.cols * g.rows;
}

/** Values per patch (of the image, or of the feature map with `conv`). */
export function patchSize(c: Pick<ImageStemConfig, 'patch' | 'channels' | 'conv'>): number {
  return c.patch * c.patch * (c.conv ? c.conv.channels : c.channels);
}

/**
 * The default patching for an image shape: overlapping square patches (a one-layer convolutional
 * stem), `stride` apart with patch = 2 × stride + 1, the stride the smallest that keeps the grid
 * within about 64 patches, so that the blocks' cost per image stays that of a short sentence
 * (28 × 28: 7-pixel patches 3 apart, 8 × 8 of them). Overlap measured better than ViT's
 * non-overlapping patches at MNIST's size: `digits` alone, 500 steps of 32 at lr 1e-3 from the
 * pretrained base, dev accuracy 86.2% with 7/3 patches against 71.1% with 4/4 ones.
 */
export function defaultPatching(width: number, height: number): { patch: number; stride: number } {
  const stride = Math.max(1, Math.floor(Math.sqrt((width * height) / 64)));
  return { patch: Math.max(1, Math.min(2 * stride + 1, width, height)), stride };
}

export function checkImageStemConfig(c: ImageStemConfig, where = 'image stem'): void {
  for (const k of ['width', 'height', 'channels', 'patch', 'stride', 'dModel'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new RangeError(`${where}: ${k} must be an integer >= 1, got ${c[k]}`);
  }
  if (c.patch > c.width || c.patch > c.height) throw new RangeError(`${where}: patch ${c.patch} is larger than the ${c.width}×${c.height} image`);
  if (![1, 3, 4].includes(c.channels)) throw new RangeError(`${where}: channels must be 1, 3 or 4, got ${c.channels}`);
  if (c.conv) {
    const { kernel, channels } = c.conv;
    if (!Number.isInteger(kernel) || kernel < 1 || kernel % 2 === 0 || kernel > Math.min(c.width, c.height))
      throw new RangeError(`${where}: conv.kernel must be an odd integer from 1 to the image's smaller side, got ${kernel}`);
    if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`${where}: conv.channels must be an integer >= 1, got ${channels}`);
  }
}

export class ImageStem extends Module {
  /** The first convolution, over (y, x, channel)-ordered neighbourhoods; null without `conv`. */
  readonly conv: Linear | null;
  readonly proj: Linear;
  readonly position: Tensor;
  readonly tokens: number;
  /** The data side's cutting (tasks/encode_image.ts). */
  readonly input: InputPatching;
  /** With `conv`: per batch size, each patch value's row in the feature map (the zero row for [CLS]). */
  private readonly gathers = new Map<number, Tensor>();

  constructor(
    readonly cfg: ImageStemConfig,
    private readonly rng: Rng,
  ) {
    super();
    checkImageStemConfig(cfg);
    this.tokens = stemTokens(cfg);
    this.input = stemInput(cfg);
    this.conv = cfg.conv ? this.child('conv', new Linear(inputSize(this.input), cfg.conv.channels, rng, { std: cfg.initStd })) : null;
    this.proj = this.child('proj', new Linear(patchSize(cfg), cfg.dModel, rng, { std: cfg.initStd }));
    this.position = this.param('position', truncNormal([this.tokens, cfg.dModel], rng, cfg.initStd));
  }

  /** input [B, rows, values] as stemInput cuts it (row 0 of each image zeros: [CLS]) -> [B, 1 + P, D]. */
  forward(input: Tensor): Tensor {
    const rows = inputRows(this.input);
    const values = inputSize(this.input);
    if (input.ndim !== 3 || input.shape[1] !== rows || input.shape[2] !== values) {
      throw new RangeError(`image stem: its input must be [B, ${rows}, ${values}], got [${input.shape.join(', ')}]`);
    }
    const patches = this.conv ? this.patchesOfFeatures(activation(this.conv.forward(input), 'gelu')) : input;
    const x = add(this.proj.forward(patches), this.position); // [T, D] broadcast over the batch
    return dropout(x, this.cfg.dropout, this.rng, this.training);
  }

  /** features [B, 1 + H·W, F] (row 0 unused) -> patches [B, 1 + P, patch·patch·F], [CLS]'s zero. */
  private patchesOfFeatures(features: Tensor): Tensor {
    const [B, rows, F] = features.shape;
    // One zero row after the batch's rows: where [CLS]'s values are read from.
    const flat = concat([reshape(features, [B * rows, F]), new Tensor(new Float32Array(F), [1, F])], 0);
    return reshape(gatherRows(flat, this.gatherIndex(B, rows)), [B, this.tokens, patchSize(this.cfg)]);
  }

  private gatherIndex(B: number, rows: number): Tensor {
    let idx = this.gathers.get(B);
    if (idx) return idx;
    const { width: W, patch: S, stride } = this.cfg;
    const { cols, rows: gridRows } = patchGrid(this.cfg);
    const per = S * S;
    const out = new Int32Array(B * this.tokens * per);
    const zero = B * rows;
    let o = 0;
    for (let b = 0; b < B; b++) {
      out.fill(zero, o, o + per); // [CLS]
      o += per;
      for (let gy = 0; gy < gridRows; gy++)
        for (let gx = 0; gx < cols; gx++)
          for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) out[o++] = b * rows + 1 + (gy * stride + y) * W + gx * stride + x;
    }
    idx = new Tensor(out, [B, this.tokens, per]);
    // Batch sizes seen are few (training, evaluation, the last partial batch); keep them bounded anyway.
    if (this.gathers.size >= 8) this.gathers.clear();
    this.gathers.set(B, idx);
    return idx;
  }

  /** Draws for training-time augmentation come from the stem's own Rng (like its dropout). */
  augmentRng(): Rng {
    return this.rng;
  }
}
