import { loadConfig, schemas } from '@mailyard/core';
import { describeWorkerStart } from '../../tests/helpers/worker-start.js';
import { start } from './start.js';

describeWorkerStart('outbound-worker', () => loadConfig(schemas.outbound('local'), { LOG_LEVEL: 'silent' }), start, 'its worker');
