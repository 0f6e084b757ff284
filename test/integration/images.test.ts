// Image tasks in the same model as text tasks: the stem's patches, joint training through the
// shared blocks, model folders, and an image task added to a text model by path search with the
// text tasks' logits unchanged.

import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, Tensor, activation, noGrad } from '../../src/engine/index.js';
import {
  DEFAULT_ENCODER,
  ImageStem,
  TransformerEncoder,
  checkImageStemConfig,
  defaultStem,
  featureMaps,
  stemParameters,
  stemTokens,
} from '../../src/nn/index.js';
import { Tokenizer } from '../../src/data/tokenizer/index.js';
import { TaskModel, loadModel, saveModel, specOf } from '../../src/model/index.js';
import { componentConfigSchemas } from '../../src/model/folder_schema.js';
import { parseOrThrow } from '../../src/util/schema.js';
import { encodeImages, patchify } from '../../src/tasks/encode_image.js';
import type { Example, TaskData } from '../../src/tasks/task.js';
import { trainMultiTask } from '../../src/train/multitask.js';
import { searchTask } from '../../src/evolve/index.js';
import { DEFAULT_SWITCH, SwitchFFN, sparseFfnFactory, type SparseConfig } from '../../src/sparse/index.js';
import { spawnSync } from 'node:child_process';
import { CLI, cliSync } from '../cli_folders.js';
import { call } from '../serve_helpers.js';
import { buildServer } from '../../src/serve/index.js';

const scale = (v: number) => Math.fround(v / 127.5 - 1);

test('patchify: [CLS] row, patches in grid order, (y, x, channel) inside a patch; shifts bring in background, flips mirror', () => {
  const img = { width: 4, height: 4, channels: 1, pixels: Uint8Array.from({ length: 16 }, (_, i) => i * 16) };
  const p = { width: 4, height: 4, channels: 1, patch: 2, stride: 2, pad: 0 };
  const out = new Float32Array(5 * 4);
  patchify(img, p, out, 0);
  assert.deepEqual([...out.subarray(0, 4)], [0, 0, 0, 0]);
  // patch (0, 0): pixels 0, 1, 4, 5; patch (0, 1): 2, 3, 6, 7; patch (1, 0): 8, 9, 12, 13
  assert.deepEqual(
    [...out.subarray(4, 8)],
    [0, 1, 4, 5].map((i) => scale(i * 16)),
  );
  assert.deepEqual(
    [...out.subarray(8, 12)],
    [2, 3, 6, 7].map((i) => scale(i * 16)),
  );
  assert.deepEqual(
    [...out.subarray(12, 16)],
    [8, 9, 12, 13].map((i) => scale(i * 16)),
  );
  // shifted right by one: column 0 is background (-1), pixel (y, x) shows pixel (y, x - 1)
  patchify(img, p, out, 0, 1, 0);
  assert.deepEqual([...out.subarray(4, 8)], [-1, scale(0), -1, scale(64)]);
  // mirrored: (y, x) shows (y, 3 - x)
  patchify(img, p, out, 0, 0, 0, true);
  assert.deepEqual(
    [...out.subarray(4, 8)],
    [3, 2, 7, 6].map((i) => scale(i * 16)),
  );
  // overlapping patches (a convolutional stem): 3×3 patches one pixel apart, 2 × 2 of them
  const q = { width: 4, height: 4, channels: 1, patch: 3, stride: 1, pad: 0 };
  const o2 = new Float32Array(5 * 9);
  patchify(img, q, o2, 0);
  assert.deepEqual(
    [...o2.subarray(9 * 4, 9 * 5)],
    [5, 6, 7, 9, 10, 11, 13, 14, 15].map((i) => scale(i * 16)),
  );
  // padded by one with background (a convolutional stem's first layer): 4 × 4 neighbourhoods, the
  // first one's top row and left column background
  const padded = { width: 4, height: 4, channels: 1, patch: 3, stride: 1, pad: 1 };
  const o4 = new Float32Array(17 * 9);
  patchify(img, padded, o4, 0);
  assert.deepEqual([...o4.subarray(9, 18)], [-1, -1, -1, -1, scale(0), scale(16), -1, scale(64), scale(80)]);
  assert.deepEqual([...o4.subarray(9 * 16, 9 * 17)], [scale(160), scale(176), -1, scale(224), scale(240), -1, -1, -1, -1]);
  // RGB: channels stay together
  const rgb = { width: 2, height: 2, channels: 3, pixels: Uint8Array.from({ length: 12 }, (_, i) => i) };
  const o3 = new Float32Array(2 * 12);
  patchify(rgb, { width: 2, height: 2, channels: 3, patch: 2, stride: 2, pad: 0 }, o3, 0);
  assert.deepEqual([...o3.subarray(12)], [...rgb.pixels].map(scale));
});

