// The image stem (ViT): an image becomes a sequence the encoder blocks read like text.
//
//   image [H, W, C] -> patches of patch × patch pixels, `stride` apart (stride = patch: ViT's
//   non-overlapping patches; stride < patch: overlapping ones, a one-layer convolutional stem)
//   -> one linear projection -> + a learned position per token
//
// With `conv` the patches are cut from a feature map instead of the pixels: a stack of k × k
// convolutions, each followed by GELU and padded to keep its map's size up to its stride (the image
// padded with background, pixel value 0; the feature maps with zeros), a convolutional stem (Xiao
// et al. 2021, "Early convolutions help transformers see better"). The data side cuts the first
// convolution's neighbourhoods (one row per output pixel); the stem cuts every later layer's
// neighbourhoods and the patches from the map before it with a row gather (engine gatherRows), so
// each layer, and the patch projection, is a Linear over a neighbourhood's values.
//
// Plain patches overlap by default (defaultPatching says why); new tasks get convolutions first (defaultStem). Token 0 is the [CLS] token. Its input "patch" is all zeros, so the projection maps it to the
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
  /** Convolutions (each followed by GELU) in front of the patches, in order; absent: none (the one-layer stem). */
  conv?: StemConv[];
}

/** One layer of a convolutional stem: kernel × kernel, `stride` apart, padded by (kernel - 1) / 2. */
export interface StemConv {
  /** Side of the square kernel, odd. */
  kernel: number;
  /** Features per pixel of the map it makes. */
  channels: number;
  /** Pixels between neighbouring outputs; absent: 1 (the map keeps its size). */
  stride?: number;
}

/** A feature map's shape: the image's, or a convolution's output. */
export interface FeatureMap {
  width: number;
  height: number;
  channels: number;
}

/** The maps a stem's convolutions make, in order, the image first. */
export function featureMaps(c: Pick<ImageStemConfig, 'width' | 'height' | 'channels' | 'conv'>): FeatureMap[] {
  const maps: FeatureMap[] = [{ width: c.width, height: c.height, channels: c.channels }];
  for (const l of c.conv ?? []) {
    const m = maps[maps.length - 1];
    const pad = (l.kernel - 1) / 2;
    const g = patchGrid({ width: m.width, height: m.height, patch: l.kernel, stride: l.stride ?? 1, pad });
    maps.push({ width: g.cols, height: g.rows, channels: l.channels });
  }
  return maps;
}

