export * from './postgres.js';
export * from './redis.js';
export { type LocalRspamd, type LocalRspamdOptions, RSPAMD, startLocalRspamd } from './rspamd.js';
export { freePort, isProcessAlive, commandExists, stopChild } from './process-utils.js';
export { supervise, type Supervised } from './supervisor.js';
export { waitForReady, type StartupAnswer, type WaitReadyOptions } from './ready.js';
