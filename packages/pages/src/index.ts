export * from './token-store.js';
export * from './held-sends.js';
export * from './release.js';
export * from './reseal.js';
export * from './token-aad.js';
export * from './token-status.js';
export * from './token-check.js';
export * from './graph-versions.js';
