import { setTimeout as delay } from 'node:timers/promises';
import { sql } from 'kysely';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createAccountsService,
  createInboundQueue,
  createRedis,
  createSpoolRepository,
  inboundBatchJobId,
  inboundJobId,
  silentLogger,
  type EventPublisher,
  type InboundQueue,
  type SpoolFilingOutcome,
  type UserEvent,
} from '@mailyard/core';
import { allocateRedisUrl } from '../../tests/helpers/redis.js';
import { createTestStore, type TestStore } from '../../tests/helpers/store.js';
import { buildInboundWorker } from './app.js';
import { testSecrets } from '../../tests/helpers/secrets.js';

let store: TestStore;
let connection: Redis;
let queue: InboundQueue;
const published: Array<{ userId: number; event: UserEvent }> = [];
const events: EventPublisher = { publish: async (userId, event) => void published.push({ userId, event }) };
/** The message.new events published since `index` (each filing also sends a mailbox.counts hint). */
const newMessageEvents = (index: number) => published.slice(index).filter((p) => p.event.type === 'message.new');
const log = silentLogger();
const workers: Array<ReturnType<typeof buildInboundWorker>> = [];

let alice: number;
let bob: number;

const HOUR = 3_600_000;

function startWorker(options: { reconcileAgeMs: number; concurrency?: number; filingWindow?: number }) {
  const app = buildInboundWorker(
    { db: store.db, events, log, connection },
    { concurrency: options.concurrency ?? 4, filingWindow: options.filingWindow ?? 16, reconcileIntervalMs: HOUR, reconcileAgeMs: options.reconcileAgeMs, lockMs: 10_000 },
  );
  workers.push(app);
  return app;
}

async function stopWorker(app: ReturnType<typeof buildInboundWorker>) {
  await app.close();
  workers.splice(workers.indexOf(app), 1);
}

async function spool(subject: string, rcptTo: string[], receivedAt?: Date): Promise<number> {
  const raw = Buffer.from(`From: sender@remote.test\r\nTo: ${rcptTo.join(', ')}\r\nSubject: ${subject}\r\n\r\nbody of ${subject}\r\n`);
  const [id] = await createSpoolRepository(store.db).insertMany([{ raw, mailFrom: 'sender@remote.test', rcptTo, remoteIp: '192.0.2.1', helo: 'remote.test', tls: true, traceHeaders: '' }]);
  if (receivedAt) await store.db.updateTable('spool').set({ received_at: receivedAt }).where('id', '=', id!).execute();
  return id!;
}

async function statusOf(ids: number[]) {
  return store.db.selectFrom('spool').select(['id', 'status']).where('id', 'in', ids).execute();
}

/** Polls until `condition` holds; fails with `what` once the deadline passes. */
async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(25);
  }
}

const allDone = (ids: number[]) => async () => (await statusOf(ids)).every((r) => r.status === 'done');

async function filingsOf(spoolIds: number[]) {
  return store.db
    .selectFrom('messages')
    .innerJoin('mailboxes', 'mailboxes.id', 'messages.mailbox_id')
    .select(['messages.id', 'messages.spool_id', 'messages.user_id', 'mailboxes.special_use'])
    .where('messages.spool_id', 'in', spoolIds)
    .execute();
}

beforeAll(async () => {
  store = await createTestStore();
  const redis = await allocateRedisUrl();
  await redis.flush();
  connection = createRedis(redis.url, { maxRetriesPerRequest: null });
  queue = createInboundQueue(connection);
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('in.test');
  alice = (await accounts.addUser({ address: 'alice@in.test', password: 'correct horse' })).id;
  bob = (await accounts.addUser({ address: 'bob@in.test', password: 'correct horse' })).id;
});
afterAll(async () => {
  for (const app of [...workers]) await app.close();
  await queue?.close();
  connection?.disconnect();
  await store?.drop();
});

