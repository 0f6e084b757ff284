// Pathwise's library entry point.
//
//   import { Pathwise } from 'pathwise';
//   const model = await Pathwise.fromPretrained('runs/train/model');
//   await model.predict('sent', ['What a lovely film.']);   // ['positive']

import { loadTaskModel } from './evolve/io.js';
import type { PathSystem } from './evolve/system.js';
import type { MultiTaskModel } from './tasks/multitask_model.js';

export const Pathwise = {
  /**
   * Loads a trained model folder (model.safetensors, config.json, tokenizer.json): a `pathwise
   * train` folder gives a MultiTaskModel, a path system (a folder `pathwise add-task` wrote) a
   * PathSystem. Both predict(task, inputs), encode(task, examples), logits(task, batch) and list
   * their tasks in `tasks`, so code that only predicts need not tell them apart.
   */
  fromPretrained(dir: string): MultiTaskModel | PathSystem {
    const m = loadTaskModel(dir);
    return m.kind === 'path_system' ? m.system : m.model;
  },
};

export * as engine from './engine/index.js';
export * as nn from './nn/index.js';
export * as sparse from './sparse/index.js';
export * as evolve from './evolve/index.js';
export * as data from './data/index.js';
export * as tasks from './tasks/index.js';
export * as train from './train/index.js';
export { Tokenizer } from './data/tokenizer/index.js';
export { fromPretrained, loadMultiTask, saveMultiTask } from './train/pretrained.js';
export { pretrain } from './train/pretrain.js';
export { trainMultiTask, evaluateTask } from './train/multitask.js';
export { MultiTaskModel } from './tasks/multitask_model.js';
export { PathSystem } from './evolve/system.js';
export { loadBuiltinTask, BUILTIN_TASK_NAMES } from './tasks/builtin/index.js';
export { loadTaskFromFiles } from './tasks/from_files.js';
