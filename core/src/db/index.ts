export * from './client.js';
export * from './migrate.js';
export type * from './schema.js';