test('encodeImages refuses an image of another shape, naming it', () => {
  const ex: Example = { text: '', label: 'a', image: { width: 5, height: 4, channels: 1, pixels: new Uint8Array(20) } };
  assert.throws(
    () => encodeImages([ex], { width: 4, height: 4, channels: 1, patch: 2, stride: 2, pad: 0 }, 5),
    /image 0 of the batch: the image is 5×4×1, the task's images are 4×4×1/,
  );
  assert.throws(
    () => encodeImages([{ text: '', label: 'a' }], { width: 4, height: 4, channels: 1, patch: 2, stride: 2, pad: 0 }, 5),
    /image 0 of the batch: no image/,
  );
});

/** A direct convolution over a (y, x, channel)-ordered map, weights [out][(dy·k + dx)·C + c], read outside the map as `padValue`. */
function convolve(
  map: ArrayLike<number>,
  H: number,
  W: number,
  C: number,
  w: Float32Array,
  bias: Float32Array,
  k: number,
  stride: number,
  pad: number,
  padValue: number,
) {
  const out = bias.length;
  const Ho = Math.floor((H + 2 * pad - k) / stride) + 1;
  const Wo = Math.floor((W + 2 * pad - k) / stride) + 1;
  const res = new Float32Array(Ho * Wo * out);
  for (let y = 0; y < Ho; y++)
    for (let x = 0; x < Wo; x++)
      for (let o = 0; o < out; o++) {
        let s = bias[o];
        for (let dy = 0; dy < k; dy++)
          for (let dx = 0; dx < k; dx++)
            for (let c = 0; c < C; c++) {
              const sy = y * stride + dy - pad;
              const sx = x * stride + dx - pad;
              const v = sy < 0 || sy >= H || sx < 0 || sx >= W ? padValue : map[(sy * W + sx) * C + c];
              s += w[o * k * k * C + (dy * k + dx) * C + c] * v;
            }
        res[(y * Wo + x) * out + o] = s;
      }
  return { map: res, H: Ho, W: Wo, C: out };
}

test('a convolutional stem is the direct convolutions: background padding first, zeros after, strides, GELU between, [CLS] the projection bias', () => {
  const conv = [
    { kernel: 3, channels: 3 },
    { kernel: 3, channels: 2, stride: 2 },
  ];
  const cfg = { width: 6, height: 5, channels: 3, patch: 2, stride: 1, dModel: 4, initStd: 0.5, dropout: 0, conv };
  const stem = new ImageStem(cfg, new Rng(3));
  stem.eval();
  assert.deepEqual(
    featureMaps(cfg).map((m) => [m.width, m.height, m.channels]),
    [
      [6, 5, 3],
      [6, 5, 3],
      [3, 3, 2],
    ],
  );
  const pix = new Rng(4);
  const examples: Example[] = [0, 1].map(() => ({
    text: '',
    label: 'a',
    image: { width: 6, height: 5, channels: 3, pixels: Uint8Array.from({ length: 90 }, () => pix.int(256)) },
  }));
  const batch = encodeImages(examples, stem.input, stem.tokens);
  assert.deepEqual(batch.patches.shape, [2, 1 + 30, 27]); // one 3×3×3 neighbourhood per pixel
  assert.deepEqual(batch.keep.shape, [2, stem.tokens]);
  const out = noGrad(() => stem.forward(batch.patches));
  assert.deepEqual(out.shape, [2, 1 + 2 * 2, 4]); // 2 × 2 patches of 2 pixels, 1 apart, of the 3 × 3 map
  const gelu = (m: Float32Array) => noGrad(() => activation(new Tensor(m, [m.length]), 'gelu')).f32;
  const pos = stem.position.f32;
  for (const [b, ex] of examples.entries()) {
    const scaled = Array.from(ex.image!.pixels, (p) => p / 127.5 - 1);
    // Outside the image is background: pixel value 0, -1 once scaled; outside a feature map, zeros.
    const l0 = convolve(scaled, 5, 6, 3, stem.conv[0].weight.f32, stem.conv[0].bias!.f32, 3, 1, 1, -1);
    const l1 = convolve(gelu(l0.map), l0.H, l0.W, l0.C, stem.conv[1].weight.f32, stem.conv[1].bias!.f32, 3, 2, 1, 0);
    const p = convolve(gelu(l1.map), l1.H, l1.W, l1.C, stem.proj.weight.f32, stem.proj.bias!.f32, 2, 1, 0, 0);
    const b2 = stem.proj.bias!.f32;
    const want = [...[0, 1, 2, 3].map((d) => b2[d] + pos[d]), ...Array.from(p.map, (v, i) => v + pos[4 + i])];
    const got = [...out.f32.subarray(b * 20, (b + 1) * 20)];
    got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) < 1e-4, `image ${b}, value ${i}: ${g} against ${want[i]}`));
  }
  // Its parameters as the folder checks count them: two convolutions, the projection, the positions.
  assert.equal(stemParameters(cfg), 27 * 3 + 3 + 27 * 2 + 2 + 8 * 4 + 4 + 5 * 4);
  assert.equal(
    stemParameters(cfg),
    stem.parameters().reduce((n, t) => n + t.size, 0),
  );
});

