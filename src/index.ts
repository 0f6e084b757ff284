// Pathwise's library entry point.
//
//   import { Pathwise } from 'pathwise';
//   const model = await Pathwise.fromPretrained('runs/train/model');
//   await model.predict('sent', ['What a lovely film.']);   // ['positive']

import { loadMultiTask } from './train/pretrained.js';
import type { MultiTaskModel } from './tasks/multitask_model.js';

export const Pathwise = {
  /** Loads a trained multi-task model folder (model.safetensors, config.json, tokenizer.json). */
  fromPretrained(dir: string): MultiTaskModel {
    return loadMultiTask(dir).model;
  },
};

export * as engine from './engine/index.js';
export * as nn from './nn/index.js';
export * as sparse from './sparse/index.js';
export { Tokenizer } from './data/tokenizer/index.js';
export { fromPretrained, loadMultiTask, saveMultiTask } from './train/pretrained.js';
export { pretrain } from './train/pretrain.js';
export { trainMultiTask, evaluateTask } from './train/multitask.js';
export { MultiTaskModel } from './tasks/multitask_model.js';
export { loadBuiltinTask, BUILTIN_TASK_NAMES } from './tasks/builtin/index.js';
export { loadTaskFromFiles } from './tasks/from_files.js';
