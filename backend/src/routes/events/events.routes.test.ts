import { randomInt } from 'node:crypto';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisEventPublisher, ingestMessage, summarizeMessage, toChangeRow, userChannel, type ChangeLogEvent, type UserEvent } from '@mailyard/core';
import { createTestBackend, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';
import { eventually } from '../../../../tests/helpers/services.js';
import { eventData, openSse, type SseFrame, type SseStream } from '../../../../tests/helpers/sse.js';
import { eventStreamDefaults } from './events.routes.js';

// A short heartbeat for this file (each test file runs in its own process).
eventStreamDefaults.heartbeatMs = 150;

let t: TestBackend;
let base: string;
const publisher = () => createRedisEventPublisher(t.redis);
const streams: SseStream[] = [];

/**
 * Redis pub/sub ignores the database index, so channels are shared by every test file on the
 * run's Redis: user ids here start at a random high value so `user:<id>` is this file's alone.
 */
async function randomUserIds(store: TestBackend['store']): Promise<void> {
  await sql`ALTER SEQUENCE users_id_seq RESTART WITH ${sql.lit(randomInt(1_000_000, 2 ** 40))}`.execute(store.db);
}

let counter = 0;
function rawMessage(subject: string): Buffer {
  counter++;
  return Buffer.from(
    ['From: Sender <sender@remote.test>', 'To: someone@ev.test', `Subject: ${subject}`, `Message-ID: <ev-${counter}-${randomInt(1e9)}@remote.test>`, 'Date: Mon, 23 Nov 2026 10:00:00 +0000', '', `body ${counter}`, ''].join('\r\n'),
  );
}

async function deliver(userId: number, subject = 'hello') {
  const raw = rawMessage(subject);
  return ingestMessage({ db: t.store.db, events: publisher() }, { userId, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw) });
}

/** Appends change rows as another writer would (user lock + modseq, same transaction), without publishing. */
async function appendChanges(userId: number, make: (modseq: number) => ChangeLogEvent): Promise<ChangeLogEvent> {
  return t.store.db.transaction().execute(async (tx) => {
    const user = await tx.updateTable('users').set({ modseq: sql`modseq + 1` }).where('id', '=', userId).returning('modseq').executeTakeFirstOrThrow();
    const event = make(user.modseq);
    await tx.insertInto('changes').values(toChangeRow(userId, event)).execute();
    return event;
  });
}

async function stream(agent: Agent | null, opts: { lastEventId?: string; query?: string } = {}): Promise<SseStream> {
  const headers: Record<string, string> = {};
  if (agent) headers.cookie = agent.cookie;
  if (opts.lastEventId !== undefined) headers['last-event-id'] = opts.lastEventId;
  const s = await openSse(`${base}/api/events${opts.query ?? ''}`, headers);
  streams.push(s);
  return s;
}

/** Open and subscribed: the server writes `retry:` once the Redis subscription is live. */
async function liveStream(agent: Agent, opts: { lastEventId?: string; query?: string } = {}): Promise<SseStream> {
  const s = await stream(agent, opts);
  expect(s.status).toBe(200);
  await s.waitFor((f) => f.retry !== undefined, 10_000, 'retry: frame');
  return s;
}

const modseqs = (frames: SseFrame[]) => frames.map((f) => Number(f.id));
const numsub = async (userId: number) => Number(((await t.redis.pubsub('NUMSUB', userChannel(userId))) as [string, number])[1]);

let amy: Agent;
let ben: Agent;

beforeAll(async () => {
  t = await createTestBackend();
  await randomUserIds(t.store);
  await t.accounts.addDomain('ev.test');
  await t.accounts.addUser({ address: 'amy@ev.test', password: 'amy password' });
  await t.accounts.addUser({ address: 'ben@ev.test', password: 'ben password' });
  amy = await t.login('amy@ev.test', 'amy password');
  ben = await t.login('ben@ev.test', 'ben password');
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const address = t.app.server.address();
  if (!address || typeof address === 'string') throw new Error('not listening');
  base = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  for (const s of streams) s.close();
  await t?.close();
});

