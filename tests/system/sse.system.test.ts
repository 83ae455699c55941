import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBackend } from '../../backend/src/app.js';
import { createAccountsService } from '../../core/src/accounts/accounts.service.js';
import { userChannel } from '../../core/src/contracts/events.js';
import { freePort } from '../../core/src/local/process-utils.js';
import { silentLogger } from '../../core/src/log/logger.js';
import { createSubscriberRedis } from '../../core/src/queue/redis.js';
import { allocateRedisUrl } from '../helpers/redis.js';
import { eventually, spawnService, waitForSmtpGreeting, type ServiceProcess } from '../helpers/services.js';
import { eventData, openSse, type SseFrame, type SseStream } from '../helpers/sse.js';
import { createTestStore, type TestStore } from '../helpers/store.js';
import { testSecrets } from '../helpers/secrets.js';

/**
 * Live updates end to end: mail sent over SMTP to the real smtp-server process, filed by the real
 * inbound-worker process, published on Redis and relayed by the backend to an open SSE stream.
 * A client that was away reconnects with Last-Event-ID and gets exactly what it missed.
 */

let store: TestStore;
let redisDb: Awaited<ReturnType<typeof allocateRedisUrl>>;
let redis: Redis;
const subscribers: Redis[] = [];
let smtp: ServiceProcess;
let worker: ServiceProcess;
let smtpPort: number;
let dataDir: string;
let app: FastifyInstance;
let base: string;
let aliceId: number;
const streams: SseStream[] = [];

beforeAll(async () => {
  store = await createTestStore();
  redisDb = await allocateRedisUrl();
  // Redis pub/sub ignores the database index: a random user id keeps `user:<id>` this file's own.
  await sql`ALTER SEQUENCE users_id_seq RESTART WITH ${sql.lit(randomInt(1_000_000, 2 ** 40))}`.execute(store.db);
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('sse.test');
  aliceId = (await accounts.addUser({ address: 'alice@sse.test', password: 'alice password' })).id;

  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-sse-'));
  smtpPort = await freePort();
  const env = {
    DATABASE_URL: store.url,
    REDIS_URL: redisDb.url,
    DATA_DIR: dataDir,
    MAIL_HOSTNAME: 'mx.sse.test',
    BIND_ADDRESS: '127.0.0.1',
    LOG_LEVEL: 'warn',
    SMTP_PORT: String(smtpPort),
  };
  smtp = spawnService('smtp-server', env);
  worker = spawnService('inbound-worker', env);

  redis = new Redis(redisDb.url);
  const createSubscriber = () => {
    const sub = createSubscriberRedis(redisDb.url);
    subscribers.push(sub);
    return sub;
  };
  app = await buildBackend({ db: store.db, redis, createSubscriber, log: silentLogger() });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('backend not listening');
  base = `http://127.0.0.1:${address.port}`;
  await waitForSmtpGreeting(smtpPort);
});

afterAll(async () => {
  for (const s of streams) s.close();
  await Promise.all([smtp?.stop(), worker?.stop()]);
  await app?.close();
  for (const sub of subscribers) sub.disconnect();
  redis?.disconnect();
  await redisDb?.flush();
  await store?.drop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

async function login(): Promise<string> {
  const res = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address: 'alice@sse.test', password: 'alice password' }) });
  expect(res.status).toBe(200);
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('mailyard_session='));
  if (!cookie) throw new Error('no session cookie');
  return cookie.split(';')[0]!;
}

async function send(subject: string): Promise<string> {
  const messageId = `<sse-${randomBytes(6).toString('hex')}@remote.test>`;
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: smtpPort, secure: false, tls: { rejectUnauthorized: false } });
  try {
    const info = await transport.sendMail({ from: 'Carol <carol@remote.test>', to: 'alice@sse.test', subject, messageId, text: `${subject}\n` });
    expect(info.response).toMatch(/^250/);
  } finally {
    transport.close();
  }
  return messageId;
}

/** The Message-ID header of the message an event names (the event carries ids only). */
async function messageIdOf(frame: SseFrame): Promise<string | null> {
  const { messageId } = eventData<{ messageId: number }>(frame);
  const row = await store.db.selectFrom('messages').select('message_id_header').where('user_id', '=', aliceId).where('id', '=', messageId).executeTakeFirst();
  return row?.message_id_header ?? null;
}

async function waitForMessageEvent(s: SseStream, messageId: string, deadlineMs: number): Promise<SseFrame> {
  const deadline = Date.now() + deadlineMs;
  for (let checked = 0; ; ) {
    const events = s.events().filter((f) => f.event === 'message.new');
    for (; checked < events.length; checked++) if ((await messageIdOf(events[checked]!)) === messageId) return events[checked]!;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no message.new for ${messageId} within ${deadlineMs} ms; frames ${JSON.stringify(s.frames)}; worker: ${worker.output()}`);
    // Wait for the next frame to arrive (or the deadline).
    const seen = s.frames.length;
    await s.waitFor((f) => s.frames.indexOf(f) >= seen, left, 'another frame').catch(() => undefined);
  }
}

describe('live updates from SMTP to the browser (real processes)', () => {
  it('relays message.new for mail arriving over SMTP, and replays what a disconnected client missed from Last-Event-ID', async () => {
    const cookie = await login();
    const first = await openSse(`${base}/api/events`, { cookie });
    streams.push(first);
    expect(first.status).toBe(200);
    await first.waitFor((f) => f.retry !== undefined, 10_000, 'the stream to be live');

    const firstId = await send('first, seen live');
    const live = await waitForMessageEvent(first, firstId, 60_000);
    expect(live.event).toBe('message.new');
    expect(Number(live.id)).toBe(eventData<{ modseq: number }>(live).modseq);

    // The tab goes away; the backend drops the subscription.
    first.close();
    await eventually(async () => Number(((await redis.pubsub('NUMSUB', userChannel(aliceId))) as [string, number])[1]) === 0, { timeoutMs: 10_000 });

    // Two messages arrive while no stream is open (filed and published to nobody).
    const missed = [await send('missed one'), await send('missed two')];
    const filed = async () => store.db.selectFrom('messages').select(['id', 'modseq', 'message_id_header']).where('user_id', '=', aliceId).where('message_id_header', 'in', missed).execute();
    await eventually(async () => (await filed()).length === 2, { timeoutMs: 60_000, intervalMs: 200, describe: () => `worker: ${worker.output()}` });

    // EventSource reconnects with the last id it saw.
    const again = await openSse(`${base}/api/events`, { cookie, 'last-event-id': live.id! });
    streams.push(again);
    expect(again.status).toBe(200);
    const rows = (await filed()).sort((a, b) => a.modseq - b.modseq);
    await again.waitFor((f) => f.id === String(rows[1]!.modseq), 10_000, 'the second missed event');
    const replayed = again.events();
    expect(replayed.map((f) => f.event)).toEqual(['message.new', 'message.new']);
    expect(replayed.map((f) => Number(f.id))).toEqual(rows.map((r) => r.modseq));
    expect(replayed.map((f) => eventData<{ messageId: number }>(f).messageId)).toEqual(rows.map((r) => r.id));
    expect(await Promise.all(replayed.map(messageIdOf))).toEqual(rows.map((r) => r.message_id_header));
    expect(new Set(missed)).toEqual(new Set(rows.map((r) => r.message_id_header)));
    again.close();
  });
});
