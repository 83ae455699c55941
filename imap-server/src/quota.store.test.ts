import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService, createRateLimiter, createRedisEventPublisher, createSubscriberRedis, createUserEventHub, ingestMessage, loadTlsMaterial, silentLogger, summarizeMessage, type UserEventHub } from '../../core/src/index.js';
import { connectImap, type ImapTranscriptClient } from '../../tests/helpers/imap-transcript.js';
import { allocateRedisUrl } from '../../tests/helpers/redis.js';
import { createTestStore, type TestStore } from '../../tests/helpers/store.js';
import { buildImapApp, type ImapListener } from './app.js';
import { testSecrets } from '../../tests/helpers/secrets.js';

/**
 * Storage quota over IMAP on the real store (RFC 9208): APPEND and COPY that would take the user
 * over their quota answer `NO [OVERQUOTA]` and store nothing; with room they succeed.
 */

let store: TestStore;
let redis: Redis;
let flushRedis: () => Promise<void>;
let hub: UserEventHub;
let app: ImapListener;
let port: number;
let dan: number;
let dataDir: string;
const clients: ImapTranscriptClient[] = [];
const log = silentLogger();

const raw = (n: number) => Buffer.from([`From: Carol <carol@c.test>`, 'To: dan@quota.test', `Subject: Note ${n}`, `Message-ID: <q${n}@c.test>`, '', `Text ${n}`, ''].join('\r\n'));

/** Bytes of the user's stored mail, recounted from the rows. */
async function stored(userId: number): Promise<number> {
  const { rows } = await sql<{ bytes: number }>`SELECT COALESCE(sum(size), 0)::bigint AS bytes FROM messages WHERE user_id = ${userId}`.execute(store.db);
  return rows[0]!.bytes;
}

async function setQuota(quotaBytes: number | null): Promise<void> {
  await store.db.updateTable('users').set({ quota_bytes: quotaBytes }).where('id', '=', dan).execute();
}

beforeAll(async () => {
  store = await createTestStore();
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('quota.test');
  dan = (await accounts.addUser({ address: 'dan@quota.test', password: 'dan password' })).id;
  let redisUrl: string;
  ({ url: redisUrl, flush: flushRedis } = await allocateRedisUrl());
  redis = new Redis(redisUrl);
  hub = createUserEventHub({ createSubscriber: () => createSubscriberRedis(redisUrl), log });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'imap-quota-'));
  const tls = await loadTlsMaterial({ dataDir, hostname: 'imap.quota.test' });
  app = buildImapApp({ db: store.db, events: createRedisEventPublisher(redis), limiter: createRateLimiter(redis), hub, log }, { hostname: 'imap.quota.test', tls, allowPlaintextAuth: true });
  port = (await app.listen({ imap: 0, imaps: 0 }, '127.0.0.1')).imap;
  await ingestMessage({ db: store.db, events: createRedisEventPublisher(redis) }, { userId: dan, mailbox: { specialUse: '\\Inbox' }, content: { raw: raw(1) }, summary: await summarizeMessage(raw(1)) });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await app?.close();
  hub?.close();
  await flushRedis?.();
  redis?.disconnect();
  await store?.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function session(): Promise<ImapTranscriptClient> {
  const client = await connectImap(port);
  clients.push(client);
  await client.greeting();
  expect((await client.command('l LOGIN dan@quota.test "dan password"')).at(-1)).toMatch(/^l OK/);
  return client;
}

async function append(client: ImapTranscriptClient, tag: string, message: Buffer): Promise<string> {
  client.write(`${tag} APPEND Archive {${message.length}+}\r\n${message.toString()}\r\n`);
  return (await client.until((l) => l.startsWith(`${tag} `))).at(-1)!;
}

describe('IMAP and the storage quota', () => {
  it('answers APPEND and COPY with NO [OVERQUOTA] when the message does not fit, and stores nothing', async () => {
    const client = await session();
    const message = raw(2);
    await setQuota((await stored(dan)) + message.length - 1);
    expect(await append(client, 'a1', message)).toMatch(/^a1 NO \[OVERQUOTA\] /);
    expect((await client.command('a2 STATUS Archive (MESSAGES)'))[0]).toBe('* STATUS "Archive" (MESSAGES 0)');

    expect((await client.command('a3 SELECT INBOX')).at(-1)).toMatch(/^a3 OK/);
    expect((await client.command('a4 COPY 1 Archive')).at(-1)).toMatch(/^a4 NO \[OVERQUOTA\] /);
    expect((await client.command('a5 STATUS Archive (MESSAGES)'))[0]).toBe('* STATUS "Archive" (MESSAGES 0)');
  });

  it('appends when the message fits', async () => {
    const client = await session();
    const message = raw(3);
    await setQuota((await stored(dan)) + message.length);
    expect(await append(client, 'b1', message)).toMatch(/^b1 OK \[APPENDUID \d+ 1\] APPEND completed$/);
    await setQuota(null);
  });

  it('reports the usage the writer counts and the quota in KiB (GETQUOTAROOT), and no root without a quota', async () => {
    const client = await session();
    await setQuota(5 * 1024 * 1024);
    const usedKiB = Math.ceil((await stored(dan)) / 1024);
    expect(await client.command('q1 GETQUOTAROOT Archive')).toEqual(['* QUOTAROOT "Archive" ""', `* QUOTA "" (STORAGE ${usedKiB} 5120)`, 'q1 OK GETQUOTAROOT completed']);
    await setQuota(null);
    expect(await client.command('q2 GETQUOTAROOT Archive')).toEqual(['* QUOTAROOT "Archive"', 'q2 OK GETQUOTAROOT completed']);
  });
});