test('the default stem: strided 3×3 convolutions until at most 64 positions, each a token; plain patches for images under 3 pixels', () => {
  const tokens = (w: number, h: number) => stemTokens({ width: w, height: h, channels: 3, ...defaultStem(w, h) });
  // digits, as measured in docs/images.md
  assert.deepEqual(defaultStem(28, 28), {
    patch: 1,
    stride: 1,
    conv: [
      { kernel: 3, channels: 32 },
      { kernel: 3, channels: 64, stride: 2 },
      { kernel: 3, channels: 128, stride: 2 },
    ],
  });
  assert.equal(tokens(28, 28), 1 + 7 * 7);
  // over 64 pixels a side the first convolution strides too; features double up to 256
  const big = defaultStem(224, 224).conv!;
  assert.deepEqual(
    big.map((l) => [l.channels, l.stride ?? 1]),
    [
      [32, 2],
      [64, 2],
      [128, 2],
      [256, 2],
      [256, 2],
    ],
  );
  assert.equal(tokens(224, 224), 1 + 7 * 7);
  assert.equal(tokens(12, 10), 1 + 6 * 5);
  assert.deepEqual(defaultStem(2, 2), { patch: 2, stride: 1 });
  for (const [w, h] of [
    [28, 28],
    [224, 224],
    [12, 10],
    [5, 300],
    [2, 2],
  ])
    checkImageStemConfig({ width: w, height: h, channels: 1, dModel: 8, initStd: 0.02, dropout: 0, ...defaultStem(w, h) });
  // a strip stops striding once its narrow side is under the kernel: 5×300 -> 3×150 -> 2×75
  assert.equal(tokens(5, 300), 1 + 2 * 75);
});

test("a stem's conv in a folder's config: checked by the component schema, each error naming its field", () => {
  const base = { width: 28, height: 28, channels: 1, patch: 7, stride: 3, dModel: 16, initStd: 0.02, dropout: 0.1 };
  const parse = (v: unknown) => parseOrThrow(componentConfigSchemas.image_stem, v, { source: 'components[5].config' });
  const two = [
    { kernel: 3, channels: 32 },
    { kernel: 3, channels: 64, stride: 2 },
  ];
  assert.deepEqual(parse({ ...base, patch: 1, stride: 1, conv: two }).conv, two);
  assert.equal(parse(base).conv, undefined); // folders from before conv existed
  assert.throws(() => parse({ ...base, conv: [{ kernel: 4, channels: 32 }] }), /components\[5\]\.config: conv\[0\]\.kernel: must be odd/);
  assert.throws(
    () => parse({ ...base, conv: [{ kernel: 29, channels: 32 }] }),
    /components\[5\]\.config: conv\[0\]\.kernel: a 29-pixel kernel does not fit the 28×28 map before it/,
  );
  assert.throws(
    () => parse({ ...base, conv: [two[0], { kernel: 3, channels: 8, stride: 8 }] }),
    /components\[5\]\.config: patch: a 7-pixel patch does not fit the 4×4 map the convolutions make/,
  );
  assert.throws(() => parse({ ...base, conv: [{ kernel: 3 }] }), /components\[5\]\.config: conv\[0\]\.channels is required/);
  assert.throws(() => parse({ ...base, conv: [{ kernel: 3, channels: 8, step: 2 }] }), /unknown key "conv\[0\]\.step"/);
  assert.throws(() => parse({ ...base, conv: { kernel: 3, channels: 8 } }), /components\[5\]\.config: conv must be a non-empty list of objects/);
});

