// Strict UTF-8 decoding of input files: invalid bytes are an error that names the file, the
// line and the byte, never a silent U+FFFD.

import type { InputError } from './errors.js';

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Byte offset of the first invalid UTF-8 sequence (overlong forms, surrogates, code points above
 * U+10FFFF, stray continuation bytes, truncated sequences), or -1 when `b` is valid.
 */
export function firstInvalidUtf8(b: Uint8Array): number {
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) need = 2;
    else if (c >= 0xf0 && c <= 0xf4) need = 3;
    else return i;
    if (i + need >= n) return i;
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
    if (b[i + 1] < lo || b[i + 1] > hi) return i;
    for (let k = 2; k <= need; k++) if ((b[i + k] & 0xc0) !== 0x80) return i;
    i += need + 1;
  }
  return -1;
}

/**
 * Decodes a file's bytes strictly (dropping a leading BOM) and normalises line ends to \n. Bad
 * UTF-8 throws `Err` naming the line and byte offset of the first invalid sequence.
 */
export function decodeUtf8Strict(bytes: Uint8Array, file: string, Err: new (message: string, file: string, line?: number) => InputError): string {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    const off = firstInvalidUtf8(bytes);
    const at = off < 0 ? bytes.length : off; // the decoder and the scan agree; this is a safeguard
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < at; i++) {
      if (bytes[i] === 0x0a) {
        line++;
        lineStart = i + 1;
      }
    }
    const shown = Array.from(bytes.subarray(at, Math.min(at + 4, bytes.length)), (x) => '0x' + x.toString(16).padStart(2, '0')).join(' ');
    throw new Err(`${file} line ${line}: invalid UTF-8 at byte offset ${at} (byte ${at - lineStart + 1} of the line): ${shown}`, file, line);
  }
  return text.replace(/\r\n?/g, '\n');
}
