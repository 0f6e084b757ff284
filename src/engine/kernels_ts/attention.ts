// The fused attention of inference: the twin of native/attention.cc's attentionInference, following
// the contract's float32 arithmetic step by step (kernels.ts).

import type { Kernels } from '../kernels.js';
import { MAX_DIM, count, fail, need, typed } from './checks.js';
import { f64a, f64b } from './scratch.js';

export const attentionKernels: Pick<Kernels, 'attentionInference'> = {
  attentionInference(ctx, X, batch, T, H, Dh, keyMask, causal) {
    const k = 'attentionInference';
    typed(k, 'ctx', ctx, Float32Array, 'Float32Array');
    typed(k, 'X', X, Float32Array, 'Float32Array');
    count(k, 'batch', batch, MAX_DIM);
    count(k, 'T', T, MAX_DIM);
    count(k, 'H', H, MAX_DIM);
    count(k, 'Dh', Dh, MAX_DIM);
    if (keyMask !== null) typed(k, 'keyMask', keyMask, Float32Array, 'Float32Array or null');
    if (typeof causal !== 'boolean') fail(k, false, 'causal must be a boolean');
    if (batch < 1 || T < 1 || H < 1 || Dh < 1) fail(k, true, `batch, T, H and Dh must be positive, got ${batch}, ${T}, ${H}, ${Dh}`);
    const D = H * Dh;
    if (D > MAX_DIM / 3) fail(k, true, `H * Dh (${D}) is too large`);
    const D3 = 3 * D;
    need(k, 'X', X.length, batch * T * D3);
    need(k, 'ctx', ctx.length, batch * T * D);
    if (keyMask !== null) need(k, 'keyMask', keyMask.length, batch * T);
    // The contract's arithmetic (kernels.ts), step by step; fma(a, b, c) as fround(a * b + c).
    const fr = Math.fround;
    const scale = fr(1 / Math.sqrt(Dh));
    const J = new Int32Array(T);
    const x = f64a(T);
    const acc = f64b(Dh);
    for (let b = 0; b < batch; b++) {
      let n = 0;
      for (let j = 0; j < T; j++) if (keyMask === null || keyMask[b * T + j] !== -Infinity) J[n++] = j;
      const base = b * T * D3;
      for (let h = 0; h < H; h++) {
        let seen = 0;
        for (let i = 0; i < T; i++) {
          const o = (b * T + i) * D + h * Dh;
          let m = n;
          if (causal) {
            while (seen < n && J[seen] <= i) seen++;
            m = seen;
          }
          if (m === 0) {
            ctx.fill(0, o, o + Dh);
            continue;
          }
          const q = base + i * D3 + h * Dh;
          let mx = -Infinity;
          let nan = false;
          for (let c = 0; c < m; c++) {
            const kj = base + J[c] * D3 + D + h * Dh;
            let dot = 0;
            for (let d = 0; d < Dh; d++) dot = fr(X[q + d] * X[kj + d] + dot);
            let v = fr(dot * scale);
            if (keyMask !== null) v = fr(v + keyMask[b * T + J[c]]);
            x[c] = v;
            if (v > mx) mx = v;
            else if (Number.isNaN(v)) nan = true;
          }
          if (mx === -Infinity) {
            ctx.fill(nan ? NaN : 0, o, o + Dh);
            continue;
          }
          let s = 0;
          for (let c = 0; c < m; c++) {
            const z = fr(x[c] - mx);
            const e = z < -86.5 ? 0 : fr(Math.exp(z));
            x[c] = e;
            s += e;
          }
          const inv = fr(1 / s);
          acc.fill(0);
          for (let c = 0; c < m; c++) {
            const p = fr(x[c] * inv);
            const vj = base + J[c] * D3 + 2 * D + h * Dh;
            for (let d = 0; d < Dh; d++) acc[d] = fr(p * X[vj + d] + acc[d]);
          }
          for (let d = 0; d < Dh; d++) ctx[o + d] = acc[d];
        }
      }
    }
  },
};
