import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createSpoolRepository } from './spool.repository.js';

let store: TestStore;
beforeAll(async () => {
  store = await createTestStore();
});
afterAll(async () => {
  await store.drop();
});

describe('spool repository', () => {
  it('stores identical bytes once and returns ids in input order', async () => {
    const spool = createSpoolRepository(store.db);
    const raw = Buffer.from('Subject: same\r\n\r\nsame\r\n');
    const ids = await spool.insertMany([0, 1, 2].map((i) => ({ raw, mailFrom: `s${i}@x.test`, rcptTo: ['a@b.test'], remoteIp: null, helo: null, tls: false, traceHeaders: '' })));
    const rows = await Promise.all(ids.map((id) => spool.get(id)));
    expect(rows.map((r) => r?.mailFrom)).toEqual(['s0@x.test', 's1@x.test', 's2@x.test']);
    const blobs = await store.db.selectFrom('blobs').select('hash').execute();
    expect(blobs).toHaveLength(1);
  });

  it('marks many rows done in one statement with their notes and attempts, leaving finished rows alone', async () => {
    const spool = createSpoolRepository(store.db);
    const ids = await spool.insertMany([0, 1, 2].map((i) => ({ raw: Buffer.from(`Subject: ${i}\r\n\r\n`), mailFrom: '', rcptTo: ['a@b.test'], remoteIp: null, helo: null, tls: false, traceHeaders: '' })));
    await spool.markFailed(ids[2]!, 'gave up', 8);
    await spool.markDoneMany([
      { id: ids[0]!, note: null, attempts: 1 },
      { id: ids[1]!, note: 'no longer local: x@b.test', attempts: 3 },
      { id: ids[2]!, note: null, attempts: 1 },
    ]);
    const rows = await store.db.selectFrom('spool').select(['id', 'status', 'error', 'attempts']).where('id', 'in', ids).orderBy('id').execute();
    expect(rows.map((r) => [r.status, r.error, r.attempts])).toEqual([
      ['done', null, 1],
      ['done', 'no longer local: x@b.test', 3],
      ['failed', 'gave up', 8],
    ]);
    expect(await spool.listPending(new Date(Date.now() + 1000), 10)).not.toEqual(expect.arrayContaining(ids));
  });
});
