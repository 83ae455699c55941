import { loadConfig, schemas } from '@mailyard/core';
import { TEST_SECRET_KEY } from '../../tests/helpers/secrets.js';
import { describeWorkerStart } from '../../tests/helpers/worker-start.js';
import { start } from './start.js';

// SECRET_KEY: it opens the DKIM keys with it (no DATA_DIR/secret.key under the checkout).
describeWorkerStart('outbound-worker', () => loadConfig(schemas.outbound('local'), { LOG_LEVEL: 'silent', SECRET_KEY: TEST_SECRET_KEY }), start, 'its worker');
