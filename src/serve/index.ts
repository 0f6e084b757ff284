// `pathwise serve`: every task of one model over HTTP, with batches of mixed tasks.

export * from './serve_config.js';
export * from './api.js';
export * from './batcher.js';
export * from './metrics.js';
export * from './openapi.js';
export * from './server.js';
export * from './model_version.js';
export * from './versions.js';
export * from './inference_pool.js';
