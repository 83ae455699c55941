import { loadConfig, schemas } from '@mailyard/core';
import { describeWorkerStart } from '../../tests/helpers/worker-start.js';
import { start } from './start.js';

describeWorkerStart('inbound-worker', () => loadConfig(schemas.inbound('local'), { LOG_LEVEL: 'silent' }), start, 'its worker and housekeeping');
