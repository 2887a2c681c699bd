export * from './schema/index.js';
export * from './client.js';
export * from './ai-switch-store.js';
export * from './migrate.js';
