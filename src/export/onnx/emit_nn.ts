// ONNX for the nn layer's modules, each the graph of its module's inference forward (dropout is
// the identity there): Linear, LayerNorm, the activations, self-attention, the dense FFN, the
// encoder block (with a path's low-rank update), the token embeddings, the image stem and the
// residual adapter. Values are [batch, sequence, dModel] throughout, with both axes dynamic.
// Parity with Pathwise's own forward is what test/integration/onnx_export.test.ts checks, module
// kind by module kind.

import {
  FeedForward,
  featureMaps,
  stemGrid,
  type Activation,
  type EmbeddingLowRank,
  type Embeddings,
  type ImageStem,
  type Linear,
  type EncoderBlock,
  type LayerNorm,
  type MultiHeadSelfAttention,
  type ResidualAdapter,
  type RouteContext,
  type FfnLike,
  type LowRankPair,
  type LowRankUpdate,
} from '../../nn/index.js';
import type { Tensor } from '../../engine/index.js';
import type { Graph } from './graph.js';
import { emitSparseFfn } from './emit_sparse.js';
import type { Weights } from './weights.js';

/**
 * x [..., in] -> [..., out]: x · Wᵀ + b, with Wᵀ stored once ([in, out]); with a path's low-rank
 * pair, + (x · Aᵀ) · Bᵀ after the bias, in the engine's order (nn/lora.ts). The pair's products
 * are float32 MatMuls whatever W's are: the engine runs them as fp32 GEMMs on the stored values.
 */
export function emitLinear(g: Graph, w: Weights, lin: Linear, x: string, name: string, lora: LowRankPair | null = null): string {
  const y = w.matmul(g, `${name}.weight`, x, lin.weight);
  const out = lin.bias ? g.op('Add', [y, w.param(g, `${name}.bias`, lin.bias)], lora ? `${name}.base` : name) : y;
  if (!lora) return out;
  const down = g.op('MatMul', [x, w.transposed(g, `${name}.lora_a`, lora.a)], `${name}.lora_down`);
  const low = g.op('MatMul', [down, w.transposed(g, `${name}.lora_b`, lora.b)], `${name}.lora_up`);
  return g.op('Add', [out, low], name);
}

/** The same for a stacked expert's weight: W [E, out, in] row `e`, bias [E, out] row `e`. */
export function emitStackedLinear(g: Graph, w: Weights, weight: Tensor, bias: Tensor, e: number, x: string, name: string): string {
  const y = w.matmul(g, `${name}.weight`, x, weight, e);
  return g.op('Add', [y, w.row(g, `${name}.bias`, bias, e)], name);
}

export function emitLayerNorm(g: Graph, w: Weights, ln: LayerNorm, x: string, name: string): string {
  return g.op('LayerNormalization', [x, w.param(g, `${name}.weight`, ln.weight), w.param(g, `${name}.bias`, ln.bias)], name, {
    axis: -1,
    epsilon: { float: ln.eps },
  });
}

/** gelu (erf), gelu_tanh, relu and tanh, as the engine's activation kernels compute them. */
export function emitActivation(g: Graph, a: Activation | 'tanh', x: string, name: string): string {
  switch (a) {
    case 'relu':
      return g.op('Relu', [x], name);
    case 'tanh':
      return g.op('Tanh', [x], name);
    case 'gelu': {
      // 0.5 · x · (1 + erf(x / √2))
      const e = g.op('Erf', [g.op('Mul', [x, g.scalar('inv_sqrt2', Math.SQRT1_2)], `${name}.scaled`)], `${name}.erf`);
      const one = g.op('Add', [e, g.scalar('one', 1)], `${name}.onep`);
      return g.op('Mul', [g.op('Mul', [x, g.scalar('half', 0.5)], `${name}.half`), one], name);
    }
    case 'gelu_tanh': {
      // 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))
      const x3 = g.op('Mul', [g.op('Mul', [x, x], `${name}.x2`), x], `${name}.x3`);
      const inner = g.op('Add', [x, g.op('Mul', [x3, g.scalar('gelu_c', 0.044715)], `${name}.cx3`)], `${name}.inner`);
      const t = g.op('Tanh', [g.op('Mul', [inner, g.scalar('sqrt_2_pi', Math.sqrt(2 / Math.PI))], `${name}.arg`)], `${name}.tanh`);
      return g.op('Mul', [g.op('Mul', [x, g.scalar('half', 0.5)], `${name}.half`), g.op('Add', [t, g.scalar('one', 1)], `${name}.onep`)], name);
    }
  }
}

