import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, schemas, silentLogger } from '@mailyard/core';
import { watchLeaks, type LeakWatch } from '../../tests/helpers/leaks.js';
import { allocateRedisUrl } from '../../tests/helpers/redis.js';
import { closedPort } from '../../tests/helpers/smtp-test-env.js';
import { createTestStore, type TestStore } from '../../tests/helpers/store.js';
import { start } from './start.js';

let store: TestStore;
let redis: Awaited<ReturnType<typeof allocateRedisUrl>>;
let watch: LeakWatch | undefined;

beforeAll(async () => {
  store = await createTestStore();
  redis = await allocateRedisUrl();
});

afterEach(async () => {
  await watch?.close();
  watch = undefined;
});

afterAll(async () => {
  await redis?.flush();
  await store?.drop();
});

const config = () => loadConfig(schemas.outbound('local'), { LOG_LEVEL: 'silent' });

describe('outbound-worker start()', () => {
  it('fails with redis.unreachable when Redis refuses, after closing the pool it opened and its Redis connections', async () => {
    watch = await watchLeaks({ databaseUrl: store.url, applicationName: 'outbound-worker' });
    await expect(start(config(), { databaseUrl: store.url, redisUrl: `redis://127.0.0.1:${await closedPort()}` }, silentLogger())).rejects.toThrow(/Redis does not answer/);
    await watch.expectNothingLeftOpen();
  });

  it('starts its worker, and leaves nothing open after stop()', async () => {
    watch = await watchLeaks({ databaseUrl: store.url, applicationName: 'outbound-worker', redisUrl: redis.url });
    const worker = await start(config(), { databaseUrl: store.url, redisUrl: redis.url }, silentLogger());
    await worker.stop();
    await watch.expectNothingLeftOpen();
  });
});
