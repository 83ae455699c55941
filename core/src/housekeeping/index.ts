export * from './trash-purge.task.js';
export * from './upload-sweep.task.js';
export * from './blob-reclaim.task.js';
export * from './spool-purge.task.js';
export * from './outbound-purge.task.js';
