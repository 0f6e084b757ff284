// Reading a PNG or JPEG into an image of a task's shape (sharp, over libvips).
//
//  - Only PNG and JPEG are read, told by their first bytes (not the file name); anything else,
//    and a file libvips cannot decode to the end (truncated, corrupt), is refused.
//  - Size: resized to exactly width × height (fit "fill": stretched, aspect ratio not kept, as
//    torchvision's Resize((h, w)) does) when it differs; an image of the task's size is not
//    resampled. A side that shrinks is shrunk by libvips (lanczos3, centre-aligned); a side that
//    grows is enlarged afterwards by ./enlarge.ts (bilinear), since libvips' enlarging shifts the
//    picture by about half a pixel.
//  - Channels: 1: greyscale (libvips' luminance of sRGB); 3: sRGB; 4: sRGB with alpha (255 where
//    the image has none). An alpha channel is dropped for 1 and 3, as PIL's convert("L" / "RGB")
//    does (the colour under a transparent pixel is kept, not composited on a background).
//  - 16-bit images are scaled to 8 bits. EXIF orientation is not applied (as with PIL's loader):
//    pixels are read as stored.

import sharp, { type Sharp } from 'sharp';
import type { ImageInput, ImageShape } from '../task.js';
import { enlarge } from './enlarge.js';

/** PNG and JPEG by their signatures. */
export type ImageKind = 'png' | 'jpeg';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The kind of an image file by its first bytes, or null when it is neither PNG nor JPEG. */
export function imageKind(bytes: Uint8Array): ImageKind | null {
  if (bytes.length >= PNG_SIGNATURE.length && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

/** Why an image could not be decoded (the reason only; callers add the file and line). */
export class ImageDecodeError extends Error {}

/** `img` converted to 1 (grey), 3 (sRGB) or 4 (sRGB + alpha) channels. */
function withChannels(img: Sharp, channels: 1 | 3 | 4): Sharp {
  if (channels === 1) return img.greyscale().removeAlpha();
  if (channels === 3) return img.toColourspace('srgb').removeAlpha();
  return img.toColourspace('srgb').ensureAlpha(1);
}

/** decodeImage, with a decoding failure's reason handed to `fail` (which must throw). */
export async function decodeImageOr(bytes: Uint8Array, shape: ImageShape, fail: (reason: string) => never): Promise<ImageInput> {
  try {
    return await decodeImage(bytes, shape);
  } catch (e) {
    if (e instanceof ImageDecodeError) return fail(e.message);
    throw e;
  }
}

/**
 * Decodes PNG or JPEG bytes into `shape`: resized to width × height when the size differs, and
 * converted to the shape's channels (see the top of this file). Rejects with ImageDecodeError.
 */
export async function decodeImage(bytes: Uint8Array, shape: ImageShape): Promise<ImageInput> {
  const kind = imageKind(bytes);
  if (kind === null) throw new ImageDecodeError('not a PNG or JPEG file');
  const { width, height, channels } = shape;
  if (channels !== 1 && channels !== 3 && channels !== 4) throw new Error(`decodeImage: ${channels} channels (1, 3 or 4)`);
  let data: Buffer;
  let info: { width: number; height: number; channels: number };
  // The size libvips is asked for: the task's, on no side larger than the image's.
  let w1: number;
  let h1: number;
  try {
    // failOn 'warning': a truncated or damaged file is an error, not a half-grey image.
    let img = sharp(bytes, { failOn: 'warning' });
    const meta = await img.metadata();
    if (meta.format !== kind) throw new ImageDecodeError(`its bytes start as ${kind.toUpperCase()} but it decodes as ${meta.format}`);
    // Shrinking by libvips (lanczos3); enlarging after, here (./enlarge.ts).
    w1 = Math.min(width, meta.width);
    h1 = Math.min(height, meta.height);
    if (w1 !== meta.width || h1 !== meta.height) img = img.resize(w1, h1, { fit: 'fill' });
    ({ data, info } = await withChannels(img, channels).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true }));
  } catch (e) {
    if (e instanceof ImageDecodeError) throw e;
    const msg = (e as Error).message.trim().split('\n')[0];
    throw new ImageDecodeError(`cannot decode this ${kind === 'png' ? 'PNG' : 'JPEG'} (${msg})`);
  }
  if (info.width !== w1 || info.height !== h1 || info.channels !== channels || data.length !== w1 * h1 * channels) {
    throw new Error(`decodeImage: got ${info.width}×${info.height}×${info.channels} (${data.length} bytes) for ${w1}×${h1}×${channels}`);
  }
  // A copy of exactly the pixels: sharp's Buffer may be a view into a larger pooled allocation.
  const pixels = new Uint8Array(data);
  if (w1 === width && h1 === height) return { width, height, channels, pixels };
  return { width, height, channels, pixels: enlarge(pixels, { width: w1, height: h1, channels }, width, height) };
}
