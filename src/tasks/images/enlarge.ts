// Enlarging an image (bilinear, centre-aligned), the one resampling done here rather than by
// libvips: libvips enlarges with the corner convention, which moves the picture by about half a
// pixel down and right, and moves it even along a side whose size does not change. Here output
// pixel X samples the input at x = (X + 0.5) × in / out − 0.5 (clamped to the edge pixels), as
// PIL's and PyTorch's bilinear resizing (align_corners=False) do; a side of unchanged size is
// copied exactly. Only for sides that grow: shrinking needs a filter wider than two pixels.

import type { ImageShape } from '../task.js';

/** Where each output position samples the input: the left index and the weight of the right one. */
function taps(inSize: number, outSize: number): { lo: Int32Array; hi: Int32Array; t: Float64Array } {
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const t = new Float64Array(outSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const x = Math.min(Math.max((o + 0.5) * scale - 0.5, 0), inSize - 1);
    lo[o] = Math.floor(x);
    hi[o] = Math.min(lo[o] + 1, inSize - 1);
    t[o] = x - lo[o];
  }
  return { lo, hi, t };
}

/**
 * `pixels` (from.height × from.width × from.channels, row-major, channels last) resampled to
 * width × height, each no smaller than the input's; channels are resampled independently.
 */
export function enlarge(pixels: Uint8Array, from: ImageShape, width: number, height: number): Uint8Array {
  const { width: w0, height: h0, channels: c } = from;
  if (width < w0 || height < h0) throw new Error(`enlarge: ${w0}×${h0} to ${width}×${height} shrinks`);
  const xs = taps(w0, width);
  const ys = taps(h0, height);
  const out = new Uint8Array(width * height * c);
  for (let y = 0; y < height; y++) {
    const r0 = ys.lo[y] * w0;
    const r1 = ys.hi[y] * w0;
    const ty = ys.t[y];
    for (let x = 0; x < width; x++) {
      const a = xs.lo[x];
      const b = xs.hi[x];
      const tx = xs.t[x];
      for (let k = 0; k < c; k++) {
        const top = pixels[(r0 + a) * c + k] * (1 - tx) + pixels[(r0 + b) * c + k] * tx;
        const bottom = pixels[(r1 + a) * c + k] * (1 - tx) + pixels[(r1 + b) * c + k] * tx;
        out[(y * width + x) * c + k] = Math.round(top * (1 - ty) + bottom * ty);
      }
    }
  }
  return out;
}
