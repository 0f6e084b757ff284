// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then raw
// little-endian data. Reading accepts the float types checkpoints use (F32, F16, BF16, F64,
// converted to float32) and integer types (converted to int32; `dtypes` keeps what each tensor was
// stored as). Writing produces F32 (or F16) / I32, and I8, U8 or U16 for small-integer tensors
// given as typed arrays (PackedTensor: a quantized model's weights, engine/quantized.ts, and its
// compactly stored Naive Bayes priors, model/compact_prior.ts).

import { Tensor, numel } from './tensor.js';
import { InputError } from '../util/errors.js';
import { readFileOr } from '../util/read_file.js';
import { shown } from '../util/schema.js';

export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
  /** Each tensor's dtype as stored ("F32", "I8", ...). */
  dtypes: Map<string, string>;
}

/** An int8 tensor to write (stored as I8). */
export interface Int8Tensor {
  readonly dtype: 'int8';
  readonly data: Int8Array;
  readonly shape: readonly number[];
}

/** An unsigned small-integer tensor to write (stored as U8 or U16). */
export interface UintTensor {
  readonly dtype: 'uint8' | 'uint16';
  readonly data: Uint8Array | Uint16Array;
  readonly shape: readonly number[];
}

/** What serializeSafetensors writes besides float32 and int32 tensors. */
export type PackedTensor = Int8Tensor | UintTensor;

const BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1 };

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Element readers by dtype: bytes per element, and the value at a byte offset (little-endian). */
const FLOAT_READERS: Record<string, [number, (dv: DataView, at: number) => number]> = {
  F32: [4, (dv, at) => dv.getFloat32(at, true)],
  F64: [8, (dv, at) => dv.getFloat64(at, true)],
  F16: [2, (dv, at) => halfToFloat(dv.getUint16(at, true))],
};
const INT_READERS: Record<string, [number, (dv: DataView, at: number) => number]> = {
  I32: [4, (dv, at) => dv.getInt32(at, true)],
  I16: [2, (dv, at) => dv.getInt16(at, true)],
  U16: [2, (dv, at) => dv.getUint16(at, true)],
  I8: [1, (dv, at) => dv.getInt8(at)],
  U8: [1, (dv, at) => dv.getUint8(at)],
  BOOL: [1, (dv, at) => dv.getUint8(at)],
};

function decode(dtype: string, bytes: Buffer, n: number, what: string, source: string): Float32Array | Int32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const float = Object.hasOwn(FLOAT_READERS, dtype);
  const reader = float ? FLOAT_READERS[dtype] : Object.hasOwn(INT_READERS, dtype) ? INT_READERS[dtype] : null;
  if (reader) {
    const out = float ? new Float32Array(n) : new Int32Array(n);
    const [width, read] = reader;
    for (let i = 0; i < n; i++) out[i] = read(dv, width * i);
    return out;
  }
  switch (dtype) {
    case 'BF16': {
      const out = new Float32Array(n);
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u[i] = dv.getUint16(2 * i, true) << 16;
      return out;
    }
    case 'I64': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = dv.getBigInt64(8 * i, true);
        if (v > 2147483647n || v < -2147483648n) throw new InputError(`${what}: int64 value ${v} at ${i} does not fit int32`, source);
        out[i] = Number(v);
      }
      return out;
    }
    default:
      throw new InputError(`${what}: unsupported dtype ${dtype}`, source);
  }
}

/** The format's own bound on the header (safetensors refuses larger ones too). */
const MAX_HEADER_BYTES = 100_000_000;

/**
 * The keys of a JSON object's top level, in order, duplicates kept (JSON.parse keeps only the
 * last of a duplicated key, so a header naming a tensor twice would load silently). `text` must
 * already be valid JSON.
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1) {
        let k = j + 1;
        while (/\s/.test(text[k])) k++;
        if (text[k] === ':') keys.push(JSON.parse(text.slice(i, j + 1)) as string);
      }
      i = j;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return keys;
}

/**
 * Parses a safetensors buffer; `source` names the file in errors. Trusts nothing, in the order
 * the format's own loader checks: the header length against the file size, the header as UTF-8
 * JSON with each key once, known dtypes, sizes that match shapes, and byte ranges that tile the
 * data section exactly (no gap, no overlap, no trailing bytes).
 */
