import { sql } from 'kysely';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocateRedisUrl } from '../../../tests/helpers/redis.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';
import { eventually } from '../../../tests/helpers/services.js';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { silentLogger } from '../log/logger.js';
import { deleteMessages, ingestMessage, openMailboxWrite } from '../mail/mailbox-writer/index.js';
import { summarizeMessage } from '../mail/parse.js';
import { blobHash, createBlobRepository } from '../repositories/blob.repository.js';
import { createSpoolRepository } from '../repositories/spool.repository.js';
import { fileSpooled } from '../spool/spool-filer.js';
import { BLOB_TOTALS_KEY, blobReclaimTask, reclaimBlobs } from './blob-reclaim.task.js';
import { spoolPurgeTask } from './spool-purge.task.js';

let store: TestStore;
let redis: Redis;
let flushRedis: () => Promise<void>;
let ann: number;
const log = silentLogger();
const deps = () => ({ db: store.db, events: { publish: async () => undefined }, log });
const HOUR = 3_600_000;
const graceCutoff = () => new Date(Date.now() - HOUR);

beforeAll(async () => {
  store = await createTestStore();
  const redisDb = await allocateRedisUrl();
  flushRedis = redisDb.flush;
  redis = new Redis(redisDb.url);
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('rc.test');
  ann = (await accounts.addUser({ address: 'ann@rc.test', password: 'ann password' })).id;
});

afterAll(async () => {
  redis?.disconnect();
  await flushRedis?.();
  await store?.drop();
});

let seq = 0;
function message(): Buffer {
  seq++;
  return Buffer.from(`From: s@remote.test\r\nTo: ann@rc.test\r\nSubject: r${seq}\r\nMessage-ID: <rc${seq}@remote.test>\r\n\r\nbody ${seq}\r\n`);
}

async function deliver(raw: Buffer): Promise<number> {
  const filed = await ingestMessage(deps(), { userId: ann, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw) });
  return filed.messageId;
}

/** Makes a blob look stored `ms` ago (past the grace time). */
async function age(raw: Buffer, ms = 2 * HOUR): Promise<void> {
  await store.db.updateTable('blobs').set({ created_at: new Date(Date.now() - ms) }).where('hash', '=', blobHash(raw)).execute();
}

/** Bytes delivered, then deleted for good, stored long ago: what the reclaim is for. */
async function orphan(): Promise<Buffer> {
  const raw = message();
  await deleteMessages(deps(), ann, [await deliver(raw)]);
  await age(raw);
  return raw;
}

