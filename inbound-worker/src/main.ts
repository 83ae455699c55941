import { loadConfig, requireServiceEndpoints, runMain, schemas } from '@mailyard/core';
import { start } from './start.js';

runMain(
  'inbound-worker',
  () => loadConfig(schemas.inbound('service')),
  (config, log) => start(config, requireServiceEndpoints(config), log),
);
