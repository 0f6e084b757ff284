// Pathwise's library entry point.
//
//   import { Pathwise } from 'pathwise';
//   const model = Pathwise.fromPretrained('runs/train/model');
//   await model.predict('sent', ['What a lovely film.']);   // [{ label: 'positive', score: 0.93, scores: {...} }]

import { loadModel } from './model/folder.js';
import type { TaskModel } from './model/task_model.js';

export const Pathwise = {
  /**
   * Opens any model folder as a TaskModel: a `pathwise train` folder, one `pathwise add-task` has
   * grown, a pretrained base or a Hugging Face BERT folder (those two with no task yet).
   */
  fromPretrained(dir: string): TaskModel {
    return loadModel(dir);
  },
};

export * as engine from './engine/index.js';
export * as nn from './nn/index.js';
export * as sparse from './sparse/index.js';
export * as evolve from './evolve/index.js';
export * from './model/index.js';
export * as data from './data/index.js';
export * as tasks from './tasks/index.js';
export * as train from './train/index.js';
export * as compress from './compress/index.js';
export { exportOnnx, taskGraph } from './export/index.js';
// The server (Fastify, prom-client) is only at 'pathwise/serve', so that importing the library
// does not load an HTTP stack.
export { Tokenizer } from './data/tokenizer/index.js';
export { pretrain } from './train/pretrain.js';
export { trainMultiTask, evaluateTask } from './train/multitask.js';
export { loadBuiltinTask, BUILTIN_TASK_NAMES } from './tasks/builtin/index.js';
export { loadTaskFromFiles } from './tasks/from_files.js';