/** act(linear(x)). */
export function emitLinearActivated(
  g: Graph,
  w: Weights,
  lin: Linear,
  a: Activation | 'tanh',
  x: string,
  name: string,
  lora: LowRankPair | null = null,
): string {
  return emitActivation(g, a, emitLinear(g, w, lin, x, `${name}.linear`, lora), name);
}

/**
 * Multi-head self-attention: softmax(Q Kᵀ / √Dh + mask) V per head, the fused QKV projection split
 * into Q, K, V (rows in that order), then the output projection. `mask` is additive,
 * [batch, 1, 1, sequence] (0 keeps a key, the lowest float removes it).
 */
export function emitAttention(
  g: Graph,
  w: Weights,
  attn: MultiHeadSelfAttention,
  x: string,
  mask: string,
  name: string,
  update: LowRankUpdate | null = null,
): string {
  const { dModel: D, heads: H } = attn.cfg;
  const Dh = D / H;
  const qkv = emitLinear(g, w, attn.qkv, x, `${name}.qkv`, update?.qkv);
  const [q, k, v] = g.opN('Split', [qkv, g.i64('qkv_split', [D, D, D])], [`${name}.q`, `${name}.k`, `${name}.v`], { axis: -1 });
  const heads = g.i64('heads_shape', [0, 0, H, Dh]); // Reshape: 0 copies the batch and sequence sizes
  const split = (t: string, perm: number[], n: string) => g.op('Transpose', [g.op('Reshape', [t, heads], `${n}.heads`)], n, { perm });
  const qh = split(q, [0, 2, 1, 3], `${name}.qh`); // [B, H, T, Dh]
  const kt = split(k, [0, 2, 3, 1], `${name}.kt`); // [B, H, Dh, T]
  const vh = split(v, [0, 2, 1, 3], `${name}.vh`);
  const scores = g.op('Mul', [g.op('MatMul', [qh, kt], `${name}.qk`), g.scalar(`attn_scale_${Dh}`, 1 / Math.sqrt(Dh))], `${name}.scores`);
  const probs = g.op('Softmax', [g.op('Add', [scores, mask], `${name}.masked`)], `${name}.probs`, { axis: -1 });
  const ctx = g.op('Transpose', [g.op('MatMul', [probs, vh], `${name}.ctx_heads`)], `${name}.ctx_t`, { perm: [0, 2, 1, 3] });
  const merged = g.op('Reshape', [ctx, g.i64('merge_shape', [0, 0, D])], `${name}.ctx`);
  return emitLinear(g, w, attn.out, merged, `${name}.out`, update?.out);
}

/** The dense FFN: fc2(act(fc1(x))), with a path's low-rank update of fc1 and fc2 where it has one. */
export function emitFeedForward(g: Graph, w: Weights, ffn: FeedForward, x: string, name: string, update: LowRankUpdate | null = null): string {
  const h = emitLinearActivated(g, w, ffn.fc1, ffn.cfg.activation, x, `${name}.fc1`, update?.fc1);
  return emitLinear(g, w, ffn.fc2, h, `${name}.fc2`, update?.fc2);
}

/** Any block's FFN: dense, or a sparse layer (a Switch layer, a skill layer: emit_sparse.ts). */
export function emitFfn(
  g: Graph,
  w: Weights,
  ffn: FfnLike,
  x: string,
  name: string,
  route: RouteContext | undefined,
  update: LowRankUpdate | null = null,
): string {
  if (ffn instanceof FeedForward) return emitFeedForward(g, w, ffn, x, name, update);
  return emitSparseFfn(g, w, ffn, x, name, route);
}