export function parseSafetensors(buf: Buffer, source = 'safetensors'): SafetensorsFile {
  if (buf.length < 8) throw new InputError(`${source}: not a safetensors file (${buf.length} bytes)`, source);
  const hlen = Number(buf.readBigUInt64LE(0));
  if (hlen < 2 || 8 + hlen > buf.length) throw new InputError(`${source}: header length ${hlen} does not fit in a file of ${buf.length} bytes`, source);
  if (hlen > MAX_HEADER_BYTES) throw new InputError(`${source}: header length ${hlen} exceeds the format's ${MAX_HEADER_BYTES} bytes`, source);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + hlen));
  } catch {
    throw new InputError(`${source}: header is not valid UTF-8`, source);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${source}: header is not valid JSON (${(e as Error).message})`, source);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new InputError(`${source}: header is not a JSON object`, source);
  const seen = new Set<string>();
  for (const k of topLevelKeys(text)) {
    if (seen.has(k)) throw new InputError(`${source}: the header names "${k}" twice`, source);
    seen.add(k);
  }
  const data = buf.subarray(8 + hlen);
  const tensors = new Map<string, Tensor>();
  const ranges: [number, number, string][] = [];
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      const m = v ?? {};
      if (typeof m !== 'object' || Array.isArray(m) || !Object.values(m).every((x) => typeof x === 'string')) {
        throw new InputError(`${source}: __metadata__ must map names to strings`, source);
      }
      metadata = m as Record<string, string>;
      continue;
    }
    const what = `${source}: tensor "${name}"`;
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e?.dtype !== 'string' || !Object.hasOwn(BYTES, e.dtype))
      throw new InputError(`${what}: ${e?.dtype === undefined ? 'missing dtype' : `unsupported dtype ${shown(e.dtype)}`}`, source);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new InputError(`${what}: invalid shape ${shown(e.shape)}`, source);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d)) || off[0] < 0 || off[1] < off[0] || off[1] > data.length) {
      throw new InputError(`${what}: data_offsets ${shown(off)} outside the ${data.length}-byte data section`, source);
    }
    const n = numel(e.shape as number[]);
    if (off[1] - off[0] !== n * BYTES[e.dtype]) throw new InputError(`${what}: ${off[1] - off[0]} bytes for shape [${e.shape}] of ${e.dtype}`, source);
    ranges.push([off[0], off[1], name]);
  }
  // The tensors' byte ranges must cover the data section exactly once.
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let end = 0;
  for (const [from, to, name] of ranges) {
    if (from < end) throw new InputError(`${source}: tensor "${name}" overlaps another tensor's bytes (at byte ${from} of the data section)`, source);
    if (from > end) throw new InputError(`${source}: bytes ${end} to ${from} of the data section belong to no tensor`, source);
    end = to;
  }
  if (end !== data.length) throw new InputError(`${source}: ${data.length - end} trailing bytes after the last tensor`, source);
  const dtypes = new Map<string, string>();
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    dtypes.set(name, e.dtype);
    tensors.set(
      name,
      new Tensor(decode(e.dtype, data.subarray(e.data_offsets[0], e.data_offsets[1]), numel(e.shape), `${source}: tensor "${name}"`, source), e.shape),
    );
  }
  return { tensors, metadata, dtypes };
}

export function readSafetensors(path: string): SafetensorsFile {
  const buf = readFileOr(path, (code) => new InputError(`cannot read ${path}: ${code}`, path));
  return parseSafetensors(buf, path);
}

/** float32 -> IEEE half, round to nearest even (overflow to infinity, subnormals kept). */
export function floatToHalf(v: number): number {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  f[0] = v;
  const x = u[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    if (e < -10) return sign; // underflows to zero
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

export interface SerializeOptions {
  /** Store float tensors as F16 (half the size; about 3 significant digits). Default F32. */
  floatDtype?: 'F32' | 'F16';
}

const PACKED_DTYPES = { int8: 'I8', uint8: 'U8', uint16: 'U16' } as const;

/** Serialises tensors (float32 -> F32 or F16, int32 -> I32, PackedTensor -> I8 / U8 / U16) in the given order. */
export function serializeSafetensors(
  tensors: Record<string, Tensor | PackedTensor> | Map<string, Tensor | PackedTensor>,
  metadata: Record<string, string> = {},
  opts: SerializeOptions = {},
): Buffer {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const half = opts.floatDtype === 'F16';
  const dtypeOf = (t: Tensor | PackedTensor) => (t.dtype === 'float32' ? (half ? 'F16' : 'F32') : t.dtype === 'int32' ? 'I32' : PACKED_DTYPES[t.dtype]);
  const count = (t: Tensor | PackedTensor) => t.data.length;
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let off = 0;
  for (const [name, t] of entries) {
    const bytes = count(t) * BYTES[dtypeOf(t)];
    header[name] = { dtype: dtypeOf(t), shape: [...t.shape], data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // data starts 8-byte aligned
  const hbytes = Buffer.from(json, 'utf8');
  const out = Buffer.allocUnsafe(8 + hbytes.length + off);
  out.writeBigUInt64LE(BigInt(hbytes.length), 0);
  hbytes.copy(out, 8);
  let p = 8 + hbytes.length;
  for (const [, t] of entries) {
    const bytes = count(t) * BYTES[dtypeOf(t)];
    if (t.dtype === 'float32' && half) {
      const d = (t as Tensor).f32;
      for (let i = 0; i < d.length; i++) out.writeUInt16LE(floatToHalf(d[i]), p + 2 * i);
    } else {
      const src = Buffer.from(t.data.buffer, t.data.byteOffset, bytes);
      if (src.length) src.copy(out, p); // little-endian hosts (x86-64, arm64)
    }
    p += bytes;
  }
  return out;
}
