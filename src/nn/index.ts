export * from './module.js';
export * from './init.js';
export * from './linear.js';
export * from './layer_norm.js';
export * from './attention.js';
export * from './ffn.js';
export * from './encoder_block.js';
