// The engine's public surface: tensors, autograd, ops, optimizers, RNG and backend control.

export * from './tensor.js';
export { backward, noGrad, isGradEnabled, type BackwardOptions } from './autograd.js';
export { inference } from './scope.js';
export { setPoolLimit } from './storage.js';
export {
  availableBackends,
  backendName,
  followBackend,
  setBackend,
  withBackend,
  withKernels,
  currentKernels,
  blas,
  int8,
  type BackendName,
  type Blas,
  type Int8Paths,
} from './backend.js';
export { BLOCK_BYTES_I8, KBLOCK_I8, NBLOCK_I8, QMAX_I8, packI8, packedLengthI8, padKI8, padNI8, roundHalfEven } from './int8.js';
export { Rng, type RngState } from './rng.js';
export * from './ops/matmul.js';
export * from './ops/elementwise.js';
export * from './ops/reduce.js';
export * from './ops/shape.js';
export * from './ops/activation.js';
export * from './ops/norm.js';
export * from './ops/softmax.js';
export * from './ops/attention.js';
export * from './ops/grouped.js';
export * from './ops/gather.js';
export * from './ops/loss.js';
export * from './ops/select.js';
export * from './optim/adamw.js';
export * from './optim/clip.js';
export * from './optim/schedule.js';
export * from './safetensors.js';
export * from './ops/linear_int8.js';
export { quantizeParameter, setInt8, int8Of, dropInt8, dequantizeForm, type Int8Rows } from './quantized.js';
export { dequantizeI8, quantizeWeightsI8 } from './int8.js';