describe('GET /api/events', () => {
  it('refuses a client without a session with 401 auth.required', async () => {
    const s = await stream(null);
    expect(s.status).toBe(401);
    expect(JSON.parse(await s.body())).toMatchObject({ error: { code: 'auth.required' } });
  });

  it('rejects a Last-Event-ID that is not a modseq with 400', async () => {
    const s = await stream(amy, { lastEventId: 'abc' });
    expect(s.status).toBe(400);
    expect(JSON.parse(await s.body()).error.code).toBe('request.invalid');
  });

  it('is an event stream that starts with retry: 3000 and relays a published message.new with id: <modseq>', async () => {
    const s = await liveStream(amy);
    expect(s.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(s.headers['cache-control']).toContain('no-cache');
    expect(s.frames[0]).toEqual({ retry: 3000 });

    const filed = await deliver(amy.userId, 'live one');
    const frame = await s.waitFor((f) => f.event === 'message.new', 10_000, 'message.new');
    expect(frame.id).toBe(String(filed.modseq));
    expect(eventData(frame)).toEqual({ type: 'message.new', modseq: filed.modseq, mailboxId: filed.mailboxId, messageId: filed.messageId, uid: filed.uid, threadId: filed.threadId });
    s.close();
  });

  it('sends mailbox.counts without an id (it is not in the change log)', async () => {
    const s = await liveStream(amy);
    const counts: UserEvent = { type: 'mailbox.counts', mailboxId: 7, total: 3, unread: 1 };
    await publisher().publish(amy.userId, counts);
    const frame = await s.waitFor((f) => f.event === 'mailbox.counts');
    expect(frame.id).toBeUndefined();
    expect(eventData(frame)).toEqual(counts);
    s.close();
  });

  it('relays delivery.status (where a sent message stands) without an id', async () => {
    const s = await liveStream(amy);
    const status: UserEvent = { type: 'delivery.status', outboundId: 41, sentMessageId: 9, recipient: 'sam@far.test', status: 'deferred', reply: '451 4.7.1 greylisted', nextAttemptAt: '2026-11-23T15:00:00.000Z' };
    await publisher().publish(amy.userId, status);
    const frame = await s.waitFor((f) => f.event === 'delivery.status');
    expect(frame.id).toBeUndefined();
    expect(eventData(frame)).toEqual(status);
    s.close();
  });

  it("gives each user only their own events: ben never receives amy's", async () => {
    const amyStream = await liveStream(amy);
    const benStream = await liveStream(ben);
    const a1 = await deliver(amy.userId, 'for amy 1');
    const a2 = await deliver(amy.userId, 'for amy 2');
    const b1 = await deliver(ben.userId, 'for ben');
    await benStream.waitFor((f) => f.id === String(b1.modseq), 10_000, "ben's event");
    await amyStream.waitFor((f) => f.id === String(a2.modseq), 10_000, "amy's second event");
    expect(benStream.changes().map((f) => eventData(f).messageId)).toEqual([b1.messageId]);
    expect(amyStream.changes().map((f) => eventData(f).messageId)).toEqual([a1.messageId, a2.messageId]);
    amyStream.close();
    benStream.close();
  });

  it('drops anything on the channel that is not a valid event', async () => {
    const s = await liveStream(ben);
    await t.redis.publish(userChannel(ben.userId), 'not json');
    await t.redis.publish(userChannel(ben.userId), JSON.stringify({ type: 'message.new', modseq: 1, mailboxId: 1 }));
    await t.redis.publish(userChannel(ben.userId), JSON.stringify({ type: 'account.deleted', modseq: 2 }));
    const good = await deliver(ben.userId, 'valid');
    await s.waitFor((f) => f.id === String(good.modseq), 10_000, 'the valid event');
    expect(s.changes()).toHaveLength(1);
    s.close();
  });

  it('sends a ": ping" comment at the heartbeat interval', async () => {
    const s = await liveStream(amy);
    await s.waitFor((f) => f.comment === 'ping', 5_000, 'a ping');
    const first = s.frames.findIndex((f) => f.comment === 'ping');
    await s.waitFor((f) => f.comment === 'ping' && s.frames.indexOf(f) > first, 5_000, 'a second ping');
    s.close();
  });
});

describe('replay after a gap', () => {
  it('replays exactly the events after Last-Event-ID, in order, with the payload of every kind, then goes live', async () => {
    const seen = await deliver(amy.userId, 'already seen');
    // Missed while disconnected: two new messages, a flag change, a move and a delete.
    const m1 = await deliver(amy.userId, 'missed 1');
    const m2 = await deliver(amy.userId, 'missed 2');
    const flags = await appendChanges(amy.userId, (modseq) => ({ type: 'message.flags', modseq, mailboxId: m1.mailboxId, messageId: m1.messageId, uid: m1.uid, flags: ['\\Seen', '$label1'] }));
    const moved = await appendChanges(amy.userId, (modseq) => ({ type: 'message.moved', modseq, messageId: m1.messageId, fromMailboxId: m1.mailboxId, fromUid: m1.uid, mailboxId: m1.mailboxId + 1, uid: 1 }));
    const deleted = await appendChanges(amy.userId, (modseq) => ({ type: 'message.deleted', modseq, mailboxId: m2.mailboxId, messageId: m2.messageId, uid: m2.uid }));

    const s = await liveStream(amy, { lastEventId: String(seen.modseq) });
    await s.waitFor((f) => f.id === String(deleted.modseq), 10_000, 'the last missed event');
    expect(modseqs(s.changes())).toEqual([m1.modseq, m2.modseq, flags.modseq, moved.modseq, deleted.modseq]);
    expect(s.changes().map((f) => f.event)).toEqual(['message.new', 'message.new', 'message.flags', 'message.moved', 'message.deleted']);
    expect(s.changes().map((f) => eventData(f))).toEqual([
      { type: 'message.new', modseq: m1.modseq, mailboxId: m1.mailboxId, messageId: m1.messageId, uid: m1.uid, threadId: m1.threadId },
      { type: 'message.new', modseq: m2.modseq, mailboxId: m2.mailboxId, messageId: m2.messageId, uid: m2.uid, threadId: m2.threadId },
      flags,
      moved,
      deleted,
    ]);

    const live = await deliver(amy.userId, 'after the replay');
    await s.waitFor((f) => f.id === String(live.modseq), 10_000, 'the live event');
    expect(modseqs(s.changes())).toEqual([m1.modseq, m2.modseq, flags.modseq, moved.modseq, deleted.modseq, live.modseq]);
    s.close();
  });

  it('takes ?since= when there is no Last-Event-ID, and Last-Event-ID over ?since= (EventSource reconnects keep the URL)', async () => {
    const a = await deliver(ben.userId, 'a');
    const b = await deliver(ben.userId, 'b');
    const byQuery = await liveStream(ben, { query: `?since=${a.modseq - 1}` });
    await byQuery.waitFor((f) => f.id === String(b.modseq));
    expect(modseqs(byQuery.changes())).toEqual([a.modseq, b.modseq]);
    byQuery.close();

    const both = await liveStream(ben, { query: `?since=${a.modseq - 1}`, lastEventId: String(a.modseq) });
    await both.waitFor((f) => f.id === String(b.modseq));
    expect(modseqs(both.changes())).toEqual([b.modseq]);
    both.close();
  });

  it('holds live events back while replaying, then sends each modseq once, in order', async () => {
    const before = await deliver(amy.userId, 'before the gap');
    const missed = await deliver(amy.userId, 'missed');

    // Block the replay: the log cannot be read until this transaction commits. Meanwhile it
    // appends two more changes, and their events (and one later change's) are published.
    const blocker = new pg.Client({ connectionString: t.store.url });
    await blocker.connect();
    const probe = new Redis(t.redisUrl);
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE changes IN ACCESS EXCLUSIVE MODE');
      // Three modseqs: k1 and k2 are logged here; k3 stands for a change committed after the replay read the log.
      const { rows } = await blocker.query<{ modseq: string }>('UPDATE users SET modseq = modseq + 3 WHERE id = $1 RETURNING modseq', [amy.userId]);
      const k3 = Number(rows[0]!.modseq);
      const [k1, k2] = [k3 - 2, k3 - 1];
      const ev = (modseq: number): ChangeLogEvent => ({ type: 'message.flags', modseq, mailboxId: missed.mailboxId, messageId: missed.messageId, uid: missed.uid, flags: [`$k${modseq}`] });
      for (const modseq of [k1, k2]) {
        const row = toChangeRow(amy.userId, ev(modseq));
        await blocker.query('INSERT INTO changes (user_id, modseq, kind, mailbox_id, message_id, uid, payload) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
          row.user_id,
          row.modseq,
          row.kind,
          row.mailbox_id,
          row.message_id,
          row.uid,
          row.payload,
        ]);
      }

      const s = await liveStream(amy, { lastEventId: String(before.modseq) });
      await eventually(
        async () => {
          const r = await t.store.db.executeQuery<{ n: number }>(
            sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%from "changes"%'`.compile(t.store.db),
          );
          return r.rows[0]!.n > 0;
        },
        { timeoutMs: 10_000, describe: () => 'the replay never waited for the lock' },
      );

      // Live events during the replay: three the replay also reads, one it does not.
      await probe.subscribe(userChannel(amy.userId));
      const probed = new Promise<void>((resolve) => {
        let n = 0;
        probe.on('message', () => ++n === 4 && resolve());
      });
      for (const e of [ev(k2), ev(missed.modseq), ev(k3), ev(k1)]) await publisher().publish(amy.userId, e);
      await probed;
      await blocker.query('COMMIT');

      await s.waitFor((f) => f.id === String(k3), 10_000, 'the event after the replay');
      expect(modseqs(s.changes())).toEqual([missed.modseq, k1, k2, k3]);
      // The replayed k1, k2 come from the log (the same shape as the live ones).
      expect(eventData(s.changes()[1]!)).toEqual(ev(k1));
      const afterwards = await deliver(amy.userId, 'live afterwards');
      await s.waitFor((f) => f.id === String(afterwards.modseq));
      expect(modseqs(s.changes())).toEqual([missed.modseq, k1, k2, k3, afterwards.modseq]);
      s.close();
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end();
      probe.disconnect();
    }
  });

  it('answers a gap of more than 10,000 changes with event: resync at the current modseq, then goes live', async () => {
    const user = await t.accounts.addUser({ address: 'busy@ev.test', password: 'busy password' });
    const busy = await t.login('busy@ev.test', 'busy password');
    await sql`
      INSERT INTO changes (user_id, modseq, kind, mailbox_id, message_id, uid, payload)
      SELECT ${user.id}, g, 'message.deleted', 1, g, g, '{}'::jsonb FROM generate_series(1, 10001) AS g
    `.execute(t.store.db);
    await t.store.db.updateTable('users').set({ modseq: 10_001 }).where('id', '=', user.id).execute();

    const s = await liveStream(busy, { lastEventId: '0' });
    const resync = await s.waitFor((f) => f.event !== undefined, 10_000, 'the first event');
    expect(resync).toEqual({ id: '10001', event: 'resync', data: JSON.stringify({ modseq: 10_001 }) });
    const live = await deliver(user.id, 'after the resync');
    await s.waitFor((f) => f.id === String(live.modseq));
    expect(s.changes().map((f) => f.event)).toEqual(['resync', 'message.new']);
    s.close();

    // Exactly 10,000 missing is still a replay (3 .. 10,001 and the live one).
    const within = await liveStream(busy, { lastEventId: '2' });
    await within.waitFor((f) => f.id === String(live.modseq), 20_000, 'the end of a 10,000-event replay');
    expect(within.changes()).toHaveLength(10_000);
    expect(within.changes()[0]!.id).toBe('3');
    within.close();
  });

  it('answers a Last-Event-ID ahead of the server (another database) with resync', async () => {
    const s = await liveStream(ben, { lastEventId: '999999999' });
    const frame = await s.waitFor((f) => f.event !== undefined);
    expect(frame.event).toBe('resync');
    const current = (await t.store.db.selectFrom('users').select('modseq').where('id', '=', ben.userId).executeTakeFirstOrThrow()).modseq;
    expect(eventData(frame)).toEqual({ modseq: current });
    s.close();
  });
});

