// safetensors: round trip, and clear errors for damaged files.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, Tensor, floatToHalf, intTensor, parseSafetensors, readSafetensors, serializeSafetensors, tensor } from '../../src/engine/index.js';
import { InputError } from '../../src/util/errors.js';

it('round-trips float32 and int32 tensors with metadata, data 8-byte aligned', () => {
  const a = tensor([1.5, -2, 3.25, Math.PI, -0, 1e-30], [2, 3]);
  const b = intTensor([7, -8, 2147483647], [3]);
  const e = new Tensor(new Float32Array(0), [0, 4]);
  const buf = serializeSafetensors({ a, b, e }, { format: 'pt' });
  const hlen = Number(buf.readBigUInt64LE(0));
  assert.equal((8 + hlen) % 8, 0);
  const back = parseSafetensors(buf, 'x.safetensors');
  assert.deepEqual(back.metadata, { format: 'pt' });
  assert.deepEqual([...back.tensors.keys()], ['a', 'b', 'e']);
  assert.deepEqual([...back.tensors.get('a')!.shape], [2, 3]);
  assert.deepEqual(Array.from(back.tensors.get('a')!.data), Array.from(a.data));
  assert.equal(back.tensors.get('b')!.dtype, 'int32');
  assert.deepEqual(Array.from(back.tensors.get('b')!.data), [7, -8, 2147483647]);
  assert.equal(back.tensors.get('e')!.size, 0);
});

/** Parsing throws an InputError (the CLI's exit 2, not an internal error) naming `file`. */
const refuses = (fn: () => unknown, file: string, re: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof InputError && e.file === file && e.message.startsWith(file) && re.test(e.message));

it('rejects damaged files with the file and tensor named, as input errors', () => {
  const good = serializeSafetensors({ w: tensor([1, 2, 3, 4], [2, 2]) });
  refuses(() => parseSafetensors(good.subarray(0, 5), 'm.safetensors'), 'm.safetensors', /m\.safetensors: not a safetensors file/);
  refuses(() => parseSafetensors(good.subarray(0, good.length - 4), 'm.safetensors'), 'm.safetensors', /m\.safetensors: tensor "w": data_offsets/);
  const bad = Buffer.from(good);
  bad.writeBigUInt64LE(10n ** 12n, 0);
  refuses(() => parseSafetensors(bad, 'm.safetensors'), 'm.safetensors', /header length/);
  const missing = join(tmpdir(), `pathwise-no-such-${process.pid}.safetensors`);
  assert.throws(
    () => readSafetensors(missing),
    (e: unknown) => e instanceof InputError && e.file === missing && /cannot read .*ENOENT/.test(e.message),
  );
  const hdr = (h: object) => {
    const j = Buffer.from(JSON.stringify(h));
    const out = Buffer.alloc(8 + j.length + 16);
    out.writeBigUInt64LE(BigInt(j.length), 0);
    j.copy(out, 8);
    return out;
  };
  refuses(() => parseSafetensors(hdr({ w: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }), 'f'), 'f', /tensor "w": unsupported dtype "C64"/);
  refuses(() => parseSafetensors(hdr({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }), 'f'), 'f', /8 bytes for shape \[3\]/);
});

it('converts F16, BF16 and I64 on read', () => {
  const j = Buffer.from(
    JSON.stringify({
      h: { dtype: 'F16', shape: [3], data_offsets: [0, 6] },
      bf: { dtype: 'BF16', shape: [2], data_offsets: [6, 10] },
      i: { dtype: 'I64', shape: [2], data_offsets: [10, 26] },
    }),
  );
  const buf = Buffer.alloc(8 + j.length + 26);
  buf.writeBigUInt64LE(BigInt(j.length), 0);
  j.copy(buf, 8);
  const d = 8 + j.length;
  buf.writeUInt16LE(0x3c00, d); // 1.0
  buf.writeUInt16LE(0xc000, d + 2); // -2.0
  buf.writeUInt16LE(0x0001, d + 4); // smallest subnormal 2^-24
  buf.writeUInt16LE(0x3fc0, d + 6); // bf16 1.5
  buf.writeUInt16LE(0xc040, d + 8); // bf16 -3
  buf.writeBigInt64LE(-5n, d + 10);
  buf.writeBigInt64LE(123456789n, d + 18);
  const t = parseSafetensors(buf).tensors;
  assert.deepEqual(Array.from(t.get('h')!.data), [1, -2, 2 ** -24]);
  assert.deepEqual(Array.from(t.get('bf')!.data), [1.5, -3]);
  assert.deepEqual(Array.from(t.get('i')!.data), [-5, 123456789]);
});

