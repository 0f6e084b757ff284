// ONNX for the sparse layer's FFNs.
//
// A Switch layer exports every expert, whichever tokens an example input sends where: tracing a
// mixture of experts keeps only the experts the tracing input reached, and a graph written from
// the modules cannot make that mistake. The router, its top-k choice, the capacity rule and the
// combine are graph ops, computed per batch as Pathwise computes them (sparse/router.ts,
// sparse/dispatch.ts): choices are kept in priority order (every token's first choice, then every
// token's second, ...; within a rank, token order) until an expert holds its capacity,
// ceil(factor · tokens · k / experts) at the layer's evaluation capacity factor. Each expert then
// runs on the rows routed to it only (NonZero → GatherND → its FFN → ScatterND add), so the graph
// does a Switch layer's FLOPs, not every expert's on every token.
//
// A skill layer exports the path's skills only (the task's row of the skill table is fixed at
// export): the mean of their FFNs.

import { SkillFFN, SwitchFFN } from '../../sparse/index.js';
import type { FfnLike, RouteContext } from '../../nn/index.js';
import type { Graph } from './graph.js';
import { emitActivation, emitFfn, emitStackedLinear } from './emit_nn.js';
import type { Weights } from './weights.js';

export function emitSparseFfn(g: Graph, w: Weights, ffn: FfnLike, x: string, name: string, route: RouteContext | undefined): string {
  if (ffn instanceof SwitchFFN) return emitSwitch(g, w, ffn, x, name);
  if (ffn instanceof SkillFFN) return emitSkills(g, w, ffn, x, name, route);
  throw new Error(`${name}: no ONNX export for an FFN of kind ${ffn.constructor.name}`);
}

function emitSkills(g: Graph, w: Weights, ffn: SkillFFN, x: string, name: string, route: RouteContext | undefined): string {
  const mine = (route?.skills ?? []).filter((s) => ffn.skills.has(s));
  if (mine.length === 0) throw new Error(`${name}: the path activates none of this skill layer's skills [${[...ffn.skills.keys()].join(', ')}]`);
  let sum: string | null = null;
  for (const s of mine) {
    const y = emitFfn(g, w, ffn.skills.get(s)!, x, `${name}.skills.${s}`, route);
    sum = sum ? g.op('Add', [sum, y], `${name}.sum`) : y;
  }
  return mine.length === 1 ? sum! : g.op('Mul', [sum!, g.scalar(`inv_${mine.length}`, 1 / mine.length)], name);
}

function emitSwitch(g: Graph, w: Weights, ffn: SwitchFFN, x: string, name: string): string {
  const { experts: nE, topK: k, normalizeTopK, evalCapacityFactor } = ffn.cfg;
  const D = ffn.router.dModel;
  const xf = g.op('Reshape', [x, g.i64('rows_shape', [-1, D])], `${name}.rows`); // [N, D]
  const logits = g.op('MatMul', [xf, w.transposed(g, `${name}.router.weight`, ffn.router.weight)], `${name}.router_logits`);
  const probs = g.op('Softmax', [logits], `${name}.router_probs`, { axis: -1 });
  const [top, choice] = g.opN('TopK', [probs, g.i64(`k_${k}`, [k])], [`${name}.top_probs`, `${name}.choice`], { axis: -1, largest: 1, sorted: 1 });
  const gates =
    k > 1 && normalizeTopK ? g.op('Div', [top, g.op('ReduceSum', [top, g.i64('axis_1', [1])], `${name}.top_sum`, { keepdims: 1 })], `${name}.gates`) : top;
  // One-hot choices [N, k, E], and which are kept under the capacity.
  const onehot = g.op(
    'OneHot',
    [choice, g.i64(`depth_${nE}`, [nE], []), g.init('onehot_values', { type: 'float32', dims: [2], data: Float32Array.of(0, 1) })],
    `${name}.onehot`,
    {
      axis: -1,
    },
  );
  let kept = onehot;
  if (evalCapacityFactor !== null) {
    // Priority order: rank-major ([k, N, E] flattened to [k·N, E]); a choice's place in its expert's queue is a running count.
    const byRank = g.op('Reshape', [g.op('Transpose', [onehot], `${name}.by_rank`, { perm: [1, 0, 2] }), g.i64(`rank_rows_${nE}`, [-1, nE])], `${name}.queue`);
    const place = g.op('CumSum', [byRank, g.i64('zero_i64', [0], [])], `${name}.place`);
    const N = g.op('Cast', [g.op('Gather', [g.op('Shape', [xf], `${name}.rows_shape`), g.i64('zero_i64', [0], [])], `${name}.n`, { axis: 0 })], `${name}.n_f`, {
      to: 1,
    });
    const capacity = g.op(
      'Ceil',
      [g.op('Mul', [N, g.scalar(`capacity_${evalCapacityFactor}_${k}_${nE}`, (evalCapacityFactor * k) / nE)], `${name}.cap_raw`)],
      `${name}.capacity`,
    );
    const fits = g.op('Cast', [g.op('LessOrEqual', [place, capacity], `${name}.fits_b`)], `${name}.fits`, { to: 1 });
    const keptRank = g.op('Mul', [byRank, fits], `${name}.kept_queue`);
    const kN = g.op('Reshape', [keptRank, g.i64(`rank_shape_${k}_${nE}`, [k, -1, nE])], `${name}.kept_by_rank`);
    kept = g.op('Transpose', [kN], `${name}.kept`, { perm: [1, 0, 2] }); // [N, k, E]
  }
  // Per token and expert: whether it is routed there (0/1), and its gate there.
  const routed = g.op('ReduceSum', [kept, g.i64('axis_1', [1])], `${name}.routed`, { keepdims: 0 }); // [N, E]
  const weighted = g.op('Mul', [kept, g.op('Unsqueeze', [gates, g.i64('axis_m1', [-1])], `${name}.gates_e`)], `${name}.weighted`);
  const combine = g.op('ReduceSum', [weighted, g.i64('axis_1', [1])], `${name}.combine`, { keepdims: 0 }); // [N, E]
  let out = g.op('Mul', [xf, g.scalar('zero', 0)], `${name}.acc0`); // zeros [N, D]
  const { w1, b1, w2, b2 } = ffn.experts;
  for (let e = 0; e < nE; e++) {
    const en = `${name}.experts.${e}`;
    const col = g.op('Gather', [routed, g.i64(`e_${e}`, [e], [])], `${en}.routed`, { axis: 1 }); // [N]
    const idx = g.op('Transpose', [g.op('NonZero', [col], `${en}.nonzero`)], `${en}.rows`, { perm: [1, 0] }); // [M, 1]
    const xs = g.op('GatherND', [xf, idx], `${en}.x`);
    const h = emitActivation(g, ffn.activation, emitStackedLinear(g, w, w1, b1, e, xs, `${en}.fc1`), `${en}.act`);
    const ys = emitStackedLinear(g, w, w2, b2, e, h, `${en}.fc2`);
    const gate = g.op('GatherND', [g.op('Gather', [combine, g.i64(`e_${e}`, [e], [])], `${en}.gate_col`, { axis: 1 }), idx], `${en}.gate`);
    const gated = g.op('Mul', [ys, g.op('Unsqueeze', [gate, g.i64('axis_m1', [-1])], `${en}.gate_1`)], `${en}.gated`);
    out = g.op('ScatterND', [out, idx, gated], `${en}.out`, { reduction: 'add' });
  }
  return g.op('Reshape', [out, g.op('Shape', [x], `${name}.in_shape`)], name);
}
