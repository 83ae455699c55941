export * from './postgres.js';
export * from './redis.js';
export { freePort, isProcessAlive, commandExists } from './process-utils.js';
