// Layout and reductions: summing and expanding an axis, transposing, the sum of squares, and
// gathering / scatter-adding rows by index.

import type { Kernels } from '../kernels.js';
import { checkIndices, count, need } from './checks.js';
import { f64a } from './scratch.js';

export const layoutKernels: Pick<
  Kernels,
  'sumAxis' | 'expandAxis' | 'transpose' | 'sumSquares' | 'gatherRows' | 'scatterAddRows' | 'scatterAddRowsScaled' | 'scatterAddRowsScaledBackward'
> = {
  sumAxis(out, a, outer, n, inner) {
    const k = 'sumAxis';
    count(k, 'outer', outer);
    count(k, 'n', n);
    count(k, 'inner', inner);
    need(k, 'a', a.length, outer * n * inner);
    need(k, 'out', out.length, outer * inner);
    const acc = f64a(inner);
    for (let o = 0; o < outer; o++) {
      acc.fill(0, 0, inner);
      const base = o * n * inner;
      for (let r = 0; r < n; r++) {
        const row = base + r * inner;
        for (let j = 0; j < inner; j++) acc[j] += a[row + j];
      }
      for (let j = 0; j < inner; j++) out[o * inner + j] = acc[j];
    }
  },

  expandAxis(out, a, outer, n, inner) {
    const k = 'expandAxis';
    count(k, 'outer', outer);
    count(k, 'n', n);
    count(k, 'inner', inner);
    need(k, 'a', a.length, outer * inner);
    need(k, 'out', out.length, outer * n * inner);
    for (let o = 0; o < outer; o++) {
      for (let r = 0; r < n; r++) {
        const dst = (o * n + r) * inner;
        for (let j = 0; j < inner; j++) out[dst + j] = a[o * inner + j];
      }
    }
  },

  transpose(out, a, outer, X, Y, inner) {
    const k = 'transpose';
    count(k, 'outer', outer);
    count(k, 'X', X);
    count(k, 'Y', Y);
    count(k, 'inner', inner);
    const total = outer * X * Y * inner;
    need(k, 'a', a.length, total);
    need(k, 'out', out.length, total);
    const plane = X * Y * inner;
    for (let o = 0; o < outer; o++) {
      const base = o * plane;
      for (let x = 0; x < X; x++) {
        for (let y = 0; y < Y; y++) {
          const s = base + (x * Y + y) * inner;
          const d = base + (y * X + x) * inner;
          for (let i = 0; i < inner; i++) out[d + i] = a[s + i];
        }
      }
    }
  },

  sumSquares(a) {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i] * a[i];
    return s;
  },

  // ------------------------------------------------------------------------ gather / scatter
  gatherRows(out, src, idx, cols) {
    const k = 'gatherRows';
    count(k, 'cols', cols);
    need(k, 'out', out.length, idx.length * cols);
    if (cols === 0) return;
    checkIndices(k, idx, Math.floor(src.length / cols), 'src');
    for (let i = 0; i < idx.length; i++) {
      const s = idx[i] * cols;
      out.set(src.subarray(s, s + cols), i * cols);
    }
  },

  scatterAddRows(out, src, idx, cols, zeroFirst = false) {
    const k = 'scatterAddRows';
    count(k, 'cols', cols);
    need(k, 'src', src.length, idx.length * cols);
    if (cols > 0) checkIndices(k, idx, Math.floor(out.length / cols), 'out');
    if (zeroFirst) out.fill(0); // after the checks: a bad call changes nothing
    if (cols === 0) return;
    for (let i = 0; i < idx.length; i++) {
      const d = idx[i] * cols;
      const s = i * cols;
      for (let j = 0; j < cols; j++) out[d + j] += src[s + j];
    }
  },

  scatterAddRowsScaled(out, src, scale, idx, cols, zeroFirst = false) {
    const k = 'scatterAddRowsScaled';
    count(k, 'cols', cols);
    need(k, 'src', src.length, idx.length * cols);
    need(k, 'scale', scale.length, idx.length);
    if (cols > 0) checkIndices(k, idx, Math.floor(out.length / cols), 'out');
    if (zeroFirst) out.fill(0); // after the checks: a bad call changes nothing
    if (cols === 0) return;
    for (let i = 0; i < idx.length; i++) {
      const d = idx[i] * cols;
      const s = i * cols;
      const w = scale[i];
      for (let j = 0; j < cols; j++) out[d + j] += w * src[s + j];
    }
  },

  scatterAddRowsScaledBackward(dsrc, dscale, dout, src, scale, idx, cols) {
    const k = 'scatterAddRowsScaledBackward';
    count(k, 'cols', cols);
    need(k, 'dsrc', dsrc.length, idx.length * cols);
    need(k, 'src', src.length, idx.length * cols);
    need(k, 'dscale', dscale.length, idx.length);
    need(k, 'scale', scale.length, idx.length);
    if (cols === 0) {
      dscale.fill(0, 0, idx.length);
      return;
    }
    checkIndices(k, idx, Math.floor(dout.length / cols), 'dout');
    for (let i = 0; i < idx.length; i++) {
      const g = idx[i] * cols;
      const s = i * cols;
      const w = scale[i];
      let dot = 0;
      for (let j = 0; j < cols; j++) {
        dsrc[s + j] = w * dout[g + j];
        dot += Math.fround(dout[g + j] * src[s + j]); // float products, as the native kernel (and a row product) rounds them
      }
      dscale[i] = dot;
    }
  },
};
