export * from './router.js';
export * from './dispatch.js';
export * from './aux_losses.js';
export * from './switch_ffn.js';
export * from './skill_table.js';
export * from './skill_ffn.js';
export * from './config.js';
export * from './accounting.js';