const blobOf = async (raw: Buffer) => (await store.db.selectFrom('blobs').select('data').where('hash', '=', blobHash(raw)).executeTakeFirst())?.data ?? null;
const messageExists = async (id: number) => (await store.db.selectFrom('messages').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;

/** Resolves once some backend of this database waits for a lock held by another. */
async function someoneWaitsForALock(): Promise<void> {
  await eventually(
    async () => {
      const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`.execute(store.db);
      return Number(rows[0]!.n) > 0;
    },
    { timeoutMs: 20_000, describe: () => 'no backend waited for a lock' },
  );
}

/** A gate a held transaction waits at. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe('blob reclaim', () => {
  it('deletes bytes no row references once older than the grace time; keeps referenced and young ones', async () => {
    const gone = await orphan();
    const kept = message();
    await deliver(kept);
    await age(kept);
    const young = message();
    await deleteMessages(deps(), ann, [await deliver(young)]);
    const spooled = message();
    await createSpoolRepository(store.db).insertMany([{ raw: spooled, mailFrom: '', rcptTo: ['ann@rc.test'], remoteIp: null, helo: null, tls: false, traceHeaders: '' }]);
    await age(spooled);
    // Shared bytes: two messages with the same content, one deleted.
    const shared = message();
    await deliver(shared);
    await deleteMessages(deps(), ann, [await deliver(shared)]);
    await age(shared);

    // Steps of 2 blobs: the walk goes on across steps.
    expect(await reclaimBlobs(store.db, graceCutoff(), 2)).toEqual({ deleted: 1, freedBytes: gone.length });
    expect(await blobOf(gone)).toBeNull();
    for (const raw of [kept, young, spooled, shared]) expect(await blobOf(raw)).toEqual(raw);
  });

  it('the task reports the stored totals to Redis for /metrics', async () => {
    const raw = await orphan();
    const result = await blobReclaimTask({ db: store.db, gauges: redis }, { graceMs: HOUR }).run();
    const { rows } = await sql<{ n: string; bytes: string }>`SELECT count(*) AS n, sum(size) AS bytes FROM blobs`.execute(store.db);
    expect(result).toEqual({ deleted: 1, freedBytes: raw.length, blobs: Number(rows[0]!.n), blobBytes: Number(rows[0]!.bytes) });
    expect(JSON.parse((await redis.get(BLOB_TOTALS_KEY))!)).toMatchObject({ blobs: Number(rows[0]!.n), bytes: Number(rows[0]!.bytes) });
  });

  it('keeps a blob an ingest re-uses while the reclaim runs: the reclaim waits for its row, then spares the blob', async () => {
    const raw = await orphan();
    const held = gate();
    const stored = gate();
    // The ingest: the blob upsert (a no-op, the bytes are there) and its row, committed only when the gate opens.
    const ingest = store.db.transaction().execute(async (tx) => {
      const write = await openMailboxWrite(tx, [ann]);
      const [filed] = await write.append(ann, [{ mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw) }]);
      await write.finish();
      stored.open();
      await held.opened;
      return filed!.messageId;
    });
    await stored.opened;
    const reclaim = reclaimBlobs(store.db, graceCutoff());
    await someoneWaitsForALock();
    held.open();
    const messageId = await ingest;
    expect(await reclaim).toEqual({ deleted: 0, freedBytes: 0 });
    expect(await messageExists(messageId)).toBe(true);
    expect(await blobOf(raw)).toEqual(raw);
  });

  it('stores the bytes again when the reclaim deleted them first: the ingest waits for it, then inserts the blob', async () => {
    const raw = await orphan();
    const held = gate();
    const deleted = gate();
    const reclaim = store.db.transaction().execute(async (tx) => {
      const step = await createBlobRepository(tx).reclaimStep(Buffer.alloc(0), graceCutoff(), 1000);
      deleted.open();
      await held.opened;
      return step;
    });
    await deleted.opened;
    const ingest = deliver(raw);
    await someoneWaitsForALock();
    held.open();
    expect((await reclaim).deleted).toBe(1);
    const messageId = await ingest;
    expect(await messageExists(messageId)).toBe(true);
    expect(await blobOf(raw)).toEqual(raw);
  });

  it('an ingest that saw the blob just before the reclaim deleted it fails on the foreign key, leaving nothing; its retry stores the bytes', async () => {
    const raw = await orphan();
    const hash = blobHash(raw);
    const checked = gate();
    const resume = gate();
    const ingest = store.db.transaction().execute(async (tx) => {
      const write = await openMailboxWrite(tx, [ann]);
      await createBlobRepository(tx).putMany([{ hash, data: raw }]);
      checked.open();
      await resume.opened;
      await write.append(ann, [{ mailbox: { specialUse: '\\Inbox' }, content: { blobHash: hash, size: raw.length }, summary: await summarizeMessage(raw) }]);
      await write.finish();
    });
    await checked.opened;
    expect(await reclaimBlobs(store.db, graceCutoff())).toEqual({ deleted: 1, freedBytes: raw.length });
    resume.open();
    await expect(ingest).rejects.toMatchObject({ code: '23503' });
    expect(await store.db.selectFrom('messages').select('id').where('blob_hash', '=', hash).execute()).toEqual([]);
    const messageId = await deliver(raw);
    expect(await messageExists(messageId)).toBe(true);
    expect(await blobOf(raw)).toEqual(raw);
  });
});

describe('spool purge', () => {
  const spoolRepo = () => createSpoolRepository(store.db);
  async function spool(raw: Buffer): Promise<number> {
    const [id] = await spoolRepo().insertMany([{ raw, mailFrom: 's@remote.test', rcptTo: ['ann@rc.test'], remoteIp: '192.0.2.1', helo: 'remote.test', tls: false, traceHeaders: '' }]);
    return id!;
  }
  const DAY = 86_400_000;
  const setTimes = (id: number, at: Date) => store.db.updateTable('spool').set({ received_at: at, processed_at: at }).where('id', '=', id).execute();
  const spoolExists = async (id: number) => (await spoolRepo().get(id)) !== null;
  const filings = async (id: number) => (await store.db.selectFrom('spool_filings').select('message_id').where('spool_id', '=', id).execute()).length;

  it('deletes rows filed before the retention with their filings; pending, failed and recent rows stay', async () => {
    const longAgo = new Date(Date.now() - 8 * DAY);
    const oldRaw = message();
    const oldDone = await spool(oldRaw);
    await fileSpooled(deps(), oldDone);
    await setTimes(oldDone, longAgo);
    const recentDone = await spool(message());
    await fileSpooled(deps(), recentDone);
    await store.db.updateTable('spool').set({ processed_at: new Date(Date.now() - 6 * DAY) }).where('id', '=', recentDone).execute();
    const oldPending = await spool(message());
    await setTimes(oldPending, longAgo);
    const oldFailed = await spool(message());
    await spoolRepo().markFailed(oldFailed, 'gave up');
    await setTimes(oldFailed, longAgo);
    expect(await filings(oldDone)).toBe(1);
    const filed = await store.db.selectFrom('messages').select(['id', 'spool_id']).where('spool_id', '=', oldDone).executeTakeFirstOrThrow();

    expect(await spoolPurgeTask({ db: store.db }, { retentionDays: 7 }).run()).toEqual({ purged: 1 });
    expect(await spoolExists(oldDone)).toBe(false);
    expect(await filings(oldDone)).toBe(0);
    for (const id of [recentDone, oldPending, oldFailed]) expect(await spoolExists(id)).toBe(true);
    // The message filed from it stays, with its provenance and its bytes.
    expect(await store.db.selectFrom('messages').select(['id', 'spool_id']).where('id', '=', filed.id).executeTakeFirst()).toEqual(filed);
    await age(oldRaw);
    await reclaimBlobs(store.db, graceCutoff());
    expect(await blobOf(oldRaw)).toEqual(oldRaw);
    // Once the message is deleted too, its bytes are reclaimed.
    await deleteMessages(deps(), ann, [filed.id]);
    await reclaimBlobs(store.db, graceCutoff());
    expect(await blobOf(oldRaw)).toBeNull();
  });

  it('a job that comes again for a purged row does nothing', async () => {
    const id = await spool(message());
    await fileSpooled(deps(), id);
    await setTimes(id, new Date(Date.now() - 8 * DAY));
    expect(await spoolPurgeTask({ db: store.db }, { retentionDays: 7 }).run()).toEqual({ purged: 1 });
    const before = await store.db.selectFrom('messages').select((eb) => eb.fn.countAll<string>().as('n')).where('user_id', '=', ann).executeTakeFirstOrThrow();
    expect(await fileSpooled(deps(), id)).toEqual({ status: 'missing', filed: 0, unresolved: [] });
    const after = await store.db.selectFrom('messages').select((eb) => eb.fn.countAll<string>().as('n')).where('user_id', '=', ann).executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
  });
});
