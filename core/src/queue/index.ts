export * from './queues.js';
export * from './redis.js';
export * from './worker-runner.js';
export * from './housekeeping.js';
