// Training: configs, objectives, the pretraining loop, the multi-task trainer, checkpoints and
// model folders (fromPretrained).

export { ConfigError, mergeConfig } from './config.js';
export { DEFAULT_PRETRAIN, loadPretrainConfig, validatePretrainConfig, type PretrainConfig } from './pretrain_config.js';
export { maskTokens, type MaskedBatch } from './objectives.js';
export { pretrain, type PretrainOptions, type PretrainResult } from './pretrain.js';
export { CheckpointDir, loadModelWeights, saveModelDir, type SavedModel, type TrainerState } from './checkpoint.js';
export * from './pretrained.js';
export * from './multitask.js';