/**
 * pre-LN: h = x + attn(ln1(x)), y = h + ffn(ln2(h)); post-LN: h = ln1(x + attn(x)), y = ln2(h + ffn(h)).
 * `update`: the path's low-rank update of this block (nn/lora.ts), or none.
 */
export function emitBlock(
  g: Graph,
  w: Weights,
  b: EncoderBlock,
  x: string,
  mask: string,
  name: string,
  route: RouteContext | undefined,
  update: LowRankUpdate | null = null,
): string {
  if (b.cfg.normPlacement === 'post') {
    const h = emitLayerNorm(g, w, b.ln1, g.op('Add', [x, emitAttention(g, w, b.attn, x, mask, `${name}.attn`, update)], `${name}.res1`), `${name}.ln1`);
    return emitLayerNorm(g, w, b.ln2, g.op('Add', [h, emitFfn(g, w, b.ffn, h, `${name}.ffn`, route, update)], `${name}.res2`), `${name}.ln2`);
  }
  const h = g.op('Add', [x, emitAttention(g, w, b.attn, emitLayerNorm(g, w, b.ln1, x, `${name}.ln1`), mask, `${name}.attn`, update)], `${name}.res1`);
  return g.op('Add', [h, emitFfn(g, w, b.ffn, emitLayerNorm(g, w, b.ln2, h, `${name}.ln2`), `${name}.ffn`, route, update)], name);
}

/** x + up(gelu(down(norm(x)))). */
export function emitAdapter(g: Graph, w: Weights, a: ResidualAdapter, x: string, name: string): string {
  const h = emitLinearActivated(g, w, a.down, 'gelu', emitLayerNorm(g, w, a.norm, x, `${name}.norm`), `${name}.down`);
  return g.op('Add', [x, emitLinear(g, w, a.up, h, `${name}.up`)], name);
}

/** Token embeddings: word[input_ids] + position[0..T) + type[token_type_ids], then (post-LN models) a LayerNorm. */
export function emitEmbeddings(
  g: Graph,
  w: Weights,
  e: Embeddings,
  ids: string,
  typeIds: string,
  name: string,
  update: EmbeddingLowRank | null = null,
): string {
  const base = g.op('Gather', [w.table(g, `${name}.word`, e.word), ids], update ? `${name}.word_base` : `${name}.word_rows`);
  // The path's update, in the engine's order (nn/embedding_lora.ts): word + (A[ids] · Bᵀ).
  const word = update
    ? g.op(
        'Add',
        [
          base,
          g.op(
            'MatMul',
            [g.op('Gather', [w.table(g, `${name}.lora_a`, update.a), ids], `${name}.lora_rows`), w.transposed(g, `${name}.lora_b`, update.b)],
            `${name}.lora_up`,
          ),
        ],
        `${name}.word_rows`,
      )
    : base;
  const T = g.op('Gather', [g.op('Shape', [ids], `${name}.ids_shape`), g.i64('one_index', [1], [])], `${name}.seq_len`, { axis: 0 });
  const positions = g.op('Range', [g.i64('zero_i64', [0], []), T, g.i64('one_i64', [1], [])], `${name}.positions`);
  const pos = g.op('Gather', [w.table(g, `${name}.position`, e.position), positions], `${name}.position_rows`);
  const type = g.op('Gather', [w.table(g, `${name}.type`, e.type), typeIds], `${name}.type_rows`);
  const x = g.op('Add', [g.op('Add', [word, pos], `${name}.word_pos`), type], `${name}.sum`);
  return e.norm ? emitLayerNorm(g, w, e.norm, x, `${name}.norm`) : x;
}

/** A Linear over (y, x, channel)-ordered k × k neighbourhoods of `channels` values as a Conv kernel [out, channels, k, k]. */
function convKernel(lin: Linear, channels: number, k: number): Float32Array {
  const src = lin.weight.f32; // [out, k·k·channels]
  const out = lin.weight.shape[0];
  const kernel = new Float32Array(out * channels * k * k);
  for (let d = 0; d < out; d++)
    for (let y = 0; y < k; y++)
      for (let x = 0; x < k; x++)
        for (let c = 0; c < channels; c++) kernel[((d * channels + c) * k + y) * k + x] = src[d * k * k * channels + (y * k + x) * channels + c];
  return kernel;
}

