export * from './store.js';
export * from './run-main.js';
export * from './tls.js';
export * from './lifecycle.js';
export * from './listen.js';
