// One model, many tasks: the component store, paths, the TaskModel every folder opens to, typed
// predictions, and model folders.

export * from './hparams.js';
export * from './components.js';
export * from './path.js';
export * from './predictions.js';
export * from './task_path.js';
export * from './task_model.js';
export * from './mixed_batch.js';
export * from './folder_config.js';
export * from './pretrained.js';
export * from './folder.js';
export * from './shared_model.js';
export { checkedParameter } from './weights_checks.js';
