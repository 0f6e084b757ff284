// An image given inline in a JSONL row: `pixels`, one flat array of height × width × channels
// integers in 0-255, row-major with the channels last (the layout of ImageInput), so a 28×28 grey
// image is 784 numbers and a 32×32 RGB one 3,072 (R, G, B of the top-left pixel first).

import { describeJson } from '../../util/jsonl.js';
import type { ImageShape } from '../task.js';

/** "28×28×1" (height × width × channels), as messages write a shape. */
export function shapeText(shape: ImageShape): string {
  return `${shape.height}×${shape.width}×${shape.channels}`;
}

/**
 * The bytes of a row's pixel array. Anything but an array of exactly height × width × channels
 * integers in 0-255 calls `fail` with what is wrong (the count expected and got, or the first
 * bad element and its index), which must throw.
 */
export function pixelsOf(value: unknown, shape: ImageShape, fail: (what: string) => never, field = 'pixels'): Uint8Array {
  const n = shape.width * shape.height * shape.channels;
  if (!Array.isArray(value)) {
    return fail(`field "${field}" is ${describeJson(value)}, not an array of ${n} integers in 0-255 (${shapeText(shape)}: height × width × channels)`);
  }
  if (value.length !== n) {
    const nested = value.length > 0 && Array.isArray(value[0]) ? '; give the pixels as one flat array, row-major, channels last' : '';
    fail(`field "${field}": expected ${n} values (${shapeText(shape)}: height × width × channels), got ${value.length}${nested}`);
  }
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v: unknown = value[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) {
      fail(`field "${field}": element ${i} is ${typeof v === 'number' ? String(v) : describeJson(v)}, not an integer in 0-255`);
    }
    out[i] = v as number;
  }
  return out;
}
