// Training: configs, objectives, the pretraining loop, the multi-task trainer, checkpoints and
// model folders (fromPretrained).

export { ConfigError, mergeConfig } from './config.js';
export * from './pretrain_config.js';
export * from './objectives.js';
export * from './pretrain.js';
export * from './checkpoint.js';
export * from './pretrained.js';
export * from './multitask.js';
