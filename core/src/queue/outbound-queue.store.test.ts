import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../tests/helpers/services.js';
import { startLocalRedis, type LocalRedis } from '../local/index.js';
import { silentLogger } from '../log/logger.js';
import { createOutboundQueue, outboundJobId, type OutboundQueue } from './queues.js';
import { createRedis } from './redis.js';

/**
 * The outbound queue on a private redis-server that the test kills; it is started again on the same
 * port 1.5 s later (as `npm start` supervises it): a delivery whose job could not be added while
 * Redis was away is added by the queue itself once it is back.
 */

let dataDir: string;
let redis: LocalRedis;
const redisPid = () => (JSON.parse(fs.readFileSync(path.join(dataDir, 'redis', 'server.json'), 'utf8')) as { pid: number }).pid;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-outbound-queue-'));
  redis = await startLocalRedis({ dataDir, persistent: false, supervise: { log: silentLogger(), backoff: { initialMs: 1_500, maxMs: 1_500, resetAfterMs: 60_000 } } });
});

afterAll(async () => {
  await redis?.stop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('createOutboundQueue with a log', () => {
  it('adds a delivery again by itself once Redis is back, after the enqueue failed (the sender was told it is recorded)', async () => {
    // As the SMTP server connects: no offline queue (a command fails at once while Redis is away).
    const connection = createRedis(redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: 2_000 });
    let queue: OutboundQueue | undefined;
    try {
      queue = createOutboundQueue(connection, { log: silentLogger() });
      const job = { outboundId: 4242, domain: 'far.test', attempt: 0 };
      await queue.enqueue([{ outboundId: 4241, domain: 'far.test', attempt: 0 }]); // Redis works
      process.kill(redisPid(), 'SIGKILL');
      await eventually(async () => connection.status !== 'ready', { timeoutMs: 10_000 });
      await expect(queue.enqueue([job])).rejects.toThrow();
      // Nobody enqueues it again (no reconciler here): the queue does.
      // (Asking fails too while Redis is away.)
      await eventually(async () => (await queue!.queue.getJob(outboundJobId(job)).catch(() => undefined)) !== undefined, { timeoutMs: 20_000, describe: () => 'the job was never added again' });
      expect((await queue.queue.getJob(outboundJobId(job)))?.data).toEqual(job);
    } finally {
      await queue?.close();
      connection.disconnect();
    }
  });
});
