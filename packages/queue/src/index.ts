export * from './names.js';
export * from './connections.js';
export * from './payloads.js';
export * from './job-options.js';
export * from './dedup.js';
export * from './redis-script.js';
export * from './sent-marker.js';