it('floatToHalf rounds to the nearest half (ties to even), with subnormals and overflow', () => {
  const cases: [number, number][] = [
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [65520, 0x7c00],
    [2 ** -24, 0x0001],
    [2 ** -14, 0x0400],
    [1 / 3, 0x3555],
    [0, 0],
    [-0, 0x8000],
    [Infinity, 0x7c00],
    [1 + 2 ** -11, 0x3c00],
    [1 + 3 * 2 ** -11, 0x3c02],
  ];
  for (const [v, h] of cases) assert.equal(floatToHalf(v), h, `floatToHalf(${v})`);
  assert.equal(floatToHalf(NaN) & 0x7c00, 0x7c00);
  // Round trip: relative error at most 2^-11 in the normal range.
  const rng = new Rng(3);
  const xs = Float32Array.from({ length: 1000 }, () => rng.normal() * 10);
  const back = parseSafetensors(serializeSafetensors({ x: new Tensor(xs, [1000]) }, {}, { floatDtype: 'F16' })).tensors.get('x')!;
  xs.forEach((v, i) => assert.ok(Math.abs(back.data[i] - v) <= Math.abs(v) * 2 ** -11 + 2 ** -24, `${v} -> ${back.data[i]}`));
});

it('refuses headers and byte ranges the format forbids: gaps, overlaps, trailing bytes, duplicate keys, bad UTF-8', () => {
  /** A file with this header text and `data` bytes after it. */
  const file = (json: string, data = 8) => {
    const j = Buffer.from(json, 'latin1');
    const out = Buffer.alloc(8 + j.length + data);
    out.writeBigUInt64LE(BigInt(j.length), 0);
    j.copy(out, 8);
    return out;
  };
  const t = (from: number, to: number) => ({ dtype: 'F32', shape: [(to - from) / 4], data_offsets: [from, to] });
  assert.doesNotThrow(() => parseSafetensors(file(JSON.stringify({ a: t(0, 4), b: t(4, 8) })), 'f'));
  assert.throws(() => parseSafetensors(file(JSON.stringify({ a: t(0, 4) })), 'f'), /f: 4 trailing bytes after the last tensor/);
  assert.throws(() => parseSafetensors(file(JSON.stringify({ a: t(0, 4), b: t(0, 4) })), 'f'), /f: tensor "b" overlaps another tensor's bytes/);
  assert.throws(() => parseSafetensors(file(JSON.stringify({ a: t(0, 4), b: t(8, 12) }), 12), 'f'), /f: bytes 4 to 8 of the data section belong to no tensor/);
  assert.throws(() => parseSafetensors(file(`{"a": ${JSON.stringify(t(0, 4))}, "a": ${JSON.stringify(t(4, 8))}}`), 'f'), /f: the header names "a" twice/);
  // A key that only looks like a duplicate (inside a value, or escaped) is not one.
  assert.doesNotThrow(() => parseSafetensors(file(`{"__metadata__": {"a": "x"}, "a": ${JSON.stringify(t(0, 8))}}`), 'f'));
  assert.doesNotThrow(() => parseSafetensors(file(`{"a\\"b": ${JSON.stringify(t(0, 4))}, "a": ${JSON.stringify(t(4, 8))}}`), 'f'));
  assert.throws(() => parseSafetensors(file('{"\xff": 1}'), 'f'), /f: header is not valid UTF-8/);
  assert.throws(() => parseSafetensors(file(JSON.stringify({ __metadata__: { n: 3 }, a: t(0, 8) })), 'f'), /__metadata__ must map names to strings/);
  assert.throws(
    () => parseSafetensors(file(JSON.stringify({ a: { dtype: 'toString', shape: [2], data_offsets: [0, 8] } })), 'f'),
    /unsupported dtype "toString"/,
  );
});
