// Starts a worker-pool worker whose module is TypeScript (tests run core from its sources, the
// services run the build): registers ts-source-hooks.mjs on this thread, then loads the module.
import { register } from 'node:module';
import { workerData } from 'node:worker_threads';

register('./ts-source-hooks.mjs', import.meta.url);
await import(workerData.module);
