import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createAccountsService,
  createImapServices,
  createRateLimiter,
  createRedis,
  createSubscriberRedis,
  createRspamdEngine,
  createSpamLearnQueue,
  createUserEventHub,
  deleteMessages,
  ingestMessage,
  learnFromTransfers,
  loadConfig,
  moveMessages,
  schemas,
  silentLogger,
  spamLearnJobId,
  summarizeMessage,
  type ImapServices,
  type MessageOpsDeps,
  type SpamLearnQueue,
  type UserEventHub,
} from '@mailyard/core';
import { allocateRedisUrl } from '../../tests/helpers/redis.js';
import { startRspamd, type TestRspamd } from '../../tests/helpers/rspamd.js';
import { eventually } from '../../tests/helpers/services.js';
import { testSecrets } from '../../tests/helpers/secrets.js';
import { createTestStore, type TestStore } from '../../tests/helpers/store.js';
import { buildSpamLearnWorker } from './spam-learn.worker.js';
import { start } from './start.js';

/**
 * From the user's move to rspamd: the mailbox writer's moves (as the API and IMAP make them)
 * queue `spam-learn` jobs, this worker loads each message and teaches a private rspamd from
 * Debian (tests/helpers/rspamd.ts), whose /stat counts the learns.
 */

const log = silentLogger();
const events = { publish: async () => undefined };
let store: TestStore;
let connection: Redis;
let queue: SpamLearnQueue;
let rspamd: TestRspamd;
let hub: UserEventHub;
let imap: ImapServices;
let ops: MessageOpsDeps;
let worker: ReturnType<typeof buildSpamLearnWorker>;
let alice: number;
let redisUrl: string;
let seq = 0;

/** Distinct text per message: rspamd recognises a text it has learned already whatever its Message-ID. */
async function deliver(mailbox: '\\Inbox' | '\\Junk' = '\\Inbox') {
  seq++;
  const words = ['garden', 'budget', 'fence', 'tomatoes', 'meeting', 'minutes', 'river', 'bicycle', 'library', 'concert', 'harvest', 'lantern'];
  const text = Array.from({ length: 30 }, (_, i) => words[(i * seq + seq) % words.length]).join(' ');
  const raw = Buffer.from(`From: Sam <sam@far.test>\r\nTo: alice@learn.test\r\nSubject: Note ${seq}\r\nMessage-ID: <l${seq}-${Date.now()}@far.test>\r\n\r\n${text} ${seq} ${Date.now()}\r\n`);
  const r = await ingestMessage({ db: store.db, events }, { userId: alice, mailbox: { specialUse: mailbox }, content: { raw }, summary: await summarizeMessage(raw) });
  return r.messageId;
}

async function mailboxIdOf(specialUse: string) {
  return (await imap.mailboxes.list(alice)).find((m) => m.specialUse === specialUse)!.id;
}

async function finished(kind: 'spam' | 'ham', messageId: number) {
  const job = await queue.queue.getJob(spamLearnJobId({ kind, messageId }));
  return job && (await job.isCompleted()) ? (job.returnvalue as string) : null;
}

beforeAll(async () => {
  store = await createTestStore();
  const redis = await allocateRedisUrl();
  await redis.flush();
  redisUrl = redis.url;
  connection = createRedis(redis.url, { maxRetriesPerRequest: null });
  queue = createSpamLearnQueue(connection);
  rspamd = await startRspamd({ redisUrl: redis.url });
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('learn.test');
  alice = (await accounts.addUser({ address: 'alice@learn.test', password: 'correct horse' })).id;
  const spamLearn = { queue, log };
  ops = { db: store.db, events, log, afterTransfer: learnFromTransfers(spamLearn) };
  hub = createUserEventHub({ createSubscriber: () => createSubscriberRedis(redis.url), log });
  imap = createImapServices({ db: store.db, events, limiter: createRateLimiter(connection), hub, log, spamLearn });
  const engine = createRspamdEngine({ url: rspamd.url, controllerUrl: rspamd.controllerUrl, timeoutMs: 10_000 });
  worker = buildSpamLearnWorker({ db: store.db, engine, log, connection });
  await worker.run();
});

afterAll(async () => {
  await worker?.close();
  hub?.close();
  await queue?.close();
  await rspamd?.stop();
  connection?.disconnect();
  await store?.drop();
});

describe('spam-learn worker', () => {
  it('a move into Junk (the API\'s path) teaches rspamd spam: its learned count goes up', async () => {
    const before = (await rspamd.stat()).learned;
    const id = await deliver();
    await moveMessages(ops, alice, [id], { specialUse: '\\Junk' });
    expect(await eventually(() => finished('spam', id), { timeoutMs: 30_000 })).toBe('learned');
    expect((await rspamd.stat()).learned).toBe(before + 1);
  });

  it('IMAP MOVE out of Junk teaches ham, and COPY into Junk teaches spam', async () => {
    const before = (await rspamd.stat()).learned;
    const [fromJunk, toCopy] = [await deliver('\\Junk'), await deliver()];
    await imap.messages.move(alice, [fromJunk], await mailboxIdOf('\\Inbox'));
    const { copied } = await imap.messages.copy(alice, [toCopy], await mailboxIdOf('\\Junk'));
    expect(await eventually(() => finished('ham', fromJunk), { timeoutMs: 30_000 })).toBe('learned');
    expect(await eventually(() => finished('spam', copied[0]!.id), { timeoutMs: 30_000 })).toBe('learned');
    expect((await rspamd.stat()).learned).toBe(before + 2);
  });

  it('a message deleted before its job runs is skipped, nothing learned', async () => {
    const before = (await rspamd.stat()).learned;
    const id = await deliver('\\Junk');
    // The job is queued as the move would, but the message is gone when the worker gets to it.
    await deleteMessages({ db: store.db, events }, alice, [id]);
    await queue.enqueue([{ userId: alice, messageId: id, kind: 'ham' }]);
    expect(await eventually(() => finished('ham', id), { timeoutMs: 30_000 })).toBe('gone');
    expect((await rspamd.stat()).learned).toBe(before);
  });

  it('does not learn another user\'s message (the job is owner-scoped)', async () => {
    const id = await deliver();
    const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
    const mallory = (await accounts.addUser({ address: 'mallory@learn.test', password: 'correct horse' })).id;
    const before = (await rspamd.stat()).learned;
    await queue.enqueue([{ userId: mallory, messageId: id, kind: 'spam' }]);
    expect(await eventually(() => finished('spam', id), { timeoutMs: 30_000 })).toBe('gone');
    expect((await rspamd.stat()).learned).toBe(before);
  });

  it('runs in the inbound worker started with RSPAMD_URL (start.ts wires the engine and this worker)', async () => {
    await worker.close(); // only the started service's worker may take the job
    const service = await start(loadConfig(schemas.inbound('local'), { LOG_LEVEL: 'silent', RSPAMD_URL: rspamd.url, RSPAMD_CONTROLLER_URL: rspamd.controllerUrl }), { databaseUrl: store.url, redisUrl }, log);
    try {
      const before = (await rspamd.stat()).learned;
      const id = await deliver();
      await moveMessages(ops, alice, [id], { specialUse: '\\Junk' });
      expect(await eventually(() => finished('spam', id), { timeoutMs: 30_000 })).toBe('learned');
      expect((await rspamd.stat()).learned).toBe(before + 1);
    } finally {
      await service.stop();
    }
  });
});