// ----------------------------------------------------------------------------- tiny models
const WORDS = 'the a film was good bad lovely awful story plot'.split(' ');
const rng = new Rng(5);
const sentence = () => Array.from({ length: 3 + rng.int(5) }, () => WORDS[rng.int(WORDS.length)]).join(' ');
const tok = Tokenizer.train(Array.from({ length: 100 }, sentence), { vocabSize: 300 });

/** A text task: "good"/"lovely" in the text or not. */
function textTask(n: number): TaskData {
  const make = (): Example => {
    const text = sentence();
    return { text, label: /good|lovely/.test(text) ? 'yes' : 'no' };
  };
  const split = (k: number) => Array.from({ length: k }, make);
  return { name: 'words', type: 'classification', labels: ['no', 'yes'], train: split(n), dev: split(60), test: split(60) };
}

/** An image task: 8×8 grey images, a bright bar in the left or the right half, on noise. */
function barsTask(n: number, name = 'bars'): TaskData {
  const make = (): Example => {
    const right = rng.uniform() < 0.5;
    const px = new Uint8Array(64);
    for (let i = 0; i < 64; i++) px[i] = rng.int(60);
    const x0 = (right ? 4 : 0) + rng.int(3);
    for (let y = 1; y < 7; y++) px[y * 8 + x0] = 200 + rng.int(56);
    return { text: '', label: right ? 'right' : 'left', image: { width: 8, height: 8, channels: 1, pixels: px } };
  };
  const split = (k: number) => Array.from({ length: k }, make);
  return {
    name,
    type: 'image_classification',
    labels: ['left', 'right'],
    train: split(n),
    dev: split(60),
    test: split(100),
    image: { width: 8, height: 8, channels: 1, flips: false },
  };
}

function tinyModel(): TaskModel {
  const r = new Rng(3);
  const cfg = { ...DEFAULT_ENCODER, vocabSize: tok.vocabSize, maxPositions: 32, dModel: 16, layers: 2, heads: 2, ffn: 32, dropout: 0 };
  return TaskModel.fromEncoder(new TransformerEncoder(cfg, r), tok, { sparse: { switch: null, skills: null }, rng: r, maxLen: 24 });
}

const accuracy = async (m: TaskModel, t: TaskData) => (await m.evaluate(t.name, t.test)).score;

