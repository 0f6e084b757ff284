// The engine's public surface: tensors, autograd, ops, optimizers, RNG and backend control.

export * from './tensor.js';
export { backward, noGrad, isGradEnabled, type BackwardOptions } from './autograd.js';
export { inference } from './scope.js';
export { setPoolLimit } from './storage.js';
export { availableBackends, backendName, followBackend, setBackend, withBackend, blas, type BackendName, type Blas } from './backend.js';
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
