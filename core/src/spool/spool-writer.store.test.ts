import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { silentLogger } from '../log/logger.js';
import type { SpoolInput } from '../repositories/spool.repository.js';
import { EnqueueRetry } from '../queue/enqueue-retry.js';
import { SpoolWriter } from './spool-writer.js';
import { eventually } from '../../../tests/helpers/services.js';

let store: TestStore;
beforeAll(async () => {
  store = await createTestStore();
});
afterAll(async () => {
  await store.drop();
});

const item = (from: string): SpoolInput => ({ raw: Buffer.from(`Subject: ${from}\r\n\r\nx\r\n`), mailFrom: from, rcptTo: ['a@b.test'], remoteIp: null, helo: null, tls: false, traceHeaders: '' });

describe('SpoolWriter', () => {
  it('commits messages that arrive together, and one bad message fails only itself', async () => {
    const enqueued: number[] = [];
    const writer = new SpoolWriter({ db: store.db, enqueue: async (ids) => void enqueued.push(...ids), log: silentLogger(), maxInFlight: 1 });
    // PostgreSQL text cannot hold NUL: the third message fails at commit.
    const results = await Promise.allSettled([item('one@x.test'), item('two@x.test'), item('bad\u0000@x.test'), item('four@x.test')].map((i) => writer.write(i)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    const ids = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const rows = await store.db.selectFrom('spool').select(['id', 'mail_from']).where('id', 'in', ids).orderBy('id').execute();
    expect(rows.map((r) => r.mail_from)).toEqual(['one@x.test', 'two@x.test', 'four@x.test']);
    expect(enqueued.sort()).toEqual(ids.sort());
    await writer.drain();
  });

  it('tries a failed enqueue again by itself until Redis takes it, not waiting for the reconciler, and stops when closed', async () => {
    const calls: number[][] = [];
    let failures = 2;
    const writer = new SpoolWriter({
      db: store.db,
      enqueue: async (ids) => {
        calls.push(ids);
        if (failures-- > 0) throw new Error('Connection is closed.');
      },
      log: silentLogger(),
      retryDelayMs: 10,
    });
    // Durable in the spool: the sender gets its 250 although Redis is away.
    const id = await writer.write(item('later@x.test'));
    await eventually(async () => calls.length === 3, { timeoutMs: 10_000, describe: () => JSON.stringify(calls) });
    expect(calls).toEqual([[id], [id], [id]]);

    // Redis away for good: tried again until the writer is closed, then no more.
    const away = new SpoolWriter({
      db: store.db,
      enqueue: async (ids) => {
        calls.push(ids);
        throw new Error('Connection is closed.');
      },
      log: silentLogger(),
      retryDelayMs: 10,
    });
    calls.length = 0;
    await away.write(item('never@x.test'));
    await eventually(async () => calls.length >= 3, { timeoutMs: 10_000, intervalMs: 5 });
    await away.close();
    const tried = calls.length;
    // A retry that is never closed, on the same clock, tries six times (630 ms): longer than the
    // closed writer's next wait could be (at most 320 ms after five failures).
    let probeTries = 0;
    const probe = new EnqueueRetry<number>({
      enqueue: async () => {
        probeTries++;
        throw new Error('Connection is closed.');
      },
      keyOf: (id) => id,
      log: silentLogger(),
      recoveredEvent: 'test.recovered',
      firstDelayMs: 10,
    });
    probe.add([1]);
    await eventually(async () => probeTries >= 6, { timeoutMs: 10_000, intervalMs: 5 });
    probe.close();
    expect(calls.length).toBe(tried);
    await writer.close();
  });
});
