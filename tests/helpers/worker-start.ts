import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type Logger, type Running } from '@mailyard/core';
import { watchLeaks, type LeakWatch } from './leaks.js';
import { allocateRedisUrl } from './redis.js';
import { closedPort } from './smtp-test-env.js';
import { createTestStore, type TestStore } from './store.js';

/**
 * The start/stop tests both workers share: a start that fails (Redis refuses) closes what it
 * opened, and a start followed by stop() leaves nothing open (PostgreSQL connections of the
 * service's application name, Redis clients, sockets, servers, timers).
 */
export function describeWorkerStart<C>(
  name: 'inbound-worker' | 'outbound-worker',
  config: () => C,
  start: (config: C, endpoints: { databaseUrl: string; redisUrl: string }, log: Logger) => Promise<Running>,
  what: string,
): void {
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

  describe(`${name} start()`, () => {
    it('fails with redis.unreachable when Redis refuses, after closing the pool it opened and its Redis connections', async () => {
      watch = await watchLeaks({ databaseUrl: store.url, applicationName: name });
      await expect(start(config(), { databaseUrl: store.url, redisUrl: `redis://127.0.0.1:${await closedPort()}` }, silentLogger())).rejects.toThrow(/Redis does not answer/);
      await watch.expectNothingLeftOpen();
    });

    it(`starts ${what}, and leaves nothing open after stop()`, async () => {
      watch = await watchLeaks({ databaseUrl: store.url, applicationName: name, redisUrl: redis.url });
      const worker = await start(config(), { databaseUrl: store.url, redisUrl: redis.url }, silentLogger());
      await worker.stop();
      await watch.expectNothingLeftOpen();
    });
  });
}
