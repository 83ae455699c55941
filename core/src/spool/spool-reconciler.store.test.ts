import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocateRedisUrl } from '../../../tests/helpers/redis.js';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createInboundQueue, inboundJobId, type InboundQueue } from '../queue/queues.js';
import { createRedis } from '../queue/redis.js';
import { createSpoolRepository } from '../repositories/spool.repository.js';
import { reconcileSpool } from './spool-reconciler.js';

let store: TestStore;
let connection: Redis;
let queue: InboundQueue;

async function spool(subject: string, receivedAt?: Date): Promise<number> {
  const raw = Buffer.from(`From: sender@remote.test\r\nTo: alice@in.test\r\nSubject: ${subject}\r\n\r\nbody of ${subject}\r\n`);
  const [id] = await createSpoolRepository(store.db).insertMany([{ raw, mailFrom: 'sender@remote.test', rcptTo: ['alice@in.test'], remoteIp: '192.0.2.1', helo: 'remote.test', tls: true, traceHeaders: '' }]);
  if (receivedAt) await store.db.updateTable('spool').set({ received_at: receivedAt }).where('id', '=', id!).execute();
  return id!;
}

beforeAll(async () => {
  store = await createTestStore();
  const redis = await allocateRedisUrl();
  await redis.flush();
  connection = createRedis(redis.url, { maxRetriesPerRequest: null });
  queue = createInboundQueue(connection);
});
afterAll(async () => {
  await queue?.close();
  connection?.disconnect();
  await store?.drop();
});

describe('reconcileSpool', () => {
  it('re-enqueues pending rows older than the age, and leaves newer and finished rows alone', async () => {
    const old = await spool('lost job', new Date(Date.now() - 10 * 60_000));
    const oldDone = await spool('already filed', new Date(Date.now() - 10 * 60_000));
    await store.db.updateTable('spool').set({ status: 'done' }).where('id', '=', oldDone).execute();
    const fresh = await spool('just accepted');

    const requeued: number[] = [];
    const n = await reconcileSpool(store.db, async (ids) => void requeued.push(...ids), 5 * 60_000);
    expect(requeued).toContain(old);
    expect(requeued).not.toContain(fresh);
    expect(requeued).not.toContain(oldDone);
    expect(n).toBe(requeued.length);

    // Through the real queue: the old row gets a job, the fresh one does not.
    await reconcileSpool(store.db, (ids) => queue.enqueueEach(ids), 5 * 60_000);
    expect(await queue.queue.getJob(inboundJobId(old))).toBeDefined();
    expect(await queue.queue.getJob(inboundJobId(fresh))).toBeUndefined();
  });
});
