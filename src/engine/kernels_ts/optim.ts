// The optimizer kernel: one fused AdamW step.

import type { Kernels } from '../kernels.js';
import { need } from './checks.js';

export const optimKernels: Pick<Kernels, 'adamw'> = {
  adamw(p, g, m, v, lr, beta1, beta2, eps, weightDecay, bc1, bc2) {
    const k = 'adamw';
    const n = p.length;
    need(k, 'g', g.length, n);
    need(k, 'm', m.length, n);
    need(k, 'v', v.length, n);
    const decay = 1 - lr * weightDecay;
    const step = lr / bc1;
    const sb2 = Math.sqrt(bc2);
    for (let i = 0; i < n; i++) {
      const gi = g[i];
      const mi = beta1 * m[i] + (1 - beta1) * gi;
      const vi = beta2 * v[i] + (1 - beta2) * gi * gi;
      p[i] = p[i] * decay - (step * mi) / (Math.sqrt(vi) / sb2 + eps);
      m[i] = mi;
      v[i] = vi;
    }
  },
};
