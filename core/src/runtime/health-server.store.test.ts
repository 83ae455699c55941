import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { startHealthServer } from './health-server.js';

/**
 * The probes of a service without the HTTP API, on a real PostgreSQL, with a Redis client that
 * cannot reach its server: a worker is not ready without Redis, the MX (readyWithoutRedis) is,
 * since it spools mail in PostgreSQL and the reconciler queues it once Redis is back.
 */

let store: TestStore;
let unreachable: Redis;
beforeAll(async () => {
  store = await createTestStore();
  // Port 9 (discard) on loopback: refused at once, and no queueing of commands while offline.
  unreachable = new Redis({ host: '127.0.0.1', port: 9, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
  unreachable.on('error', () => undefined);
});
afterAll(async () => {
  unreachable?.disconnect();
  await store?.drop();
});

async function readyz(readyWithoutRedis: boolean | undefined) {
  const health = await startHealthServer({ db: store.db, redis: unreachable, readyWithoutRedis }, 0, '127.0.0.1');
  try {
    const res = await fetch(`http://127.0.0.1:${health.port}/readyz`);
    return [res.status, await res.json()];
  } finally {
    await health.close();
  }
}

describe('GET /readyz with Redis out of reach', () => {
  it('is 503 for a service that needs Redis', async () => {
    expect(await readyz(undefined)).toEqual([503, { status: 'not-ready', checks: { postgres: true, redis: false } }]);
  });

  it('is 200 for the MX, which still takes mail into the spool, and says Redis is down', async () => {
    expect(await readyz(true)).toEqual([200, { status: 'ready', checks: { postgres: true, redis: false } }]);
  });
});
