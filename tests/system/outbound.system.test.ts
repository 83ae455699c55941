import { randomInt } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import { simpleParser } from 'mailparser';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildOutboundWorker } from '../../outbound-worker/src/app.js';
import { createAccountsService } from '../../core/src/accounts/accounts.service.js';
import { activeDkimPublicKey, dkimTxtRecord } from '../../core/src/accounts/dkim.service.js';
import { createRateLimiter } from '../../core/src/auth/rate-limit.js';
import type { UserEvent } from '../../core/src/contracts/events.js';
import type { EventPublisher } from '../../core/src/events/publisher.js';
import { silentLogger } from '../../core/src/log/logger.js';
import { sendMessage, type SendDeps } from '../../core/src/mail/send.js';
import { createOutboundQueue, type OutboundQueue } from '../../core/src/queue/queues.js';
import { createRedis } from '../../core/src/queue/redis.js';
import { blobHash, createBlobRepository } from '../../core/src/repositories/blob.repository.js';
import { createOutboundRepository } from '../../core/src/repositories/outbound.repository.js';
import { freePort } from '../../core/src/local/process-utils.js';
import { verifyDkim } from '../helpers/dkim-verify.js';
import { startDnsmasq, type TestDnsServer } from '../helpers/dnsmasq.js';
import { startPostfixReceiver, type PostfixReceiver } from '../helpers/postfix.js';
import { allocateRedisUrl } from '../helpers/redis.js';
import { eventually, spawnService, type ServiceProcess } from '../helpers/services.js';
import { eventData, openSse, type SseStream } from '../helpers/sse.js';
import { createTestStore, type TestStore } from '../helpers/store.js';
import { TEST_SECRET_KEY, testSecrets } from '../helpers/secrets.js';

/**
 * The outbound worker against real peers: a private Debian Postfix on 127.0.0.2 as the remote
 * MTA for b.test, dnsmasq serving MX/A/TXT for the test domains, python3-dkim as an independent
 * DKIM verifier. Retries are time-compressed (300 ms); expiry is reached by ageing a message.
 */

let store: TestStore;
let redisUrl: string;
let connection: Redis;
let outboundQueue: OutboundQueue;
let dns: TestDnsServer;
let postfix: PostfixReceiver;
let ann: number;
let sendDeps: SendDeps;
let worker: ReturnType<typeof buildOutboundWorker>;
const published: Array<{ userId: number; event: UserEvent }> = [];
const events: EventPublisher = { publish: async (userId, event) => void published.push({ userId, event }) };

/** Recipients whose first policy check is answered 450 (a greylisting remote). */
const greylisted = new Set(['grey@b.test', 'later@b.test']);
/** Policy requests (one per RCPT the remote was sent) per recipient. */
const rcptCount = new Map<string, number>();
const seenGrey = new Set<string>();
/** hold@b.test: the policy answer waits until the test releases it (the worker is mid-transaction). */
let releaseHold: () => void = () => undefined;
const held = new Promise<void>((resolve) => (releaseHold = resolve));
let holdRequests = 0;
/** after250@b.test: the first RCPT waits until the test has taken its row lock (see the kill after the 250). */
let releaseAfter250: () => void = () => undefined;
const after250Gate = new Promise<void>((resolve) => (releaseAfter250 = resolve));

async function send(to: string[], subject: string, text = `body of ${subject}`) {
  return sendMessage(sendDeps, { userId: ann, address: 'ann@a.test', name: 'Ann' }, { to, subject, text });
}

async function statuses(outboundId: number): Promise<Record<string, string>> {
  const rows = await store.db.selectFrom('deliveries').select(['recipient', 'status']).where('outbound_id', '=', outboundId).execute();
  return Object.fromEntries(rows.map((r) => [r.recipient, r.status]));
}

async function waitForStatus(outboundId: number, want: Record<string, string>, timeoutMs = 30_000) {
  return eventually(
    async () => {
      const now = await statuses(outboundId);
      return Object.entries(want).every(([r, s]) => now[r] === s) ? now : null;
    },
    { timeoutMs, describe: async () => JSON.stringify(await statuses(outboundId)) },
  );
}

async function eventLog(outboundId: number, recipient: string) {
  return store.db
    .selectFrom('delivery_events')
    .innerJoin('deliveries', 'deliveries.id', 'delivery_events.delivery_id')
    .select(['delivery_events.status', 'delivery_events.reply', 'delivery_events.remote_mta'])
    .where('deliveries.outbound_id', '=', outboundId)
    .where('deliveries.recipient', '=', recipient)
    .orderBy('delivery_events.id')
    .execute();
}

