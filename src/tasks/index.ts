// Tasks: task data and types, the built-in tasks, tasks from JSONL/CSV files, heads, batch
// encoding, metrics, scoring and the floor baselines.

export * from './task.js';
export * from './builtin/index.js';
export { TASK_FLOORS, floorOf, type TaskFloor } from './builtin/floors.js';
export { BUILTIN_SKILLS } from './builtin/skills.js';
export { DEFAULT_DEV_FRACTION, TaskDataError, loadTaskFromFiles, readTaskFile, type TaskFileConfig, type TaskFileFormat } from './from_files.js';
export * from './heads.js';
export * from './ngrams.js';
export * from './naive_bayes_prior.js';
export * from './encode.js';
export * from './batches.js';
export * from './metrics.js';
export * from './score.js';
export * from './baselines.js';
