export * from './trash-purge.task.js';
export * from './upload-sweep.task.js';
