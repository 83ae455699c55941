import { Resolver } from 'node:dns/promises';
import { tmpdir } from 'node:os';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createAccountsService,
  createOutboundQueue,
  createRateLimiter,
  createScheduledSendQueue,
  createScheduledSendRepository,
  holdMessage,
  silentLogger,
  type HoldDeps,
  type OutboundQueue,
  type ScheduledSendQueue,
} from '@mailyard/core';
import { allocateRedisUrl } from '../../tests/helpers/redis.js';
import { createTestStore, type TestStore } from '../../tests/helpers/store.js';
import { buildOutboundWorker } from './app.js';
import { testSecrets } from '../../tests/helpers/secrets.js';

/** The outbound worker sends held messages (undo send, scheduled send) when due, and finds those whose job was lost. */

let store: TestStore;
let connection: Redis;
let worker: ReturnType<typeof buildOutboundWorker>;
let outbound: OutboundQueue;
let scheduled: ScheduledSendQueue;
let ann: number;
let ben: number;

function deps(wake: HoldDeps['scheduled'] = scheduled): HoldDeps {
  return { db: store.db, events: { publish: async () => undefined }, dataDir: tmpdir(), limiter: createRateLimiter(connection), outbound, scheduled: wake };
}

async function statusOf(id: number): Promise<string | undefined> {
  return (await createScheduledSendRepository(store.db).get(ann, id))?.status;
}

/** Polls until the held message is sent (or the deadline passes). */
async function untilSent(id: number, deadlineMs = 20_000): Promise<string | undefined> {
  const end = Date.now() + deadlineMs;
  let status = await statusOf(id);
  while (status === 'pending' && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    status = await statusOf(id);
  }
  return status;
}

async function inboxOfBen(subject: string): Promise<number> {
  const rows = await store.db.selectFrom('messages').select('id').where('user_id', '=', ben).where('subject', '=', subject).execute();
  return rows.length;
}

beforeAll(async () => {
  store = await createTestStore();
  connection = new Redis((await allocateRedisUrl()).url, { maxRetriesPerRequest: null });
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('own.test');
  ann = (await accounts.addUser({ address: 'ann@own.test', password: 'ann password' })).id;
  ben = (await accounts.addUser({ address: 'ben@own.test', password: 'ben password' })).id;
  outbound = createOutboundQueue(connection);
  scheduled = createScheduledSendQueue(connection);
  worker = buildOutboundWorker(
    { db: store.db, events: { publish: async () => undefined }, log: silentLogger(), connection, resolver: new Resolver(), secrets: testSecrets },
    {
      concurrency: 2,
      hostname: 'mx.own.test',
      smtpPort: 25,
      connectTimeoutMs: 1_000,
      socketTimeoutMs: 1_000,
      retryScheduleMs: [60_000],
      expireAfterMs: 3_600_000,
      leaseMs: 60_000,
      reconcileIntervalMs: 3_600_000,
      delayWarningMs: null,
    },
  );
  await worker.run();
});
afterAll(async () => {
  await worker?.close();
  await scheduled?.close();
  await outbound?.close();
  connection?.disconnect();
  await store?.drop();
});

describe('held messages in the outbound worker', () => {
  it('sends a scheduled message when its delayed job comes due', async () => {
    const { row } = await holdMessage(deps(), { userId: ann, address: 'ann@own.test' }, { to: ['ben@own.test'], subject: 'in a moment', text: 'x' }, new Date(Date.now() + 1_000));
    expect(await statusOf(row.id)).toBe('pending');
    expect(await untilSent(row.id)).toBe('sent');
    expect(await inboxOfBen('in a moment')).toBe(1);
  });

  it('sends a due message whose job was lost, on the reconcile pass', async () => {
    const lost = { enqueue: async () => undefined };
    const { row } = await holdMessage(deps(lost), { userId: ann, address: 'ann@own.test' }, { to: ['ben@own.test'], subject: 'job lost', text: 'x' });
    // Due for longer than the reconcile interval (an hour here): its job should have run by now.
    await sql`UPDATE scheduled_sends SET send_at = now() - interval '2 hours' WHERE id = ${row.id}`.execute(store.db);
    await worker.reconcile();
    expect(await untilSent(row.id)).toBe('sent');
    expect(await inboxOfBen('job lost')).toBe(1);
  });
});
