export * from './logger.js';
export * from './counters.js';
export * from './latency.js';
export * from './series.js';
export * from './metrics.js';
export * from './outage.js';
