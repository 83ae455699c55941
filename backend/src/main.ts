import { loadConfig, requireServiceEndpoints, runMain, schemas } from '@mailyard/core';
import { start } from './start.js';

runMain(
  'backend',
  () => loadConfig(schemas.http('service')),
  (config, log) => start(config, requireServiceEndpoints(config), log),
);