describe('inbound worker', () => {
  it('files every enqueued spool row into each recipient\'s INBOX and publishes one message.new per filing', async () => {
    const app = startWorker({ reconcileAgeMs: HOUR }); // reconcile must not be what files these
    await app.run();
    const ids = [
      await spool('queued 1', ['alice@in.test']),
      await spool('queued 2', ['bob@in.test']),
      await spool('queued 3', ['alice@in.test', 'bob@in.test']),
      await spool('queued 4', ['alice+tag@in.test']),
    ];
    const eventsBefore = published.length;
    await queue.enqueue(ids);
    await waitFor('the queued rows to be filed', allDone(ids));

    const filed = await filingsOf(ids);
    expect(filed.map((m) => [m.spool_id, m.user_id]).sort()).toEqual(
      [
        [ids[0], alice],
        [ids[1], bob],
        [ids[2], alice],
        [ids[2], bob],
        [ids[3], alice],
      ].sort(),
    );
    expect(filed.every((m) => m.special_use === '\\Inbox')).toBe(true);
    // Each row was marked done by the transaction that filed it (xmin: the writing transaction), even the one for two users.
    const { rows: writers } = await sql<{ id: string; row_xmin: string; message_xmins: string[] }>`
      SELECT s.id::text, s.xmin::text AS row_xmin, array_agg(m.xmin::text) AS message_xmins FROM spool s JOIN messages m ON m.spool_id = s.id
       WHERE s.id = ANY(${ids}::bigint[]) GROUP BY s.id, s.xmin`.execute(store.db);
    expect(writers).toHaveLength(ids.length);
    for (const w of writers) expect(w.message_xmins.every((x) => x === w.row_xmin)).toBe(true);
    const newEvents = newMessageEvents(eventsBefore);
    expect(newEvents).toHaveLength(filed.length);
    for (const m of filed) expect(newEvents).toContainEqual({ userId: m.user_id, event: expect.objectContaining({ type: 'message.new', messageId: m.id }) });
    await stopWorker(app);
  });

  it('makes filed mail searchable a moment later, without a search asking for it', async () => {
    const app = startWorker({ reconcileAgeMs: HOUR });
    await app.run();
    const id = await spool('searchable soon', ['alice@in.test']);
    await queue.enqueue([id]);
    await waitFor('the row to be filed', allDone([id]));
    const [message] = await filingsOf([id]);
    // The search index stage runs beside filing (every 200 ms when filing is not behind).
    await waitFor('its search vector', async () => (await store.db.selectFrom('message_search').select('message_id').where('message_id', '=', message!.id).execute()).length === 1);
    expect(await store.db.selectFrom('search_pending').select('message_id').where('message_id', '=', message!.id).execute()).toEqual([]);
    await stopWorker(app);
  });

  it('files waiting rows in a few large transactions, however few it parses at once', async () => {
    // One job of 60 rows (a large SMTP commit) waiting before the worker starts.
    const ids: number[] = [];
    for (let i = 0; i < 60; i++) ids.push(await spool(`window ${i}`, ['alice@in.test']));
    await queue.enqueue(ids);
    const app = startWorker({ reconcileAgeMs: HOUR, concurrency: 2, filingWindow: 60 });
    await app.run();
    await waitFor('the rows to be filed', allDone(ids));
    expect(await filingsOf(ids)).toHaveLength(60);
    // Each row is marked done by the transaction that filed it: its xmin names that transaction.
    const { rows } = await sql<{ n: number }>`SELECT count(DISTINCT xmin::text)::int AS n FROM spool WHERE id = ANY(${ids}::bigint[])`.execute(store.db);
    // Two rows are read and parsed at a time, but a parsed row waits for a commit without holding up
    // the next parse, so each commit takes what piled up meanwhile. A row that kept its parse slot until
    // its commit (the window no larger than the parsing) would give commits of at most 2: 30 or more.
    expect(rows[0]!.n, 'filing transactions').toBeLessThanOrEqual(20);
    await stopWorker(app);
  });

  it('files several users\' waiting rows together: one filing transaction at a time takes whatever users piled up', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 40; i++) ids.push(await spool(`users ${i}`, [i % 2 === 0 ? 'alice@in.test' : 'bob@in.test']));
    await queue.enqueue(ids);
    const app = startWorker({ reconcileAgeMs: HOUR, concurrency: 2, filingWindow: 40 });
    await app.run();
    await waitFor('the rows to be filed', allDone(ids));
    // A transaction that filed rows of both users (the spool rows it marked done share its xmin). Filings
    // split by user into lanes, one transaction each at once, never mixed them.
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM (
        SELECT xmin::text FROM spool WHERE id = ANY(${ids}::bigint[]) GROUP BY xmin::text HAVING count(DISTINCT rcpt_to[1]) = 2
      ) mixed`.execute(store.db);
    expect(rows[0]!.n, 'transactions that filed both users\' rows').toBeGreaterThan(0);
    await stopWorker(app);
  });

  it('completes a job whose spool row does not exist as "missing" instead of retrying it', async () => {
    const app = startWorker({ reconcileAgeMs: HOUR });
    const missingId = 987_654_321;
    const completed = new Promise<SpoolFilingOutcome[]>((resolve) => {
      app.worker.on('completed', (job, result: SpoolFilingOutcome[]) => {
        if (job.id === inboundJobId(missingId)) resolve(result);
      });
    });
    await app.run();
    await queue.enqueue([missingId]);
    expect(await completed).toEqual([{ status: 'missing', filed: 0, unresolved: [] }]);
    await stopWorker(app);
  });

  it('adds ONE job for the rows of a spool commit, and enqueuing the same rows again adds none', async () => {
    const ids = [await spool('commit 1', ['alice@in.test']), await spool('commit 2', ['bob@in.test']), await spool('commit 3', ['alice@in.test'])];
    await queue.enqueue(ids);
    await queue.enqueue(ids);
    const mine = (await queue.queue.getJobs(['waiting'])).filter((job) => job.id === inboundBatchJobId(ids));
    expect(mine.map((job) => job.data)).toEqual([{ spoolIds: ids }]);
    for (const id of ids) expect(await queue.queue.getJob(inboundJobId(id))).toBeUndefined();
    const app = startWorker({ reconcileAgeMs: HOUR });
    await app.run();
    await waitFor('the commit\'s rows to be filed', allDone(ids));
    expect((await filingsOf(ids)).map((m) => m.spool_id).sort()).toEqual([...ids].sort());
    await stopWorker(app);
  });

  it('still files a job of the older one-row shape ({ spoolId }) left in Redis by an upgrade', async () => {
    const id = await spool('old job shape', ['bob@in.test']);
    await queue.queue.add('ingest', { spoolId: id }, { jobId: inboundJobId(id) });
    const app = startWorker({ reconcileAgeMs: HOUR });
    await app.run();
    await waitFor('the row to be filed', allDone([id]));
    expect((await filingsOf([id])).map((m) => m.user_id)).toEqual([bob]);
    await stopWorker(app);
  });

  it('enqueuing a row twice files it once (the job id is the spool id)', async () => {
    const id = await spool('enqueued twice', ['alice@in.test']);
    await queue.enqueue([id]);
    await queue.enqueue([id]);
    const waiting = await queue.queue.getJobs(['waiting']);
    expect(waiting.filter((job) => job.id === inboundJobId(id))).toHaveLength(1);
    const app = startWorker({ reconcileAgeMs: HOUR });
    await app.run();
    await waitFor('the row to be filed', allDone([id]));
    expect(await filingsOf([id])).toHaveLength(1);
    await stopWorker(app);
  });
});

describe('a row of a commit that fails', () => {
  /** Makes filing `spoolId` fail in PostgreSQL (a trigger on its message rows) until `heal` is called. */
  async function breakFiling(spoolId: number) {
    await sql.raw(`
      CREATE OR REPLACE FUNCTION test_refuse_spool_${spoolId}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'test: filing of spool ${spoolId} refused'; END $$;
      CREATE TRIGGER test_refuse_spool_${spoolId} BEFORE INSERT ON messages FOR EACH ROW WHEN (NEW.spool_id = ${spoolId}) EXECUTE FUNCTION test_refuse_spool_${spoolId}();
    `).execute(store.db);
    return async () => {
      await sql.raw(`DROP TRIGGER IF EXISTS test_refuse_spool_${spoolId} ON messages; DROP FUNCTION IF EXISTS test_refuse_spool_${spoolId}();`).execute(store.db);
    };
  }
  const addCommitJob = (ids: number[], attempts: number) =>
    queue.queue.add('ingest', { spoolIds: ids }, { jobId: inboundBatchJobId(ids), attempts, backoff: { type: 'fixed', delay: 300 } });

  it('is retried alone (the job keeps only it), and filed once it can be', async () => {
    const ids = [await spool('retry 1', ['alice@in.test']), await spool('retry 2', ['alice@in.test', 'bob@in.test']), await spool('retry 3', ['bob@in.test'])];
    const heal = await breakFiling(ids[1]!);
    try {
      await addCommitJob(ids, 5);
      const app = startWorker({ reconcileAgeMs: HOUR });
      await app.run();
      await waitFor('a first failed attempt', async () => ((await queue.queue.getJob(inboundBatchJobId(ids)))?.attemptsMade ?? 0) >= 1);
      expect((await queue.queue.getJob(inboundBatchJobId(ids)))!.data).toEqual({ spoolIds: [ids[1]] });
      expect(await statusOf(ids)).toEqual(expect.arrayContaining([{ id: ids[0], status: 'done' }, { id: ids[1], status: 'pending' }, { id: ids[2], status: 'done' }]));
      await heal();
      await waitFor('the failed row to be filed on a retry', allDone(ids));
      const filed = await filingsOf(ids);
      expect(filed.map((m) => [m.spool_id, m.user_id]).sort()).toEqual([[ids[0], alice], [ids[1], alice], [ids[1], bob], [ids[2], bob]].sort());
      await stopWorker(app);
    } finally {
      await heal();
    }
  });

  it('is finally marked failed on its own, the others of its commit filed once and done', async () => {
    const ids = [await spool('fails 1', ['alice@in.test']), await spool('fails 2', ['bob@in.test']), await spool('fails 3', ['alice@in.test'])];
    const heal = await breakFiling(ids[2]!);
    try {
      await addCommitJob(ids, 2);
      const app = startWorker({ reconcileAgeMs: HOUR });
      await app.run();
      await waitFor('the bad row to be marked failed', async () => (await statusOf([ids[2]!]))[0]!.status === 'failed');
      expect((await statusOf(ids)).sort((a, b) => a.id - b.id)).toEqual([
        { id: ids[0], status: 'done' },
        { id: ids[1], status: 'done' },
        { id: ids[2], status: 'failed' },
      ]);
      expect((await filingsOf(ids)).map((m) => [m.spool_id, m.user_id]).sort()).toEqual([[ids[0], alice], [ids[1], bob]].sort());
      const job = await queue.queue.getJob(inboundBatchJobId(ids));
      expect(job?.data).toEqual({ spoolIds: [ids[2]] });
      expect(job?.attemptsMade).toBe(2);
      await stopWorker(app);
    } finally {
      await heal();
    }
  });

});

describe('reconciling', () => {
  it('files rows committed while Redis was unreachable (no job ever enqueued) once the worker starts', async () => {
    const ids = [await spool('redis was down 1', ['alice@in.test']), await spool('redis was down 2', ['bob@in.test', 'alice@in.test'])];
    for (const id of ids) expect(await queue.queue.getJob(inboundJobId(id))).toBeUndefined();
    const eventsBefore = published.length;

    const app = startWorker({ reconcileAgeMs: 0 });
    await app.run(); // reconciles at start
    await waitFor('the orphaned rows to be filed', allDone(ids));

    const filed = await filingsOf(ids);
    expect(filed.map((m) => [m.spool_id, m.user_id]).sort()).toEqual([[ids[0], alice], [ids[1], alice], [ids[1], bob]].sort());
    expect(filed.every((m) => m.special_use === '\\Inbox')).toBe(true);
    const newEvents = newMessageEvents(eventsBefore);
    for (const m of filed) expect(newEvents).toContainEqual({ userId: m.user_id, event: expect.objectContaining({ type: 'message.new', messageId: m.id }) });
    await stopWorker(app);
  });
});
