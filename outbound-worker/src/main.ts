import { loadConfig, requireServiceEndpoints, runMain, schemas } from '@mailyard/core';
import { start } from './start.js';

runMain(
  'outbound-worker',
  () => loadConfig(schemas.outbound('service')),
  (config, log) => start(config, requireServiceEndpoints(config), log),
);
