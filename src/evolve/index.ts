// μ2Net-style evolutionary paths: components shared by reference, paths, mutations, the search
// for a new task's path, and path-system model folders.

export * from './hparams.js';
export * from './components.js';
export * from './path.js';
export * from './path_model.js';
export * from './mutations.js';
export * from './evaluate.js';
export * from './train_path.js';
export * from './system.js';
export * from './search.js';
export * from './search_config.js';
export * from './io.js';
