export * from './events.js';
export * from './api.js';