/** DSNs in Ann's INBOX that answer the message with this Message-ID. */
async function dsnsFor(messageIdHeader: string) {
  const rows = await store.db
    .selectFrom('messages')
    .innerJoin('mailboxes', 'mailboxes.id', 'messages.mailbox_id')
    .innerJoin('blobs', 'blobs.hash', 'messages.blob_hash')
    .select(['blobs.data', 'messages.thread_id'])
    .where('messages.user_id', '=', ann)
    .where('mailboxes.special_use', '=', '\\Inbox')
    .where('messages.in_reply_to', '=', messageIdHeader)
    .execute();
  return rows;
}

async function messageIdOf(outboundId: number): Promise<string> {
  const row = await store.db.selectFrom('outbound_messages').select('message_id_header').where('id', '=', outboundId).executeTakeFirstOrThrow();
  return row.message_id_header!;
}

function deliveryStatusPart(raw: Buffer): string {
  const text = raw.toString('latin1');
  const start = text.search(/Content-Type: message\/delivery-status/i);
  expect(start).toBeGreaterThan(0);
  return text.slice(start, text.indexOf('\r\n--', start));
}

beforeAll(async () => {
  store = await createTestStore();
  const redis = await allocateRedisUrl();
  redisUrl = redis.url;
  await redis.flush();
  connection = createRedis(redisUrl, { maxRetriesPerRequest: null });
  outboundQueue = createOutboundQueue(connection);

  // Redis pub/sub ignores the database index: a random user id keeps `user:<id>` (SSE) this file's own.
  await sql`ALTER SEQUENCE users_id_seq RESTART WITH ${sql.lit(randomInt(1_000_000, 2 ** 40))}`.execute(store.db);
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('a.test'); // generates the DKIM key
  ann = (await accounts.addUser({ address: 'ann@a.test', password: 'correct horse' })).id;
  const dkim = (await activeDkimPublicKey(store.db, 'a.test'))!;

  postfix = await startPostfixReceiver({
    host: '127.0.0.2',
    domains: ['b.test', 'failover.test'],
    mailboxes: ['bob@b.test', 'grey@b.test', 'hold@b.test', 'after250@b.test', 'later@b.test', 'sec@failover.test'],
    policy: async (req) => {
      const rcpt = (req.recipient ?? '').toLowerCase();
      rcptCount.set(rcpt, (rcptCount.get(rcpt) ?? 0) + 1);
      if (rcpt === 'after250@b.test' && rcptCount.get(rcpt) === 1) await after250Gate;
      if (greylisted.has(rcpt) && !seenGrey.has(rcpt)) {
        seenGrey.add(rcpt);
        return '450 4.2.0 Greylisted, come back later';
      }
      if (rcpt === 'hold@b.test' && holdRequests++ === 0) await held;
      return 'DUNNO';
    },
  });
  dns = await startDnsmasq({
    mx: [
      { name: 'b.test', host: 'mx.b.test', priority: 10 },
      { name: 'down.test', host: 'mx.down.test', priority: 10 },
      // The primary refuses connections; the secondary (lower preference) is the real Postfix.
      { name: 'failover.test', host: 'mx1.failover.test', priority: 10 },
      { name: 'failover.test', host: 'mx2.failover.test', priority: 20 },
    ],
    a: [
      { name: 'mx.b.test', address: '127.0.0.2' },
      // Nothing listens there: connection refused.
      { name: 'mx.down.test', address: '127.0.0.9' },
      { name: 'mx1.failover.test', address: '127.0.0.9' },
      { name: 'mx2.failover.test', address: '127.0.0.2' },
    ],
    nullMx: ['null.test'],
    txt: [{ name: `${dkim.selector}._domainkey.a.test`, value: dkimTxtRecord(dkim.publicKeyB64) }],
    localDomains: ['b.test', 'down.test', 'failover.test', 'null.test', 'nx.test', 'a.test'],
  });

  sendDeps = { db: store.db, events, dataDir: '/nonexistent', limiter: createRateLimiter(connection), outbound: outboundQueue };
  const resolver = new Resolver({ timeout: 2_000, tries: 1 });
  resolver.setServers([dns.server]);
  worker = buildOutboundWorker(
    { db: store.db, events, log: silentLogger(), connection, resolver, secrets: testSecrets },
    {
      concurrency: 4,
      hostname: 'mx.a.test',
      smtpPort: postfix.port,
      connectTimeoutMs: 5_000,
      socketTimeoutMs: 30_000,
      retryScheduleMs: [300],
      expireAfterMs: 3_600_000,
      leaseMs: 60_000,
      reconcileIntervalMs: 3_600_000,
      delayWarningMs: 1_800_000,
      allowPrivate: true, // the peers listen on 127.0.0.x
    },
  );
  await worker.run();
});

