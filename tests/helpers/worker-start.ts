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
export function describeWorkerStart<C extends object>(
  name: 'inbound-worker' | 'outbound-worker',
  config: () => C,
  start: (config: C, endpoints: { databaseUrl: string; redisUrl: string }, log: Logger) => Promise<Running & { healthPort?: number }>,
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

    it('answers GET /healthz, /readyz and /metrics on WORKER_HEALTH_PORT (404 elsewhere), and closes it on stop()', async () => {
      watch = await watchLeaks({ databaseUrl: store.url, applicationName: name, redisUrl: redis.url });
      const worker = await start({ ...config(), WORKER_HEALTH_PORT: 0 }, { databaseUrl: store.url, redisUrl: redis.url }, silentLogger());
      try {
        expect(worker.healthPort).toBeGreaterThan(0);
        const base = `http://127.0.0.1:${worker.healthPort}`;
        const health = await fetch(`${base}/healthz`);
        expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);
        const ready = await fetch(`${base}/readyz`);
        expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready', checks: { postgres: true, redis: true } }]);
        const metrics = await fetch(`${base}/metrics`);
        expect([metrics.status, metrics.headers.get('content-type')]).toEqual([200, 'text/plain; version=0.0.4; charset=utf-8']);
        expect(await metrics.text()).toContain(`\nmailyard_jobs_processed_total{queue="${name.replace('-worker', '')}",outcome="completed"} 0\n`);
        expect((await fetch(`${base}/nothing`)).status).toBe(404);
      } finally {
        await worker.stop();
      }
      await watch.expectNothingLeftOpen();
    });
  });
}
