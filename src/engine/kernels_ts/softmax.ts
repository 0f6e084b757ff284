// Softmax and log-softmax (with an optional additive mask), and the fused cross-entropy with label
// smoothing and an ignored index; each with its backward.

import type { Kernels } from '../kernels.js';
import { checkTargets, count, fail, need } from './checks.js';
import { f64a } from './scratch.js';

export const softmaxKernels: Pick<Kernels, 'softmax' | 'softmaxBackward' | 'crossEntropy' | 'crossEntropyBackward'> = {
  softmax(y, x, rows, cols, mask, maskRow, log) {
    const k = 'softmax';
    count(k, 'rows', rows);
    count(k, 'cols', cols);
    if ((mask === null) !== (maskRow === null)) fail(k, false, 'mask and maskRow must be both null or both given');
    need(k, 'x', x.length, rows * cols);
    need(k, 'y', y.length, rows * cols);
    if (mask !== null && maskRow !== null && cols > 0) {
      need(k, 'maskRow', maskRow.length, rows);
      const maskRows = Math.floor(mask.length / cols);
      for (let r = 0; r < rows; r++) {
        const m = maskRow[r];
        if (m < 0 || m >= maskRows) fail(k, true, `maskRow[${r}] = ${m} is out of range for a mask of ${maskRows} rows`);
      }
    }
    const z = f64a(cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      if (mask !== null && maskRow !== null) {
        const mo = maskRow[r] * cols;
        for (let j = 0; j < cols; j++) z[j] = Math.fround(x[o + j] + mask[mo + j]);
      } else {
        for (let j = 0; j < cols; j++) z[j] = x[o + j];
      }
      let m = -Infinity;
      let nan = false;
      for (let j = 0; j < cols; j++) {
        const v = z[j];
        if (v > m) m = v;
        else if (Number.isNaN(v)) nan = true;
      }
      if (nan) m = NaN;
      else if (m === -Infinity) {
        y.fill(log ? -Infinity : 0, o, o + cols); // fully masked row (log: log 0)
        continue;
      }
      let s = 0;
      if (!log) {
        for (let j = 0; j < cols; j++) {
          const e = Math.exp(z[j] - m);
          z[j] = e;
          s += e;
        }
        for (let j = 0; j < cols; j++) y[o + j] = z[j] / s;
      } else {
        for (let j = 0; j < cols; j++) s += Math.exp(z[j] - m);
        const ls = Math.log(s);
        for (let j = 0; j < cols; j++) y[o + j] = z[j] - m - ls;
      }
    }
  },

  softmaxBackward(dx, y, dy, rows, cols, log) {
    const k = 'softmaxBackward';
    count(k, 'rows', rows);
    count(k, 'cols', cols);
    need(k, 'dx', dx.length, rows * cols);
    need(k, 'y', y.length, rows * cols);
    need(k, 'dy', dy.length, rows * cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let s = 0;
      if (!log) {
        for (let j = o; j < o + cols; j++) s += dy[j] * y[j];
        for (let j = o; j < o + cols; j++) dx[j] = y[j] * (dy[j] - s);
      } else {
        for (let j = o; j < o + cols; j++) s += dy[j];
        for (let j = o; j < o + cols; j++) dx[j] = dy[j] - Math.exp(y[j]) * s;
      }
    }
  },

  // --------------------------------------------------------------------------- cross-entropy
  crossEntropy(lse, logits, targets, rows, cols, ignoreIndex, smoothing) {
    const k = 'crossEntropy';
    count(k, 'rows', rows);
    count(k, 'cols', cols);
    need(k, 'logits', logits.length, rows * cols);
    need(k, 'lse', lse.length, rows);
    checkTargets(k, targets, rows, cols, ignoreIndex);
    let total = 0;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let m = -Infinity;
      let nan = false;
      for (let j = o; j < o + cols; j++) {
        const v = logits[j];
        if (v > m) m = v;
        else if (Number.isNaN(v)) nan = true;
      }
      let l: number;
      if (nan) l = NaN;
      else if (m === -Infinity) l = -Infinity;
      else {
        let s = 0;
        for (let j = o; j < o + cols; j++) s += Math.exp(logits[j] - m);
        l = m + Math.log(s);
      }
      lse[r] = l;
      const t = targets[r];
      if (t === ignoreIndex) continue;
      let loss = (1 - smoothing) * (l - logits[o + t]);
      if (smoothing !== 0) {
        let sx = 0;
        for (let j = o; j < o + cols; j++) sx += logits[j];
        loss += smoothing * (l - sx / cols);
      }
      total += loss;
    }
    return total;
  },

  crossEntropyBackward(dlogits, logits, lse, targets, rows, cols, ignoreIndex, smoothing, scale) {
    const k = 'crossEntropyBackward';
    count(k, 'rows', rows);
    count(k, 'cols', cols);
    need(k, 'dlogits', dlogits.length, rows * cols);
    need(k, 'logits', logits.length, rows * cols);
    need(k, 'lse', lse.length, rows);
    checkTargets(k, targets, rows, cols, ignoreIndex);
    const off = cols > 0 ? smoothing / cols : 0;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const t = targets[r];
      if (t === ignoreIndex) {
        dlogits.fill(0, o, o + cols);
        continue;
      }
      const L = lse[r];
      for (let j = o; j < o + cols; j++) dlogits[j] = scale * (Math.exp(logits[j] - L) - off);
      dlogits[o + t] = scale * (Math.exp(logits[o + t] - L) - (1 - smoothing) - off);
    }
  },
};