/**
 * The image stem from raw pixels [batch, channels, height, width] (0-255, as floats): scaled to
 * -1..1, then the patch projection as the convolution it is (a patch × patch kernel, `stride`
 * apart; its weight is the projection's, reordered from (y, x, channel) to (channel, y, x)), the
 * [CLS] token (the projection of a zero patch: its bias) in front, and the learned positions. A
 * convolutional stem's layers come first, each a Conv and GELU: the first over the raw pixels
 * padded with 0 (background, -1 once scaled, as the data side pads), the later ones zero-padded;
 * the patches are then cut from the last map.
 */
export function emitImageStem(g: Graph, w: Weights, stem: ImageStem, pixels: string, name: string): string {
  const { patch: S, stride, dModel: D } = stem.cfg;
  const { cols, rows } = stemGrid(stem.cfg);
  const scale = (x: string, at: string) =>
    g.op('Sub', [g.op('Div', [x, g.scalar('pixel_half_range', 127.5)], `${at}.div`), g.scalar('one', 1)], `${at}.scaled`);
  let input = stem.conv.length ? pixels : scale(pixels, name);
  const maps = featureMaps(stem.cfg);
  (stem.cfg.conv ?? []).forEach(({ kernel: K, channels, stride = 1 }, i) => {
    const p = (K - 1) / 2;
    const at = `${name}.conv.${i}`;
    // The first layer pads the raw pixels with background (0, -1 once scaled), as the data side
    // does; later layers pad their maps with zeros, as the stem's row gather does.
    const x = i === 0 ? scale(g.op('Pad', [pixels, g.i64(`${at}.pads`, [0, 0, p, p, 0, 0, p, p])], `${at}.padded`, { mode: 'constant' }), at) : input;
    const conv = g.op(
      'Conv',
      [
        x,
        g.f32(`${at}.kernel`, convKernel(stem.conv[i], maps[i].channels, K), [channels, maps[i].channels, K, K]),
        g.f32(`${at}.bias`, stem.conv[i].bias!.f32, [channels]),
      ],
      `${at}.linear`,
      { kernel_shape: [K, K], strides: [stride, stride], ...(i === 0 ? {} : { pads: [p, p, p, p] }) },
    );
    input = emitActivation(g, 'gelu', conv, at);
  });
  const F = maps.at(-1)!.channels;
  const bias = stem.proj.bias!.f32;
  const conv = g.op(
    'Conv',
    [input, g.f32(`${name}.proj.kernel`, convKernel(stem.proj, F, S), [D, F, S, S]), g.f32(`${name}.proj.bias`, bias, [D])],
    `${name}.conv`,
    {
      kernel_shape: [S, S],
      strides: [stride, stride],
    },
  );
  const flat = g.op('Reshape', [conv, g.i64(`${name}.grid_shape`, [0, D, rows * cols])], `${name}.grid`);
  const patches = g.op('Transpose', [flat], `${name}.patches`, { perm: [0, 2, 1] }); // [B, P, D]
  // [CLS]: the bias, one row per image (Expand to the batch).
  const B = g.op('Slice', [g.op('Shape', [pixels], `${name}.pixels_shape`), g.i64('zero_1', [0]), g.i64('one_1', [1])], `${name}.batch`);
  const clsShape = g.op('Concat', [B, g.i64('one_d', [1, D])], `${name}.cls_shape`, { axis: 0 });
  const cls = g.op('Expand', [g.f32(`${name}.cls`, bias, [1, 1, D]), clsShape], `${name}.cls_rows`);
  const tokens = g.op('Concat', [cls, patches], `${name}.tokens`, { axis: 1 });
  return g.op('Add', [tokens, w.param(g, `${name}.position`, stem.position)], name);
}
