import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocateRedisUrl } from '../../../tests/helpers/redis.js';
import { eventually } from '../../../tests/helpers/services.js';
import { countJobsProcessed, MetricsRegistry } from './metrics.js';

/** countJobsProcessed on a real BullMQ worker and Redis: one job completes, one throws. */

let redisUrl: Awaited<ReturnType<typeof allocateRedisUrl>>;
let connection: Redis;

beforeAll(async () => {
  redisUrl = await allocateRedisUrl();
  connection = new Redis(redisUrl.url, { maxRetriesPerRequest: null });
});
afterAll(async () => {
  connection?.disconnect();
  await redisUrl?.flush();
});

describe('countJobsProcessed', () => {
  it('counts the attempts of each queue by outcome, starting from 0', async () => {
    const registry = new MetricsRegistry();
    const queue = new Queue('metrics-test', { connection });
    const worker = new Worker(
      'metrics-test',
      async (job) => {
        if (job.data.fail) throw new Error('refused');
      },
      { connection, autorun: false },
    );
    countJobsProcessed(registry, [worker]);
    try {
      expect(registry.render()).toContain('mailyard_jobs_processed_total{queue="metrics-test",outcome="completed"} 0\nmailyard_jobs_processed_total{queue="metrics-test",outcome="failed"} 0\n');
      await queue.addBulk([
        { name: 'ok', data: { fail: false } },
        { name: 'ok', data: { fail: false } },
        { name: 'bad', data: { fail: true } },
      ]);
      void worker.run();
      await eventually(async () => registry.render().includes('outcome="completed"} 2\n') && registry.render().includes('outcome="failed"} 1\n'), { timeoutMs: 15_000, describe: () => registry.render() });
    } finally {
      await worker.close();
      await queue.close();
    }
  });
});
