import { loadConfig, requireServiceEndpoints, runMain, schemas } from '@mailyard/core';
import { start } from './start.js';

// One service per process (a container in compose.yaml): DATABASE_URL and REDIS_URL are required.
runMain(
  'imap-server',
  () => loadConfig(schemas.imap('service')),
  (config, log) => start(config, requireServiceEndpoints(config), log),
);