afterAll(async () => {
  releaseHold();
  releaseAfter250();
  await worker?.close();
  await outboundQueue?.close();
  connection?.disconnect();
  await postfix?.stop();
  await dns?.stop();
  await store?.drop();
});

describe('outbound delivery to a real Postfix over MX', () => {
  it('delivers the message intact over STARTTLS, with a DKIM signature an independent verifier accepts', async () => {
    const sent = await send(['Bob <bob@b.test>'], 'hello over MX', 'line one\r\n.dot line\r\nline three');
    await waitForStatus(sent.outboundId, { 'bob@b.test': 'delivered' });
    const [delivered] = await postfix.waitForMessages('bob@b.test', 1, 20_000);
    const original = await store.db.selectFrom('messages').innerJoin('blobs', 'blobs.hash', 'messages.blob_hash').select('blobs.data').where('messages.id', '=', sent.messageId).executeTakeFirstOrThrow();
    // Postfix prepends its trace fields and we prepend the signature: the rest is byte-identical.
    expect(delivered!.subarray(delivered!.length - original.data.length).equals(original.data)).toBe(true);
    expect(delivered!.toString()).toMatch(/^DKIM-Signature: .*d=a\.test/m);
    expect(delivered!.toString()).toMatch(/with ESMTPS/); // STARTTLS was used
    const verdict = await verifyDkim(delivered!, dns.server);
    expect(verdict, verdict.detail).toMatchObject({ ok: true });
    const log = await eventLog(sent.outboundId, 'bob@b.test');
    expect(log.map((e) => e.status)).toEqual(['queued', 'delivered']);
    expect(log[1]).toMatchObject({ remote_mta: 'mx.b.test', reply: expect.stringMatching(/^250 /) });
    expect(published).toContainEqual({ userId: ann, event: expect.objectContaining({ type: 'delivery.status', outboundId: sent.outboundId, recipient: 'bob@b.test', status: 'delivered' }) });
  });

  it('delivers a message over the inline limit (loaded apart from its claim) intact', async () => {
    const big = Array.from({ length: 6000 }, (_, i) => `line ${i} of a long message, padded to be about fifty bytes`).join('\r\n');
    const sent = await send(['bob@b.test'], 'a big one', big);
    const original = await store.db.selectFrom('messages').innerJoin('blobs', 'blobs.hash', 'messages.blob_hash').select('blobs.data').where('messages.id', '=', sent.messageId).executeTakeFirstOrThrow();
    expect(original.data.length).toBeGreaterThan(256 * 1024);
    await waitForStatus(sent.outboundId, { 'bob@b.test': 'delivered' });
    const delivered = await eventually(async () => (await postfix.messagesFor('bob@b.test')).find((m) => m.includes('Subject: a big one')), { timeoutMs: 10_000 });
    expect(delivered.subarray(delivered.length - original.data.length).equals(original.data)).toBe(true);
    expect((await verifyDkim(delivered, dns.server)).ok).toBe(true);
  });

  it('reuses the connection to a host for the next messages', async () => {
    const connects = async () => ((await postfix.log()).match(/smtpd\[\d+\]: connect from/g) ?? []).length;
    const before = await connects();
    const already = (await postfix.messagesFor('bob@b.test')).length;
    for (const n of [1, 2, 3]) {
      const sent = await send(['bob@b.test'], `reuse ${n}`);
      await waitForStatus(sent.outboundId, { 'bob@b.test': 'delivered' });
    }
    await postfix.waitForMessages('bob@b.test', already + 3, 10_000);
    // At most one new connection (none if the previous test's one was still open).
    expect((await connects()) - before).toBeLessThanOrEqual(1);
  });

  it('defers on 4xx and delivers on the retry', async () => {
    const sent = await send(['grey@b.test'], 'greylisted once');
    await waitForStatus(sent.outboundId, { 'grey@b.test': 'delivered' });
    await postfix.waitForMessages('grey@b.test', 1, 10_000);
    const log = await eventLog(sent.outboundId, 'grey@b.test');
    expect(log.map((e) => e.status)).toEqual(['queued', 'deferred', 'delivered']);
    expect(log[1]!.reply).toMatch(/^450 4\.2\.0 .*Greylisted/);
  });

  it('fails over to the secondary MX when the primary refuses the connection', async () => {
    const sent = await send(['sec@failover.test'], 'via the backup MX');
    await waitForStatus(sent.outboundId, { 'sec@failover.test': 'delivered' });
    const [received] = await postfix.waitForMessages('sec@failover.test', 1, 10_000);
    expect(received!.toString()).toContain('Subject: via the backup MX');
    const log = await eventLog(sent.outboundId, 'sec@failover.test');
    // One attempt: the refused primary was skipped within it, not deferred.
    expect(log.map((e) => [e.status, e.remote_mta])).toEqual([
      ['queued', null],
      ['delivered', 'mx2.failover.test'],
    ]);
  });

  it('bounces a 550 recipient at once with an RFC 3464 DSN to the sender, while the other recipient is delivered', async () => {
    const sent = await send(['bob@b.test', 'nobody@b.test'], 'one good one bad');
    await waitForStatus(sent.outboundId, { 'bob@b.test': 'delivered', 'nobody@b.test': 'bounced' });
    const messageId = await messageIdOf(sent.outboundId);
    const [dsn] = await eventually(async () => {
      const rows = await dsnsFor(messageId);
      return rows.length > 0 ? rows : null;
    }, { timeoutMs: 10_000 });
    const parsed = await simpleParser(dsn!.data);
    expect(parsed.headers.get('content-type')).toMatchObject({ value: 'multipart/report', params: expect.objectContaining({ 'report-type': 'delivery-status' }) });
    expect(parsed.from?.text).toMatch(/MAILER-DAEMON@mx\.a\.test/);
    const status = deliveryStatusPart(dsn!.data);
    expect(status).toMatch(/^Final-Recipient: rfc822; ?nobody@b\.test$/m);
    expect(status).toMatch(/^Action: failed$/m);
    expect(status).toMatch(/^Status: 5\.1\.1$/m);
    expect(status).toMatch(/^Remote-MTA: dns; ?mx\.b\.test$/m);
    expect(status).toMatch(/^Diagnostic-Code: smtp; ?550 5\.1\.1/m);
    expect(status).not.toMatch(/bob@b\.test/);
    expect(dsn!.data.toString()).toContain('Subject: one good one bad');
    // The bounce threads with the Sent message.
    const sentThread = await store.db.selectFrom('messages').select('thread_id').where('id', '=', sent.messageId).executeTakeFirstOrThrow();
    expect(dsn!.thread_id).toBe(sentThread.thread_id);
    expect(await postfix.messagesFor('bob@b.test')).not.toHaveLength(0);
  });

  it('bounces a null-MX domain and a domain that does not exist without trying to connect', async () => {
    const sent = await send(['x@null.test', 'y@nx.test'], 'nowhere to go');
    await waitForStatus(sent.outboundId, { 'x@null.test': 'bounced', 'y@nx.test': 'bounced' });
    expect((await eventLog(sent.outboundId, 'x@null.test')).at(-1)!.reply).toMatch(/^556 5\.1\.10 /);
    expect((await eventLog(sent.outboundId, 'y@nx.test')).at(-1)!.reply).toMatch(/^550 5\.1\.2 /);
    const messageId = await messageIdOf(sent.outboundId);
    // One DSN or two (the domains' jobs may finish together), but each recipient reported exactly once.
    const reported = (rows: Array<{ data: Buffer }>) => rows.map((d) => deliveryStatusPart(d.data)).join('\n');
    const all = await eventually(async () => {
      const text = reported(await dsnsFor(messageId));
      return /x@null\.test/.test(text) && /y@nx\.test/.test(text) ? text : null;
    }, { timeoutMs: 10_000 });
    expect(all).toMatch(/Final-Recipient: rfc822; ?x@null\.test\s*\n(?:[^\n]+\n)*?Status: 5\.1\.10/);
    expect(all).toMatch(/Final-Recipient: rfc822; ?y@nx\.test\s*\n(?:[^\n]+\n)*?Status: 5\.1\.2/);
    expect(all.match(/Final-Recipient: rfc822; ?x@null\.test/g)).toHaveLength(1);
    expect(all.match(/Final-Recipient: rfc822; ?y@nx\.test/g)).toHaveLength(1);
  });

  it('defers an unreachable host, then returns the message once it expires (DSN with 4.4.7)', async () => {
    const sent = await send(['z@down.test'], 'host is down');
    await waitForStatus(sent.outboundId, { 'z@down.test': 'deferred' });
    const first = await eventLog(sent.outboundId, 'z@down.test');
    expect(first[1]!.reply).toMatch(/mx\.down\.test\[127\.0\.0\.9\].*(ECONNREFUSED|ECONNECTION)/);
    // Age the message past its lifetime: the next failed attempt expires it instead of deferring.
    await store.db.updateTable('outbound_messages').set({ created_at: new Date(Date.now() - 2 * 3_600_000) }).where('id', '=', sent.outboundId).execute();
    await waitForStatus(sent.outboundId, { 'z@down.test': 'expired' });
    const messageId = await messageIdOf(sent.outboundId);
    const [dsn] = await eventually(async () => {
      const rows = await dsnsFor(messageId);
      return rows.length > 0 ? rows : null;
    }, { timeoutMs: 10_000 });
    const status = deliveryStatusPart(dsn!.data);
    expect(status).toMatch(/^Final-Recipient: rfc822; ?z@down\.test$/m);
    expect(status).toMatch(/^Action: failed$/m);
    expect(status).toMatch(/^Status: 4\.4\.7$/m);
  });

  it('tells the sender once when a message is still undelivered after the warning time (a "delayed" DSN)', async () => {
    const sent = await send(['w@down.test'], 'slow to leave');
    await waitForStatus(sent.outboundId, { 'w@down.test': 'deferred' });
    // 45 minutes old: past the 30-minute warning, before the 1-hour expiry.
    await store.db.updateTable('outbound_messages').set({ created_at: new Date(Date.now() - 45 * 60_000) }).where('id', '=', sent.outboundId).execute();
    const messageId = await messageIdOf(sent.outboundId);
    const [warning] = await eventually(async () => {
      const rows = await dsnsFor(messageId);
      return rows.length > 0 ? rows : null;
    }, { timeoutMs: 10_000 });
    const status = deliveryStatusPart(warning!.data);
    expect(status).toMatch(/^Action: delayed$/m);
    expect(status).toMatch(/^Final-Recipient: rfc822; ?w@down\.test$/m);
    expect(status).toMatch(/^Will-Retry-Until: /m);
    expect(warning!.data.toString()).toMatch(/^Subject: Delayed Mail/m);
    // Still retried, and warned only once: a few more attempts file nothing new.
    const attempts = async () => (await store.db.selectFrom('deliveries').select('attempts').where('outbound_id', '=', sent.outboundId).executeTakeFirstOrThrow()).attempts;
    const seen = await attempts();
    await eventually(async () => (await attempts()) >= seen + 2, { timeoutMs: 10_000 });
    expect(await dsnsFor(messageId)).toHaveLength(1);
    // Let it expire so it stops retrying: the failed DSN follows the warning.
    await store.db.updateTable('outbound_messages').set({ created_at: new Date(Date.now() - 2 * 3_600_000) }).where('id', '=', sent.outboundId).execute();
    await waitForStatus(sent.outboundId, { 'w@down.test': 'expired' });
    await eventually(async () => (await dsnsFor(messageId)).length === 2, { timeoutMs: 10_000 });
  });

  it('delivers what is due but has no job (Redis lost it): the reconciler queues it again', async () => {
    const raw = Buffer.from('From: ann@a.test\r\nTo: bob@b.test\r\nSubject: lost job\r\nMessage-ID: <lost-job@a.test>\r\n\r\nx\r\n');
    await createBlobRepository(store.db).putMany([{ hash: blobHash(raw), data: raw }]);
    const rec = await createOutboundRepository(store.db).record({ userId: ann, sentMessageId: null, raw, mailFrom: 'ann@a.test', messageIdHeader: '<lost-job@a.test>', subject: 'lost job', dkimDomain: 'a.test', recipients: [{ address: 'bob@b.test', domain: 'b.test', local: false }] });
    // Never enqueued, and due for longer than the reconciler's grace (its interval, 1 h here).
    await store.db.updateTable('deliveries').set({ next_attempt_at: new Date(Date.now() - 2 * 3_600_000) }).where('outbound_id', '=', rec.outboundId).execute();
    expect((await statuses(rec.outboundId))['bob@b.test']).toBe('queued');
    await worker.reconcile();
    await waitForStatus(rec.outboundId, { 'bob@b.test': 'delivered' });
  });

  it('never sends a DSN for a message with the null sender', async () => {
    const raw = Buffer.from('From: ann@a.test\r\nTo: nobody@b.test\r\nSubject: null sender\r\nMessage-ID: <null-sender@a.test>\r\n\r\nx\r\n');
    await createBlobRepository(store.db).putMany([{ hash: blobHash(raw), data: raw }]);
    const rec = await createOutboundRepository(store.db).record({ userId: ann, sentMessageId: null, raw, mailFrom: '', messageIdHeader: '<null-sender@a.test>', subject: 'null sender', dkimDomain: 'a.test', recipients: [{ address: 'nobody@b.test', domain: 'b.test', local: false }] });
    await outboundQueue.enqueue([{ outboundId: rec.outboundId, domain: 'b.test', attempt: 0 }]);
    await waitForStatus(rec.outboundId, { 'nobody@b.test': 'bounced' });
    await eventually(async () => {
      const row = await store.db.selectFrom('deliveries').select('dsn_pending').where('outbound_id', '=', rec.outboundId).executeTakeFirstOrThrow();
      return !row.dsn_pending;
    }, { timeoutMs: 10_000 });
    expect(await dsnsFor('<null-sender@a.test>')).toEqual([]);
  });
});

