import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { asBase64, blobHash, bytesOf, createBlobRepository } from './blob.repository.js';
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

  it('stores every field of every row of a batch as given', async () => {
    const spool = createSpoolRepository(store.db);
    const authentication = { spf: { result: 'pass', domain: 'x.test' }, dkim: { result: 'none', domain: null }, dmarc: { result: 'pass', domain: 'x.test', policy: 'none' }, arc: { result: 'none', domain: null } };
    const filter = { verdict: 'junk' as const, score: 7.5, junkThreshold: 6, rejectThreshold: 15, engine: 'builtin' as const, override: null, reason: 'score', checks: [{ check: 'rule', result: 'hit', score: 7.5, detail: null }] };
    const items = [
      { raw: Buffer.from('Subject: a\r\n\r\n'), mailFrom: 'a@x.test', rcptTo: ['u1@b.test', 'u2@b.test'], remoteIp: '192.0.2.1', helo: 'mx.x.test', tls: true, traceHeaders: 'Received: a\r\n', authentication, filter, verdict: 'junk' as const },
      { raw: Buffer.from('Subject: b\r\n\r\n'), mailFrom: '', rcptTo: ['u3@b.test'], remoteIp: null, helo: null, tls: false, traceHeaders: '' },
      { raw: Buffer.from('Subject: a\r\n\r\n'), mailFrom: 'c@x.test', rcptTo: ['u1@b.test'], remoteIp: '2001:db8::1', helo: '[192.0.2.9]', tls: false, traceHeaders: 'Received: c\r\n', authentication: null, filter: null, verdict: 'inbox' as const },
    ];
    const ids = await spool.insertMany(items);
    expect(ids).toHaveLength(3);
    const loaded = await spool.getManyWithBlobs(ids);
    const helos = await store.db.selectFrom('spool').select(['id', 'helo', 'tls']).where('id', 'in', ids).orderBy('id').execute();
    expect(ids.map((id) => {
      const r = loaded.get(id)!;
      return [r.raw?.toString(), r.mailFrom, r.rcptTo, r.remoteIp, r.traceHeaders, r.authentication, r.filter, r.verdict, r.status];
    })).toEqual(items.map((i) => [i.raw.toString(), i.mailFrom, i.rcptTo, i.remoteIp, i.traceHeaders, i.authentication ?? null, i.filter ?? null, i.verdict ?? 'inbox', 'pending']));
    expect(helos.map((r) => [r.helo, r.tls])).toEqual(items.map((i) => [i.helo, i.tls]));
  });

  it('writes the blobs and rows of a batch in one statement: a row that cannot be stored leaves no blob and no row behind', async () => {
    const spool = createSpoolRepository(store.db);
    const raws = [Buffer.from('Subject: kept out 1\r\n\r\n'), Buffer.from('Subject: kept out 2\r\n\r\n')];
    const blobsBefore = await store.db.selectFrom('blobs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    // PostgreSQL text cannot hold NUL: the second row fails, after the blobs are written in the same statement.
    await expect(spool.insertMany(raws.map((raw, i) => ({ raw, mailFrom: i === 1 ? 'bad\u0000@x.test' : 'ok@x.test', rcptTo: ['a@b.test'], remoteIp: null, helo: null, tls: false, traceHeaders: '' })))).rejects.toThrow();
    const blobsAfter = await store.db.selectFrom('blobs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(blobsAfter.n)).toBe(Number(blobsBefore.n));
    expect(await store.db.selectFrom('spool').select('id').where('mail_from', '=', 'ok@x.test').execute()).toEqual([]);
    // A batch mixing a blob already stored with a new one: both rows reference their blob.
    const ids = await spool.insertMany([raws[0]!, Buffer.from('Subject: new\r\n\r\n')].map((raw) => ({ raw, mailFrom: 'ok@x.test', rcptTo: ['a@b.test'], remoteIp: null, helo: null, tls: false, traceHeaders: '' })));
    const again = await spool.insertMany([{ raw: raws[0]!, mailFrom: 'again@x.test', rcptTo: ['a@b.test'], remoteIp: null, helo: null, tls: false, traceHeaders: '' }]);
    const loaded = await spool.getManyWithBlobs([...ids, ...again]);
    expect([...ids, ...again].map((id) => loaded.get(id)?.raw?.toString())).toEqual(['Subject: kept out 1\r\n\r\n', 'Subject: new\r\n\r\n', 'Subject: kept out 1\r\n\r\n']);
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

describe('message bytes read as base64', () => {
  it('come back byte for byte, whatever their size (base64 line breaks and padding included) and whatever they hold', async () => {
    const blobs = [0, 1, 2, 3, 56, 57, 58, 4096, 40_000, 300_001].map((size) => randomBytes(size));
    blobs.push(Buffer.from('\0\r\n\xff\u00e4 text with NUL and CRLF\r\n', 'latin1'));
    const repo = createBlobRepository(store.db);
    await repo.putMany(blobs.map((data) => ({ hash: blobHash(data), data })));
    for (const data of blobs) expect((await repo.get(blobHash(data)))?.equals(data)).toBe(true);
    expect(await repo.get(blobHash(Buffer.from('never stored')))).toBeNull();
    // The column helper as the other reads use it, and a NULL (a missing blob) stays null.
    const hash = blobHash(blobs[9]!);
    const row = await store.db.selectFrom('blobs').select(asBase64('data').as('data')).where('hash', '=', hash).executeTakeFirstOrThrow();
    expect(bytesOf(row.data).equals(blobs[9]!)).toBe(true);
    expect(bytesOf(null)).toBeNull();
  });
});
