// Layer norm and its backward (statistics in float64, saved mean and rstd rounded to float32).

import type { Kernels } from '../kernels.js';
import { count, need } from './checks.js';
import { f64a, f64b } from './scratch.js';

export const normKernels: Pick<Kernels, 'layerNorm' | 'layerNormBackward'> = {
  layerNorm(y, mean, rstd, x, gamma, beta, rows, cols, eps) {
    const k = 'layerNorm';
    count(k, 'rows', rows);
    count(k, 'cols', cols);
    need(k, 'x', x.length, rows * cols);
    need(k, 'y', y.length, rows * cols);
    need(k, 'mean', mean.length, rows);
    need(k, 'rstd', rstd.length, rows);
    need(k, 'gamma', gamma.length, cols);
    need(k, 'beta', beta.length, cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let mu = 0;
      let v = 0;
      if (cols > 0) {
        for (let j = 0; j < cols; j++) mu += x[o + j];
        mu /= cols;
        for (let j = 0; j < cols; j++) {
          const d = x[o + j] - mu;
          v += d * d;
        }
        v /= cols;
      }
      const mf = Math.fround(mu);
      const rf = Math.fround(1 / Math.sqrt(v + eps));
      mean[r] = mf;
      rstd[r] = rf;
      for (let j = 0; j < cols; j++) y[o + j] = (x[o + j] - mf) * rf * gamma[j] + beta[j];
    }
  },

  layerNormBackward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, rows, cols) {
    const k = 'layerNormBackward';
    count(k, 'rows', rows);
    count(k, 'cols', cols);
    need(k, 'dx', dx.length, rows * cols);
    need(k, 'dy', dy.length, rows * cols);
    need(k, 'x', x.length, rows * cols);
    need(k, 'mean', mean.length, rows);
    need(k, 'rstd', rstd.length, rows);
    need(k, 'gamma', gamma.length, cols);
    need(k, 'dgamma', dgamma.length, cols);
    need(k, 'dbeta', dbeta.length, cols);
    const dg = f64a(cols);
    const db = f64b(cols);
    dg.fill(0, 0, cols);
    db.fill(0, 0, cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const m = mean[r];
      const rs = rstd[r];
      let sa = 0;
      let sb = 0;
      for (let j = 0; j < cols; j++) {
        const d = dy[o + j];
        const xh = (x[o + j] - m) * rs;
        const g = d * gamma[j];
        sa += g;
        sb += g * xh;
        dg[j] += d * xh;
        db[j] += d;
      }
      const a = sa / cols;
      const b = sb / cols;
      for (let j = 0; j < cols; j++) {
        const xh = (x[o + j] - m) * rs;
        const g = dy[o + j] * gamma[j];
        dx[o + j] = rs * (g - a - xh * b);
      }
    }
    for (let j = 0; j < cols; j++) {
      dgamma[j] += dg[j];
      dbeta[j] += db[j];
    }
  },
};