describe('a worker killed mid-delivery', () => {
  let spawned: ServiceProcess[] = [];
  // These tests' workers are separate processes (the built outbound-worker) so they can be SIGKILLed.
  const workerEnv = () => ({
    DATABASE_URL: store.url,
    REDIS_URL: redisUrl,
    DNS_SERVERS: dns.server,
    MAIL_HOSTNAME: 'mx.a.test',
    OUTBOUND_SMTP_PORT: String(postfix.port),
    OUTBOUND_LEASE: '2s',
    OUTBOUND_RECONCILE_INTERVAL: '500ms',
    OUTBOUND_RETRY_SCHEDULE: '300ms',
    OUTBOUND_ALLOW_PRIVATE: 'true',
    SECRET_KEY: TEST_SECRET_KEY, // opens the DKIM key the test sealed
    LOG_LEVEL: 'warn',
  });
  afterEach(async () => {
    for (const s of spawned) await s.kill();
    spawned = [];
  });

  it('neither loses nor doubles the message: another worker delivers it once after the lease runs out (killed mid-RCPT)', async () => {
    await worker.close().catch(() => undefined);
    const env = workerEnv();
    const first = spawnService('outbound-worker', env);
    spawned.push(first);
    const sent = await send(['hold@b.test'], 'held mid-transaction');
    // The remote is now holding our RCPT: the worker is inside the SMTP transaction.
    await eventually(async () => holdRequests > 0, { timeoutMs: 20_000, describe: () => first.output() });
    await first.kill();
    releaseHold();
    expect((await statuses(sent.outboundId))['hold@b.test']).toBe('queued');

    const second = spawnService('outbound-worker', env);
    spawned.push(second);
    await waitForStatus(sent.outboundId, { 'hold@b.test': 'delivered' }, 30_000);
    const messages = await postfix.waitForMessages('hold@b.test', 1, 10_000);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.toString()).toContain('Subject: held mid-transaction');
    const log = await eventLog(sent.outboundId, 'hold@b.test');
    expect(log.map((e) => e.status)).toEqual(['queued', 'delivered']);
  });

  it('at-least-once: killed between the remote 250 to end-of-DATA and the outcome commit, the remote may hold a duplicate, the log records one delivery', async () => {
    await worker.close().catch(() => undefined);
    // The killed worker's outcome statement is already on the wire, waiting for our lock; a
    // PostgreSQL that checks for a vanished client drops it (without the check it would commit
    // once the lock is released, and the kill would have landed after the commit instead).
    const { rows } = await sql<{ name: string }>`SELECT current_database() AS name`.execute(store.db);
    await sql`ALTER DATABASE ${sql.id(rows[0]!.name)} SET client_connection_check_interval = '100ms'`.execute(store.db);
    const env = workerEnv();
    const first = spawnService('outbound-worker', env);
    spawned.push(first);
    const sent = await send(['after250@b.test'], 'killed after the 250');
    // The worker is at RCPT: its claim is committed. Lock the row its outcome must update.
    await eventually(async () => (rcptCount.get('after250@b.test') ?? 0) > 0, { timeoutMs: 20_000, describe: () => first.output() });
    const { id: deliveryId } = await store.db.selectFrom('deliveries').select('id').where('outbound_id', '=', sent.outboundId).executeTakeFirstOrThrow();
    let unlock: () => void = () => undefined;
    const unlocked = new Promise<void>((resolve) => (unlock = resolve));
    let lockerPid = 0;
    const locker = store.db.transaction().execute(async (tx) => {
      lockerPid = (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(tx)).rows[0]!.pid;
      await tx.selectFrom('deliveries').select('id').where('id', '=', deliveryId).forUpdate().execute();
      releaseAfter250();
      await unlocked;
    });
    try {
      // The remote answered 250 to end-of-DATA: it has the message...
      await postfix.waitForMessages('after250@b.test', 1, 20_000);
      // ...and the worker's outcome commit waits on our lock, its job still active in BullMQ.
      const blocked = await eventually(
        async () => {
          const { rows: waiting } = await sql<{ pid: number; query: string }>`
            SELECT pid, query FROM pg_stat_activity WHERE ${lockerPid} = ANY(pg_blocking_pids(pid))`.execute(store.db);
          return waiting.length > 0 ? waiting : null;
        },
        { timeoutMs: 20_000, describe: () => first.output() },
      );
      expect(blocked.map((b) => b.query).join('\n')).toMatch(/UPDATE deliveries/);
      const active = await outboundQueue.queue.getActive();
      expect(active.filter((j) => j.data.outboundId === sent.outboundId)).toHaveLength(1);
      await first.kill();
      // PostgreSQL notices the dead client and abandons its statement before we let go.
      await eventually(
        async () => {
          const { rows: left } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid IN (${sql.join(blocked.map((b) => b.pid))})`.execute(store.db);
          return left[0]!.n === 0;
        },
        { timeoutMs: 20_000 },
      );
    } finally {
      unlock();
      await locker;
    }
    // Nothing was committed: the recipient is still queued, its lease running out.
    expect((await statuses(sent.outboundId))['after250@b.test']).toBe('queued');

    const second = spawnService('outbound-worker', env);
    spawned.push(second);
    await waitForStatus(sent.outboundId, { 'after250@b.test': 'delivered' }, 30_000);
    // The worker could not know the first copy arrived: the remote holds it twice (as it would
    // from Postfix's own queue manager after the same crash). Settled and delivered, it is never
    // claimed again, so no third copy can follow.
    const copies = await postfix.waitForMessages('after250@b.test', 2, 20_000);
    expect(copies.length).toBeLessThanOrEqual(2);
    expect(copies.every((c) => c.toString().includes('Subject: killed after the 250'))).toBe(true);
    const log = await eventLog(sent.outboundId, 'after250@b.test');
    expect(log.map((e) => e.status)).toEqual(['queued', 'delivered']);
    expect(await createOutboundRepository(store.db).claimDue(sent.outboundId, 'b.test', 60_000)).toEqual([]);
  });

  it('retries a greylisted recipient only when its next_attempt_at has come: an early wake-up does nothing', async () => {
    await worker.close().catch(() => undefined);
    const first = spawnService('outbound-worker', { ...workerEnv(), OUTBOUND_RETRY_SCHEDULE: '1h' });
    spawned.push(first);
    const sent = await send(['later@b.test'], 'greylisted, retried on schedule');
    await waitForStatus(sent.outboundId, { 'later@b.test': 'deferred' });
    const row = () => store.db.selectFrom('deliveries').select(['id', 'attempts', 'next_attempt_at']).where('outbound_id', '=', sent.outboundId).executeTakeFirstOrThrow();
    const deferred = await row();
    expect(deferred.attempts).toBe(1);
    expect(deferred.next_attempt_at.getTime()).toBeGreaterThan(Date.now() + 30 * 60_000); // the 1 h schedule
    expect(rcptCount.get('later@b.test')).toBe(1);

    // A job wakes the worker before the time (a duplicate, a reconcile pass): nothing is due.
    // (Finished jobs are removed at once: a job gone from the queue has run.)
    const runJob = async (attempt: number) => {
      await outboundQueue.enqueue([{ outboundId: sent.outboundId, domain: 'b.test', attempt }]);
      await eventually(async () => !(await outboundQueue.queue.getJob(`out-${sent.outboundId}-b.test-${attempt}`)), { timeoutMs: 20_000, describe: () => first.output() });
    };
    await runJob(90);
    expect(await row()).toEqual(deferred);
    expect(rcptCount.get('later@b.test')).toBe(1);

    // The time comes (the clock is moved, not waited for): the next wake-up delivers it.
    await store.db.updateTable('deliveries').set({ next_attempt_at: new Date(Date.now() - 1000) }).where('id', '=', deferred.id).execute();
    await runJob(91);
    await waitForStatus(sent.outboundId, { 'later@b.test': 'delivered' });
    await postfix.waitForMessages('later@b.test', 1, 10_000);
    expect(rcptCount.get('later@b.test')).toBe(2);
    expect((await eventLog(sent.outboundId, 'later@b.test')).map((e) => e.status)).toEqual(['queued', 'deferred', 'delivered']);
  });
});

describe('delivery status end to end: worker → Redis → backend → SSE (real processes)', () => {
  let services: ServiceProcess[] = [];
  let stream: SseStream | undefined;
  let dataDir = '';
  afterAll(async () => {
    stream?.close();
    for (const s of services) await s.stop();
    services = [];
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows the sender "delivered" on their open event stream once the outbound worker process has delivered to Postfix', async () => {
    await worker.close().catch(() => undefined);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-outbound-sse-'));
    const httpPort = await freePort();
    const env = {
      DATABASE_URL: store.url,
      REDIS_URL: redisUrl,
      DATA_DIR: dataDir,
      DNS_SERVERS: dns.server,
      MAIL_HOSTNAME: 'mx.a.test',
      BIND_ADDRESS: '127.0.0.1',
      HTTP_PORT: String(httpPort),
      HTTPS_PORT: '0',
      OUTBOUND_SMTP_PORT: String(postfix.port),
      OUTBOUND_ALLOW_PRIVATE: 'true',
      SECRET_KEY: TEST_SECRET_KEY,
      LOG_LEVEL: 'warn',
    };
    services = [spawnService('outbound-worker', env), spawnService('backend', env)];
    const base = `http://127.0.0.1:${httpPort}`;
    // Start-up is slow on a busy machine (two cores shared by every test file): a generous deadline.
    await eventually(async () => (await fetch(`${base}/healthz`).catch(() => null))?.ok, { timeoutMs: 90_000, describe: () => services.map((s) => s.output()).join('\n') });
    const login = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address: 'ann@a.test', password: 'correct horse' }) });
    expect(login.status).toBe(200);
    const cookie = login.headers.getSetCookie().find((c) => c.startsWith('mailyard_session='))!.split(';')[0]!;
    stream = await openSse(`${base}/api/events`, { cookie });
    expect(stream.status).toBe(200);
    await stream.waitFor((f) => f.retry !== undefined, 10_000, 'the stream to be live');

    const sent = await send(['bob@b.test'], 'status over SSE');
    const frame = await stream.waitFor(
      (f) => f.event === 'delivery.status' && eventData<{ outboundId: number; status: string }>(f).outboundId === sent.outboundId && eventData<{ status: string }>(f).status === 'delivered',
      30_000,
      'delivery.status delivered',
    );
    expect(eventData(frame)).toMatchObject({ type: 'delivery.status', outboundId: sent.outboundId, recipient: 'bob@b.test', status: 'delivered', reply: expect.stringMatching(/^250 /) });
    expect(await statuses(sent.outboundId)).toEqual({ 'bob@b.test': 'delivered' });
    const received = await postfix.waitForMessages('bob@b.test', 1, 10_000);
    expect(received.some((m) => m.toString().includes('Subject: status over SSE'))).toBe(true);
  });
});

