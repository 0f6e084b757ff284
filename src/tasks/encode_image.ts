// Images -> the image stem's input (nn/image_stem.ts): each image cut into patches, one row per
// token, row 0 left zero for [CLS]; values scaled from 0..255 to -1..1. A batch of images has no
// padding: every image of a task has its shape, so every row of `keep` is all ones, and `ids` and
// `typeIds` are zeros that nothing reads (they keep Batch one type for both modalities).
//
// Training-time augmentation, drawn from the given Rng: each image is shifted by up to `shift`
// pixels in each direction (what moves in is background: 0), a random crop of the zero-padded
// image in ViT terms; and, only where the task allows it (`flips`), mirrored left-right with
// probability 1/2. Evaluation and prediction never augment.

import { Tensor, type Rng } from '../engine/index.js';
import { inputRows, inputSize, patchGrid, type InputPatching } from '../nn/index.js';
import type { Batch } from './encode.js';
import type { Example, ImageInput } from './task.js';

/** What to cut (nn/image_stem.ts stemInput): the patches, or a convolutional stem's neighbourhoods. */
export type Patching = InputPatching;

export interface Augment {
  rng: Rng;
  /** Largest shift in pixels, each axis. */
  shift: number;
  flips: boolean;
}

/** Pixels a training image may be shifted by, each axis: an eighth of its smaller side, at least 1. */
export function defaultShift(p: Pick<Patching, 'width' | 'height'>): number {
  return Math.max(1, Math.floor(Math.min(p.width, p.height) / 8));
}

/** Checks an image against the task's shape; the error names the example. */
export function checkImage(img: ImageInput | undefined, p: Patching, what: string): ImageInput {
  if (!img) throw new RangeError(`${what}: no image (an image task's examples carry \`image\`)`);
  if (img.width !== p.width || img.height !== p.height || img.channels !== p.channels) {
    throw new RangeError(`${what}: the image is ${img.width}×${img.height}×${img.channels}, the task's images are ${p.width}×${p.height}×${p.channels}`);
  }
  if (img.pixels.length !== p.width * p.height * p.channels) {
    throw new RangeError(`${what}: ${img.pixels.length} pixel values for a ${p.width}×${p.height}×${p.channels} image`);
  }
  return img;
}

/**
 * Writes one image's rows into out (1 + P rows of patch·patch·C, starting at `at`): row 0 zero,
 * then the patches in row-major grid order, each patch's values in (y, x, channel) order. The
 * image is read padded by `pad` with background, shifted by (dx, dy) and, with `flip`, mirrored.
 */
export function patchify(img: ImageInput, p: Patching, out: Float32Array, at: number, dx = 0, dy = 0, flip = false): void {
  const { cols, rows } = patchGrid(p);
  const { width: W, height: H, channels: C, patch: S, stride, pad } = p;
  const size = inputSize(p);
  const px = img.pixels;
  out.fill(0, at, at + size); // [CLS]
  let o = at + size;
  for (let gy = 0; gy < rows; gy++) {
    for (let gx = 0; gx < cols; gx++) {
      for (let y = 0; y < S; y++) {
        const sy = gy * stride + y - pad - dy;
        for (let x = 0; x < S; x++) {
          let sx = gx * stride + x - pad - dx;
          if (flip) sx = W - 1 - sx;
          if (sy < 0 || sy >= H || sx < 0 || sx >= W) {
            // background: the value 0 scales to -1
            for (let c = 0; c < C; c++) out[o++] = -1;
            continue;
          }
          const base = (sy * W + sx) * C;
          for (let c = 0; c < C; c++) out[o++] = px[base + c] / 127.5 - 1;
        }
      }
    }
  }
}

/** A batch of images for the stem: patches [B, 1 + P, patch·patch·C], an all-ones mask over the
 *  stem's `tokens` (its output length; with a convolutional stem not the input's rows), no targets. */
export function encodeImages(examples: readonly Example[], p: Patching, tokens: number, augment: Augment | null = null): Batch & { patches: Tensor } {
  const B = examples.length;
  const T = inputRows(p);
  const size = inputSize(p);
  const out = new Float32Array(B * T * size);
  examples.forEach((ex, b) => {
    const img = checkImage(ex.image, p, `image ${b} of the batch`);
    let dx = 0;
    let dy = 0;
    let flip = false;
    if (augment) {
      const s = augment.shift;
      dx = augment.rng.int(2 * s + 1) - s;
      dy = augment.rng.int(2 * s + 1) - s;
      flip = augment.flips && augment.rng.uniform() < 0.5;
    }
    patchify(img, p, out, b * T * size, dx, dy, flip);
  });
  return {
    ids: new Tensor(new Int32Array(B * tokens), [B, tokens]),
    typeIds: new Tensor(new Int32Array(B * tokens), [B, tokens]),
    keep: new Tensor(new Int32Array(B * tokens).fill(1), [B, tokens]),
    targets: null,
    rows: null,
    wordsScored: null,
    patches: new Tensor(out, [B, T, size]),
  };
}