/** The map the patches are cut from: the last convolution's, or the image. */
export function patchedMap(c: Pick<ImageStemConfig, 'width' | 'height' | 'channels' | 'conv'>): FeatureMap {
  return featureMaps(c).at(-1)!;
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

/** The stem's input rows: the patches themselves, or with `conv` the first convolution's
 *  neighbourhoods (one per pixel of its map). Either way row 0 of an image is left zero for [CLS]. */
export function stemInput(c: ImageStemConfig): InputPatching {
  const { width, height, channels } = c;
  const first = c.conv?.[0];
  if (!first) return { width, height, channels, patch: c.patch, stride: c.stride, pad: 0 };
  return { width, height, channels, patch: first.kernel, stride: first.stride ?? 1, pad: (first.kernel - 1) / 2 };
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

/** Patches per row and per column of the map they are cut from. */
export function stemGrid(c: Pick<ImageStemConfig, 'width' | 'height' | 'channels' | 'patch' | 'stride' | 'conv'>): { cols: number; rows: number } {
  const m = patchedMap(c);
  return patchGrid({ width: m.width, height: m.height, patch: c.patch, stride: c.stride });
}

/** Tokens the stem emits per image: [CLS] and the patches. */
export function stemTokens(c: Pick<ImageStemConfig, 'width' | 'height' | 'channels' | 'patch' | 'stride' | 'conv'>): number {
  const g = stemGrid(c);
  return 1 + g.cols * g.rows;
}

/** Values per patch (of the image, or of the last feature map with `conv`). */
export function patchSize(c: Pick<ImageStemConfig, 'width' | 'height' | 'patch' | 'channels' | 'conv'>): number {
  return c.patch * c.patch * patchedMap(c).channels;
}

/** Parameters of a stem: its convolutions, the patch projection, the positions. */
export function stemParameters(c: ImageStemConfig): number {
  const linear = (i: number, o: number) => i * o + o;
  const maps = featureMaps(c);
  let n = 0;
  (c.conv ?? []).forEach((l, i) => (n += linear(l.kernel * l.kernel * maps[i].channels, l.channels)));
  return n + linear(patchSize(c), c.dModel) + stemTokens(c) * c.dModel;
}

/**
 * Plain patches for an image shape (no convolutions; what defaultStem gives images under 3 pixels
 * a side, and every image task before the convolutional stem): overlapping square patches (a one-layer convolutional
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

/**
 * The stem a new image task gets: a convolutional stem after Xiao et al. (2021). A 3 × 3
 * convolution of 32 features (stride 2 on images over 64 pixels a side, to keep the data side's
 * neighbourhoods small), then strided 3 × 3 ones, each doubling the features (at most 256),
 * until the map has at most 64 positions (or its narrow side is under 3), each position one token (`patch` 1): the
 * blocks then cost per image what a short sentence costs. A 28 × 28 digit: 32 features at
 * 28 × 28, 64 at 14 × 14, 128 at 7 × 7, 49 tokens and [CLS]. Images under 3 pixels a side get
 * plain patches. On `digits` alone this measured 97.9% on test after 8,000 steps (docs/images.md).
 */
export function defaultStem(width: number, height: number): Pick<ImageStemConfig, 'patch' | 'stride' | 'conv'> {
  if (Math.min(width, height) < 3) return defaultPatching(width, height);
  const conv: StemConv[] = [{ kernel: 3, channels: 32, ...(Math.min(width, height) > 64 ? { stride: 2 } : {}) }];
  let map = featureMaps({ width, height, channels: 1, conv }).at(-1)!;
  while (map.width * map.height > 64 && Math.min(map.width, map.height) >= 3 && conv.length < 8) {
    conv.push({ kernel: 3, channels: Math.min(256, 2 * conv[conv.length - 1].channels), stride: 2 });
    map = featureMaps({ width, height, channels: 1, conv }).at(-1)!;
  }
  return { patch: 1, stride: 1, conv };
}

export function checkImageStemConfig(c: ImageStemConfig, where = 'image stem'): void {
  for (const k of ['width', 'height', 'channels', 'patch', 'stride', 'dModel'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new RangeError(`${where}: ${k} must be an integer >= 1, got ${c[k]}`);
  }
  if (c.patch > c.width || c.patch > c.height) throw new RangeError(`${where}: patch ${c.patch} is larger than the ${c.width}×${c.height} image`);
  if (![1, 3, 4].includes(c.channels)) throw new RangeError(`${where}: channels must be 1, 3 or 4, got ${c.channels}`);
  const maps = featureMaps(c);
  (c.conv ?? []).forEach(({ kernel, channels, stride = 1 }, i) => {
    const m = maps[i];
    if (!Number.isInteger(kernel) || kernel < 1 || kernel % 2 === 0 || kernel > Math.min(m.width, m.height))
      throw new RangeError(`${where}: conv[${i}].kernel must be an odd integer from 1 to the ${m.width}×${m.height} map's smaller side, got ${kernel}`);
    if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`${where}: conv[${i}].channels must be an integer >= 1, got ${channels}`);
    if (!Number.isInteger(stride) || stride < 1) throw new RangeError(`${where}: conv[${i}].stride must be an integer >= 1, got ${stride}`);
  });
  const last = maps.at(-1)!;
  if (c.conv?.length && (c.patch > last.width || c.patch > last.height))
    throw new RangeError(`${where}: patch ${c.patch} is larger than the ${last.width}×${last.height} map the convolutions make`);
}

export class ImageStem extends Module {
  /** The convolutions, each over (y, x, channel)-ordered neighbourhoods of the map before it; empty without `conv`. */
  readonly conv: Linear[];
  readonly proj: Linear;
  readonly position: Tensor;
  readonly tokens: number;
  /** The data side's cutting (tasks/encode_image.ts). */
  readonly input: InputPatching;
  /** The image and each convolution's map (featureMaps), in order. */
  private readonly maps: FeatureMap[];
  /** With `conv`: per layer (after the first, then the patches) and batch size, each value's row in the map before it. */
  private readonly gathers = new Map<string, Tensor>();

  constructor(
    readonly cfg: ImageStemConfig,
    private readonly rng: Rng,
  ) {
    super();
    checkImageStemConfig(cfg);
    this.tokens = stemTokens(cfg);
    this.input = stemInput(cfg);
    const maps = (this.maps = featureMaps(cfg));
    // He initialization (std √(2 / fan-in)) for the convolutions: with no normalization between
    // them, the blocks' small initStd would shrink the signal by about that factor at every layer.
    this.conv = (cfg.conv ?? []).map((l, i) => {
      const fanIn = l.kernel * l.kernel * maps[i].channels;
      return this.child(`conv.${i}`, new Linear(fanIn, l.channels, rng, { std: Math.sqrt(2 / fanIn) }));
    });
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
    let patches = input;
    if (this.conv.length) {
      const maps = this.maps;
      let x = activation(this.conv[0].forward(input), 'gelu'); // [B, 1 + H1·W1, F1], row 0 unused
      for (let i = 1; i < this.conv.length; i++) {
        const { kernel, stride = 1 } = this.cfg.conv![i];
        x = activation(this.conv[i].forward(this.windows(x, `${i}`, maps[i], kernel, stride, (kernel - 1) / 2)), 'gelu');
      }
      patches = this.windows(x, 'patches', maps.at(-1)!, this.cfg.patch, this.cfg.stride, 0);
    }
    const x = add(this.proj.forward(patches), this.position); // [T, D] broadcast over the batch
    return dropout(x, this.cfg.dropout, this.rng, this.training);
  }

  /**
   * A map [B, 1 + H·W, F] (row 0 unused) -> its k × k neighbourhoods, `stride` apart, padded by
   * `pad` with zeros: [B, 1 + outputs, k·k·F], row 0 zeros ([CLS], or the next map's unused row).
   */
  private windows(features: Tensor, layer: string, map: FeatureMap, k: number, stride: number, pad: number): Tensor {
    const [B, rows, F] = features.shape;
    // One zero row after the batch's rows: what padding and row 0 read.
    const flat = concat([reshape(features, [B * rows, F]), new Tensor(new Float32Array(F), [1, F])], 0);
    const idx = this.gatherIndex(layer, B, map, k, stride, pad);
    return reshape(gatherRows(flat, idx), [B, idx.shape[1], k * k * F]);
  }

  private gatherIndex(layer: string, B: number, map: FeatureMap, k: number, stride: number, pad: number): Tensor {
    const key = `${layer}:${B}`;
    let idx = this.gathers.get(key);
    if (idx) return idx;
    const { width: W, height: H } = map;
    const { cols, rows: gridRows } = patchGrid({ width: W, height: H, patch: k, stride, pad });
    const rows = 1 + W * H;
    const per = k * k;
    const outRows = 1 + cols * gridRows;
    const out = new Int32Array(B * outRows * per);
    const zero = B * rows;
    let o = 0;
    for (let b = 0; b < B; b++) {
      out.fill(zero, o, o + per); // row 0
      o += per;
      for (let gy = 0; gy < gridRows; gy++)
        for (let gx = 0; gx < cols; gx++)
          for (let y = 0; y < k; y++)
            for (let x = 0; x < k; x++) {
              const sy = gy * stride + y - pad;
              const sx = gx * stride + x - pad;
              out[o++] = sy < 0 || sy >= H || sx < 0 || sx >= W ? zero : b * rows + 1 + sy * W + sx;
            }
    }
    idx = new Tensor(out, [B, outRows, per]);
    // Batch sizes seen are few (training, evaluation, the last partial batch); keep them bounded anyway.
    if (this.gathers.size >= 8 * (1 + this.conv.length)) this.gathers.clear();
    this.gathers.set(key, idx);
    return idx;
  }

  /** Draws for training-time augmentation come from the stem's own Rng (like its dropout). */
  augmentRng(): Rng {
    return this.rng;
  }
}