describe('a domain whose MX resolves to a private address, with OUTBOUND_ALLOW_PRIVATE unset', () => {
  let spawned: ServiceProcess | undefined;
  afterAll(async () => {
    await spawned?.kill();
  });

  it('bounces it at once with 550 5.4.4 and the reason, without connecting', async () => {
    await worker.close().catch(() => undefined); // the built worker below, with the default setting, takes the queue
    spawned = spawnService('outbound-worker', {
      DATABASE_URL: store.url,
      REDIS_URL: redisUrl,
      DNS_SERVERS: dns.server,
      MAIL_HOSTNAME: 'mx.a.test',
      OUTBOUND_SMTP_PORT: String(postfix.port),
      SECRET_KEY: TEST_SECRET_KEY,
      LOG_LEVEL: 'warn',
    });
    const sent = await send(['bob@b.test'], 'to a private address');
    await waitForStatus(sent.outboundId, { 'bob@b.test': 'bounced' });
    expect((await eventLog(sent.outboundId, 'bob@b.test')).at(-1)!.reply).toBe(
      '550 5.4.4 b.test resolves to a private address only: mx.b.test (127.0.0.2) (set OUTBOUND_ALLOW_PRIVATE=true to allow)',
    );
    const received = await postfix.messagesFor('bob@b.test');
    expect(received.map((m) => m.toString()).filter((m) => m.includes('Subject: to a private address'))).toEqual([]);
  });
});
