// μ2Net's evolutionary paths: the mutations that make a child path, its brief training, and the
// search that adds a task to a running model (the components, paths and TaskModel it works on
// are src/model's).

export * from './mutations.js';
export * from './train_path.js';
export * from './search.js';
export * from './search_config.js';
