// No-grad selection helpers: argmax and topk per row (NaN ranks highest, ties to the lower index).

import type { F32, Kernels } from '../kernels.js';
import { MAX_DIM, count, fail, need } from './checks.js';

/** NaN ranks above everything, then larger values, then lower indices (argmax, topk). */
function ranksBefore(row: F32, off: number, a: number, b: number): boolean {
  const va = row[off + a];
  const vb = row[off + b];
  const na = Number.isNaN(va);
  const nb = Number.isNaN(vb);
  if (na !== nb) return na;
  if (!na && va !== vb) return va > vb;
  return a < b;
}

export const selectKernels: Pick<Kernels, 'argmax' | 'topk'> = {
  argmax(out, x, rows, cols) {
    const k = 'argmax';
    count(k, 'rows', rows);
    count(k, 'cols', cols);
    if (rows > 0 && cols === 0) fail(k, true, 'cols must be positive');
    need(k, 'x', x.length, rows * cols);
    need(k, 'out', out.length, rows);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let best = 0;
      let bv = x[o];
      for (let j = 1; j < cols; j++) {
        const v = x[o + j];
        if (v > bv || (Number.isNaN(v) && !Number.isNaN(bv))) {
          bv = v;
          best = j;
        }
      }
      out[r] = best;
    }
  },

  topk(values, indices, x, rows, cols, k) {
    const name = 'topk';
    count(name, 'rows', rows);
    count(name, 'cols', cols, MAX_DIM);
    count(name, 'k', k, MAX_DIM);
    if (k > cols) fail(name, true, `k (${k}) exceeds cols (${cols})`);
    need(name, 'x', x.length, rows * cols);
    need(name, 'values', values.length, rows * k);
    need(name, 'indices', indices.length, rows * k);
    if (k === 0) return;
    const buf = new Int32Array(k <= 64 ? k : cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      if (k <= 64) {
        // bounded insertion: buf[0..c) holds the best so far, in rank order
        let c = 0;
        for (let j = 0; j < cols; j++) {
          if (c === k && !ranksBefore(x, o, j, buf[k - 1])) continue;
          let pos = c < k ? c++ : k - 1;
          while (pos > 0 && ranksBefore(x, o, j, buf[pos - 1])) {
            buf[pos] = buf[pos - 1];
            pos--;
          }
          buf[pos] = j;
        }
      } else {
        for (let j = 0; j < cols; j++) buf[j] = j;
        buf.sort((a, b) => (ranksBefore(x, o, a, b) ? -1 : ranksBefore(x, o, b, a) ? 1 : 0));
      }
      for (let i = 0; i < k; i++) {
        values[r * k + i] = x[o + buf[i]];
        indices[r * k + i] = buf[i];
      }
    }
  },
};