test('one model, two modalities: an image task and a text task trained together through the same blocks; a folder round trip keeps every logit', async () => {
  const text = textTask(300);
  const bars = barsTask(300);
  const model = tinyModel();
  model.addTask(specOf(text));
  model.addTask(specOf(bars));
  const path = model.task('bars').path;
  assert.equal(model.store.get(path.embeddings).kind, 'image_stem');
  assert.deepEqual(path.blocks, model.task('words').path.blocks, 'the image task runs the shared blocks');
  // 8×8 images (64 positions, no more than the default's 64 tokens): one 3×3 convolution of 32
  // features, each position of its map a token (patch 1), and [CLS]
  const stem = model.store.get(path.embeddings, 'image_stem');
  assert.deepEqual([stem.config.conv, stem.config.patch, stem.config.stride, stem.module.tokens], [[{ kernel: 3, channels: 32 }], 1, 1, 65]);
  const before = await accuracy(model, bars);
  await trainMultiTask(model, [text, bars], { steps: 500, batchSize: 16, lr: 3e-3, warmupSteps: 40, evalEvery: 250, evalExamples: 60, seed: 1 });
  const after = await accuracy(model, bars);
  assert.ok(after >= 0.9, `image test accuracy ${after} (before training: ${before})`);
  assert.ok((await accuracy(model, text)) >= 0.8, 'the text task learns beside it');

  const dir = mkdtempSync(join(tmpdir(), 'pw-images-'));
  try {
    saveModel(dir, model);
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    const entry = cfg.tasks.find((t: { name: string }) => t.name === 'bars');
    assert.deepEqual(entry.image, { width: 8, height: 8, channels: 1, flips: false });
    const back = loadModel(dir);
    for (const t of [bars, text]) {
      const a = await model.taskPath(t.name).logitsOf(t.test);
      const b = await back.taskPath(t.name).logitsOf(t.test);
      assert.deepEqual(b, a, `${t.name}: logits after a save and a load`);
    }
    // `pathwise predict` on PNG files and on JSONL lines answers as the model does in process.
    const sharp = (await import('sharp')).default;
    const imgs = bars.test.slice(0, 4);
    const files: string[] = [];
    for (const [i, ex] of imgs.entries()) {
      const f = join(dir, `in${i}.png`);
      await sharp(Buffer.from(ex.image!.pixels), { raw: { width: 8, height: 8, channels: 1 } })
        .png()
        .toFile(f);
      files.push(f);
    }
    const want = (await model.predict('bars', imgs)).map((p) => (p as { label: string }).label);
    assert.deepEqual(
      cliSync(dir, 'predict', dir, '--task', 'bars', ...files)
        .trim()
        .split('\n'),
      want,
      'predict on PNG files',
    );
    writeFileSync(join(dir, 'in.jsonl'), [JSON.stringify({ image: 'in0.png' }), JSON.stringify({ pixels: [...imgs[1].image!.pixels] })].join('\n'));
    assert.deepEqual(cliSync(dir, 'predict', dir, '--task', 'bars', '--input', join(dir, 'in.jsonl')).trim().split('\n'), want.slice(0, 2), 'predict on JSONL');
    writeFileSync(join(dir, 'bad.png'), 'not an image');
    const bad = spawnSync(process.execPath, [CLI, 'predict', dir, '--task', 'bars', join(dir, 'bad.png')], { encoding: 'utf8' });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /bad\.png: not a PNG or JPEG file/);
    writeFileSync(join(dir, 'short.jsonl'), JSON.stringify({ pixels: [1, 2, 3] }));
    const short = spawnSync(process.execPath, [CLI, 'predict', dir, '--task', 'bars', '--input', join(dir, 'short.jsonl')], { encoding: 'utf8' });
    assert.match(short.stderr, /short\.jsonl line 1: field "pixels": expected 64 values \(8×8×1: height × width × channels\), got 3/);

    // The server takes images as base64 PNG or JPEG, or pixels, alone or mixed with text requests,
    // answered by its inference threads as the model answers in process.
    const app = buildServer({ model: back, version: 'images-test', config: { threads: 1, logLevel: 'silent' } });
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
      const b64 = readFileSync(files[0]).toString('base64');
      const one = await call(base, 'POST', '/v1/tasks/bars/predict', {
        inputs: [{ image: b64 }, { image: `data:image/png;base64,${b64}` }, { pixels: [...imgs[1].image!.pixels] }],
      });
      assert.equal(one.status, 200, JSON.stringify(one.json));
      assert.deepEqual(
        (one.json.predictions as { label: string }[]).map((p) => p.label),
        [want[0], want[0], want[1]],
      );
      const mixed = await call(base, 'POST', '/v1/predict', {
        requests: [
          { task: 'words', input: text.test[0].text },
          { task: 'bars', input: { pixels: [...imgs[2].image!.pixels] } },
          { task: 'words', input: text.test[1].text },
        ],
      });
      assert.equal(mixed.status, 200, JSON.stringify(mixed.json));
      const wantText = (await back.predict('words', [text.test[0].text, text.test[1].text])).map((p) => (p as { label: string }).label);
      assert.deepEqual(
        (mixed.json.predictions as { prediction: { label: string } }[]).map((p) => p.prediction.label),
        [wantText[0], want[2], wantText[1]],
      );
      const bad = async (body: unknown, path: string, field: string, message: RegExp) => {
        const r = await call(base, 'POST', path, body);
        assert.equal(r.status, 400, JSON.stringify(r.json));
        const e = r.json.error as { field: string; message: string };
        assert.equal(e.field, field);
        assert.match(e.message, message);
      };
      await bad({ input: { image: 'not base64!' } }, '/v1/tasks/bars/predict', 'input.image', /is not base64/);
      await bad({ input: { image: Buffer.from('hello').toString('base64') } }, '/v1/tasks/bars/predict', 'input.image', /not a PNG or JPEG/);
      await bad({ input: { pixels: [1, 2, 3] } }, '/v1/tasks/bars/predict', 'input.pixels', /expected 64 values/);
      await bad({ input: 'a text' }, '/v1/tasks/bars/predict', 'input', /is an image task/);
      await bad({ input: { pixels: [...imgs[0].image!.pixels] } }, '/v1/tasks/words/predict', 'input', /is a classification task: give "text"/);
    } finally {
      await app.close();
    }

    // An image task's entry without its image shape is refused, naming the entry.
    delete entry.image;
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
    assert.throws(() => loadModel(dir), /tasks\[1\]\.image is required for an image task/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a Switch model takes both modalities through one router: trained together, each task learns, the router sends image and text tokens to its experts, a folder round trip keeps every logit', async () => {
  const text = textTask(300);
  const bars = barsTask(300);
  const r = new Rng(3);
  const sparse: SparseConfig = { switch: { ...DEFAULT_SWITCH, experts: 4, every: 1, jitter: 0 }, skills: null };
  const cfg = { ...DEFAULT_ENCODER, vocabSize: tok.vocabSize, maxPositions: 32, dModel: 16, layers: 2, heads: 2, ffn: 32, dropout: 0 };
  const model = TaskModel.fromEncoder(new TransformerEncoder(cfg, r, sparseFfnFactory(cfg, sparse, r)), tok, { sparse, rng: r, maxLen: 24 });
  model.addTask(specOf(text));
  model.addTask(specOf(bars));
  assert.deepEqual(model.task('bars').path.blocks, model.task('words').path.blocks, 'the image task runs the shared Switch blocks');
  await trainMultiTask(model, [text, bars], { steps: 500, batchSize: 16, lr: 3e-3, warmupSteps: 40, evalEvery: 250, evalExamples: 60, seed: 1 });
  assert.ok((await accuracy(model, bars)) >= 0.9, 'the image task learns in the Switch model');
  assert.ok((await accuracy(model, text)) >= 0.8, 'the text task learns beside it');

  // Each modality's tokens are routed, not passed around the layer: on a test batch of each task,
  // the first layer's router sends tokens to more than one expert.
  const layer = model.store.get(model.root.blocks[0], 'block').module.ffn as SwitchFFN;
  for (const t of [bars, text]) {
    await model.taskPath(t.name).logitsOf(t.test.slice(0, 16));
    const used = layer.stats!.tokensPerExpert.filter((n) => n > 0).length;
    assert.ok(used >= 2, `${t.name}: tokens per expert ${JSON.stringify(layer.stats!.tokensPerExpert)}`);
  }

  const dir = mkdtempSync(join(tmpdir(), 'pw-images-switch-'));
  try {
    saveModel(dir, model);
    const back = loadModel(dir);
    for (const t of [bars, text]) {
      const a = await model.taskPath(t.name).logitsOf(t.test);
      assert.deepEqual(await back.taskPath(t.name).logitsOf(t.test), a, `${t.name}: logits after a save and a load`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an image task added to a text model by path search: a new stem, the text task logits bit for bit unchanged', async () => {
  const text = textTask(200);
  const model = tinyModel();
  model.addTask(specOf(text));
  await trainMultiTask(model, [text], { steps: 60, batchSize: 16, lr: 3e-3, warmupSteps: 6, evalEvery: 60, evalExamples: 60, seed: 2 });
  model.lockTasks();
  const textBefore = await model.taskPath('words').logitsOf(text.test);
  const bars = barsTask(300, 'bars2');
  const before = new Set(model.store.all().map((c) => c.id));
  await searchTask(model, bars, { builtin: 'bars2' }, { children: 2, steps: 250, batchSize: 16, seed: 4 });
  const path = model.task('bars2').path;
  const stem = model.store.get(path.embeddings);
  assert.equal(stem.kind, 'image_stem');
  assert.equal(stem.owner, 'bars2');
  assert.ok(stem.locked, "the chosen path's stem is locked with it");
  assert.ok(!before.has(path.embeddings), `the stem ${path.embeddings} was made by the search`);
  assert.deepEqual(await model.taskPath('words').logitsOf(text.test), textBefore, 'text logits unchanged');
  const acc = await accuracy(model, bars);
  assert.ok(acc >= 0.8, `added image task's test accuracy ${acc}`);
});
