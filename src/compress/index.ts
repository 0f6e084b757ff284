// Slimming a trained model: int8 quantization (distillation and pruning come here too).

export { quantizeModel, type QuantizeReport } from './quantize.js';
