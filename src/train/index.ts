// Training: the configs (one schema each), objectives, the shared training step, the pretraining
// loop, the multi-task trainer and checkpoints. Model folders are src/model's.

export { ConfigError, loadConfig, type Overrides } from './config.js';
export { DEFAULT_PRETRAIN, loadPretrainConfig, pretrainConfigSchema, validatePretrainConfig, type PretrainConfig } from './pretrain_config.js';
export { lexicalFor, loadTrainConfig, trainConfigSchema, trainOptionsSchema, type TrainConfig, type TrainOptions } from './train_config.js';
export { maskTokens, type MaskedBatch } from './objectives.js';
export { Trainer, decays, freeze, paramGroups, withFrozen, type StepMetrics } from './step.js';
export { pretrain, type PretrainOptions, type PretrainResult } from './pretrain.js';
export { CheckpointDir, loadModelWeights, type TrainerState } from './checkpoint.js';
export * from './multitask.js';
export { warmLexicalHeads, type LexicalWarmupOptions } from './lexical_warmup.js';
export { PRIOR_DEV_EXAMPLES, PRIOR_WEIGHTS, fitPriors, type FitPriorOptions, type PriorFit } from './fit_prior.js';
