import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { silentLogger } from '../log/logger.js';
import type { SpoolInput } from '../repositories/spool.repository.js';
import { SpoolWriter } from './spool-writer.js';

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
});
