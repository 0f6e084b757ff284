// Export: a task's path as an ONNX graph (onnx/), what the graph is fed (inputs.ts), and the
// exported folder in the transformers.js layout (folder.ts).
export * from './onnx/graph.js';
export * from './onnx/task_graph.js';
export * from './onnx/weights.js';
export * from './onnx/weights_int8.js';
export { priorSeenBuckets } from './onnx/emit_head.js';
export * from './inputs.js';
export * from './folder.js';
export * from './lexical_inputs.js';
