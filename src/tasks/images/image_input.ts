// An image handed to a model to predict (the server's JSON, `pathwise predict`), read into the
// task's shape:
//   {"pixels": [...]}          height × width × channels integers in 0-255 (./pixel_rows.ts)
//   {"image": "<base64>"}      a PNG or JPEG, base64 (a `data:image/png;base64,` URL too), decoded
//                              and resized like a task file's images (./decode_image.ts)
// `fail` gets what is wrong, naming the field; it must throw (a 400, a file:line error).

import type { ImageInput, ImageShape } from '../task.js';
import { decodeImageOr } from './decode_image.js';
import { pixelsOf } from './pixel_rows.js';

const DATA_URL = /^data:image\/(png|jpeg|jpg);base64,/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The bytes of a base64 string (or data URL), or why they are not. */
export function base64Bytes(s: string): Uint8Array | string {
  const body = s.replace(DATA_URL, '').replace(/\s+/g, '');
  if (body.length === 0) return 'is empty';
  if (body.length % 4 !== 0 || !BASE64.test(body)) return 'is not base64 (a PNG or JPEG file, base64-encoded, or a data:image/...;base64, URL)';
  return new Uint8Array(Buffer.from(body, 'base64'));
}

export async function imageFromJson(o: Record<string, unknown>, shape: ImageShape, fail: (what: string) => never): Promise<ImageInput> {
  const hasPixels = o.pixels !== undefined;
  const hasImage = o.image !== undefined;
  if (hasPixels === hasImage) return fail('give "pixels" (an array of 0-255 integers) or "image" (a base64 PNG or JPEG), one of them');
  if (hasPixels) return { ...shape, pixels: pixelsOf(o.pixels, shape, fail) };
  if (typeof o.image !== 'string') return fail('field "image" must be a string: a base64 PNG or JPEG');
  const bytes = base64Bytes(o.image);
  if (typeof bytes === 'string') return fail(`field "image" ${bytes}`);
  return decodeImageOr(bytes, shape, (why) => fail(`field "image": ${why}`));
}
