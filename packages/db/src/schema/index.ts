export * from './events.js';
export * from './replies.js';
export * from './pages.js';
export * from './audit.js';
export * from './instructions.js';
export * from './ai-switch.js';
export * from './conversations.js';
