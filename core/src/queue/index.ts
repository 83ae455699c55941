export * from './queues.js';
export * from './redis.js';
export * from './worker-runner.js';
export * from './housekeeping.js';
export * from './spam-learn.js';