describe('lifetime of a stream', () => {
  it('shares one subscription per user and UNSUBSCRIBEs user:<id> when the last stream of the user closes', async () => {
    const carl = await t.accounts.addUser({ address: 'carl@ev.test', password: 'carl password' });
    const agent = await t.login('carl@ev.test', 'carl password');
    expect(await numsub(carl.id)).toBe(0);
    const first = await liveStream(agent);
    const second = await liveStream(agent);
    expect(await numsub(carl.id)).toBe(1);
    first.close();
    // The other tab still gets events.
    const filed = await deliver(carl.id, 'still open');
    await second.waitFor((f) => f.id === String(filed.modseq));
    expect(await numsub(carl.id)).toBe(1);
    second.close();
    await eventually(async () => (await numsub(carl.id)) === 0, { timeoutMs: 10_000, describe: async () => `NUMSUB ${await numsub(carl.id)}` });
  });

  it('ends the streams when the Redis subscriber connection drops, and the client catches up from Last-Event-ID', async () => {
    const s = await liveStream(ben);
    const seen = await deliver(ben.userId, 'before the drop');
    await s.waitFor((f) => f.id === String(seen.modseq));
    // This backend's subscriber is the pub/sub client on this file's Redis database.
    const db = new URL(t.redisUrl).pathname.slice(1);
    const clients = ((await t.redis.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string).split('\n').filter((l) => l.includes(` db=${db} `));
    expect(clients).toHaveLength(1);
    const id = /\bid=(\d+)/.exec(clients[0]!)![1]!;
    await t.redis.call('CLIENT', 'KILL', 'ID', id);
    await Promise.race([s.ended, new Promise((_, reject) => setTimeout(() => reject(new Error('stream still open after the subscriber dropped')), 10_000))]);

    // Missed while the subscriber was away; the reconnecting client replays it.
    const missed = await deliver(ben.userId, 'while reconnecting');
    const again = await liveStream(ben, { lastEventId: String(seen.modseq) });
    await again.waitFor((f) => f.id === String(missed.modseq), 10_000, 'the missed event');
    const live = await deliver(ben.userId, 'after the reconnect');
    await again.waitFor((f) => f.id === String(live.modseq), 10_000, 'a live event on the new subscriber connection');
    expect(modseqs(again.changes())).toEqual([missed.modseq, live.modseq]);
    again.close();
  });

  it('ends the stream when its session is logged out', async () => {
    await t.accounts.addUser({ address: 'dora@ev.test', password: 'dora password' });
    const dora = await t.login('dora@ev.test', 'dora password');
    const s = await liveStream(dora);
    const res = await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: dora.headers });
    expect(res.statusCode).toBeLessThan(300);
    await Promise.race([s.ended, new Promise((_, reject) => setTimeout(() => reject(new Error('stream still open after logout')), 10_000))]);
    await eventually(async () => (await numsub(dora.userId)) === 0, { timeoutMs: 10_000 });
  });

  it('ends open streams when the backend closes, so close() does not hang', async () => {
    const other = await createTestBackend();
    let closing = false;
    try {
      await randomUserIds(other.store);
      await other.accounts.addDomain('close.test');
      await other.accounts.addUser({ address: 'eve@close.test', password: 'eve password' });
      const eve = await other.login('eve@close.test', 'eve password');
      await other.app.listen({ port: 0, host: '127.0.0.1' });
      const address = other.app.server.address();
      if (!address || typeof address === 'string') throw new Error('not listening');
      const s = await openSse(`http://127.0.0.1:${address.port}/api/events`, { cookie: eve.cookie });
      streams.push(s);
      await s.waitFor((f) => f.retry !== undefined);
      closing = true;
      await Promise.race([other.close(), new Promise((_, reject) => setTimeout(() => reject(new Error('close() hangs with an open stream')), 10_000))]);
      await s.ended;
      expect(s.isEnded()).toBe(true);
      expect(await numsub(eve.userId)).toBe(0);
    } finally {
      if (!closing) await other.close();
    }
  });
});
