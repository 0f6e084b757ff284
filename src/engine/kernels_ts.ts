// The pure-TypeScript kernels: the fallback backend when the native addon is not built, and the
// oracle the native kernels are tested against. Correctness first: every kernel follows the
// contract in kernels.ts literally, computes in double precision (float64 accumulators for every
// reduction, float64 intermediates, one rounding to float32 on store) and validates its
// arguments the same way the native binding does (TypeError for an array too short for the
// shape, RangeError for a bad shape, leading dimension, op code or index).
//
// The kernels live in kernels_ts/, one file per family (gemm, elementwise, layout, norm, softmax,
// optim, attention, int8, select) over the shared argument checks, scratch buffers and scalar
// math; this module assembles them into the backend.

import type { Kernels } from './kernels.js';
import { attentionKernels } from './kernels_ts/attention.js';
import { elementwiseKernels } from './kernels_ts/elementwise.js';
import { gemmKernels } from './kernels_ts/gemm.js';
import { int8Kernels } from './kernels_ts/int8.js';
import { layoutKernels } from './kernels_ts/layout.js';
import { normKernels } from './kernels_ts/norm.js';
import { optimKernels } from './kernels_ts/optim.js';
import { selectKernels } from './kernels_ts/select.js';
import { softmaxKernels } from './kernels_ts/softmax.js';

export { erf, erfc, gelu } from './kernels_ts/math.js';

export const tsKernels: Kernels = {
  name: 'ts',
  ...gemmKernels,
  ...elementwiseKernels,
  ...layoutKernels,
  ...normKernels,
  ...softmaxKernels,
  ...optimKernels,
  ...attentionKernels,
  ...int8Kernels,
  ...selectKernels,
};
