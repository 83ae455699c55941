import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService, loadConfig, schemas, silentLogger } from '@mailyard/core';
import { growth, scrapeMetrics } from '../../tests/helpers/metrics.js';
import { allocateRedisUrl } from '../../tests/helpers/redis.js';
import { testSecrets } from '../../tests/helpers/secrets.js';
import { eventually } from '../../tests/helpers/services.js';
import { connect } from '../../tests/helpers/smtp-transcript.js';
import { createTestStore, type TestStore } from '../../tests/helpers/store.js';
import { start } from './start.js';

/**
 * The smtp-server's own /metrics on WORKER_HEALTH_PORT: the real service (start()) on a real
 * store and Redis, real SMTP sessions, and the counters read back from the scrape.
 */

let store: TestStore;
let redis: Awaited<ReturnType<typeof allocateRedisUrl>>;
let dataDir: string;
let smtp: Awaited<ReturnType<typeof start>>;

beforeAll(async () => {
  store = await createTestStore();
  redis = await allocateRedisUrl();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-smtp-metrics-'));
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('a.test');
  await accounts.addUser({ address: 'alice@a.test', password: 'correct horse battery' });
  const config = loadConfig(schemas.smtp('local'), { DATA_DIR: dataDir, SMTP_PORT: '0', SUBMISSION_PORT: '0', SMTPS_PORT: '0', WORKER_HEALTH_PORT: '0', SMTP_MAX_CLIENTS: '1', MAIL_HOSTNAME: 'mx.a.test', LOG_LEVEL: 'silent' });
  smtp = await start(config, { databaseUrl: store.url, redisUrl: redis.url }, silentLogger());
});

afterAll(async () => {
  await smtp?.stop();
  await redis?.flush();
  await store?.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** Waits until no session is open on any listener; the scrape then. */
function whenAllClosed(port: number) {
  return eventually(
    async () => {
      const scrape = await scrapeMetrics(port);
      return ['mx', 'submission', 'smtps'].every((l) => scrape.get(`mailyard_smtp_sessions_open{listener="${l}"}`) === 0) && scrape;
    },
    { timeoutMs: 15_000 },
  );
}

/** An implicit-TLS session on 465: the greeting's code, then QUIT. */
function smtpsGreeting(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    socket.once('data', (chunk) => {
      socket.end('QUIT\r\n');
      resolve(chunk.toString().slice(0, 3));
    });
    socket.once('error', reject);
  });
}

const message = Buffer.from(['From: <sender@b.test>', 'To: <alice@a.test>', 'Subject: counted', 'Message-ID: <counted@b.test>', '', 'hello', ''].join('\r\n'));

describe('smtp-server /metrics', () => {
  it('answers the probes on WORKER_HEALTH_PORT', async () => {
    expect(smtp.healthPort).toBeGreaterThan(0);
    const ready = await fetch(`http://127.0.0.1:${smtp.healthPort}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready', checks: { postgres: true, redis: true } }]);
  });

  it('counts sessions per listener, every reply by code (the library’s own 5xx included) and accepted messages', async () => {
    const port = smtp.healthPort!;
    const before = await scrapeMetrics(port);
    const mx = await connect('127.0.0.1', smtp.port);
    const submission = await connect('127.0.0.1', smtp.submissionPort);
    try {
      expect((await mx.cmd('EHLO client.b.test')).code).toBe(250);
      expect((await mx.sendMail('sender@b.test', ['alice@a.test'], message)).code).toBe(250);
      expect((await mx.cmd('BOGUS command')).code).toBe(500);
      expect((await mx.cmd('RCPT TO:<alice@a.test>')).code).toBe(503);
      const during = await scrapeMetrics(port);
      expect(during.get('mailyard_smtp_sessions_open{listener="mx"}')).toBe(1);
      expect(during.get('mailyard_smtp_sessions_open{listener="submission"}')).toBe(1);
      expect(during.get('mailyard_smtp_sessions_open{listener="smtps"}')).toBe(0);
      expect((await mx.cmd('QUIT')).code).toBe(221);
      expect((await submission.cmd('QUIT')).code).toBe(221);
    } finally {
      await Promise.all([mx.close(), submission.close()]);
    }
    // The library closes a session after the 221 is written: wait for both to be gone.
    const after = await whenAllClosed(port);
    const mxReply = (code: number) => `mailyard_smtp_replies_total{listener="mx",code="${code}"}`;
    expect(
      growth(before, after, [
        'mailyard_smtp_sessions_total{listener="mx"}',
        'mailyard_smtp_sessions_total{listener="submission"}',
        'mailyard_smtp_sessions_total{listener="smtps"}',
        mxReply(220),
        mxReply(250),
        mxReply(354),
        mxReply(500),
        mxReply(503),
        mxReply(221),
        'mailyard_smtp_replies_total{listener="submission",code="220"}',
        'mailyard_smtp_replies_total{listener="submission",code="221"}',
        'mailyard_smtp_messages_accepted_total{listener="mx"}',
        'mailyard_smtp_messages_accepted_total{listener="submission"}',
      ]),
    ).toEqual({
      'mailyard_smtp_sessions_total{listener="mx"}': 1,
      'mailyard_smtp_sessions_total{listener="submission"}': 1,
      'mailyard_smtp_sessions_total{listener="smtps"}': 0,
      // EHLO, MAIL, RCPT and the end of DATA
      [mxReply(220)]: 1,
      [mxReply(250)]: 4,
      [mxReply(354)]: 1,
      [mxReply(500)]: 1,
      [mxReply(503)]: 1,
      [mxReply(221)]: 1,
      'mailyard_smtp_replies_total{listener="submission",code="220"}': 1,
      'mailyard_smtp_replies_total{listener="submission",code="221"}': 1,
      'mailyard_smtp_messages_accepted_total{listener="mx"}': 1,
      'mailyard_smtp_messages_accepted_total{listener="submission"}': 0,
    });
  });

  it('counts the 421 our patch sends when the MX is full (SMTP_MAX_CLIENTS=1), and a session on 465 after its handshake', async () => {
    const port = smtp.healthPort!;
    const before = await whenAllClosed(port);
    const first = await connect('127.0.0.1', smtp.port);
    try {
      const second = await connect('127.0.0.1', smtp.port);
      await second.close();
      expect(second.greeting.code).toBe(421);
      expect(await smtpsGreeting(smtp.smtpsPort)).toBe('220');
    } finally {
      await first.close();
    }
    const after = await whenAllClosed(port);
    expect(
      growth(before, after, [
        'mailyard_smtp_sessions_total{listener="mx"}',
        'mailyard_smtp_replies_total{listener="mx",code="220"}',
        'mailyard_smtp_replies_total{listener="mx",code="421"}',
        'mailyard_smtp_sessions_total{listener="smtps"}',
        'mailyard_smtp_replies_total{listener="smtps",code="220"}',
      ]),
    ).toEqual({
      'mailyard_smtp_sessions_total{listener="mx"}': 2,
      'mailyard_smtp_replies_total{listener="mx",code="220"}': 1,
      'mailyard_smtp_replies_total{listener="mx",code="421"}': 1,
      'mailyard_smtp_sessions_total{listener="smtps"}': 1,
      'mailyard_smtp_replies_total{listener="smtps",code="220"}': 1,
    });
  });
});
