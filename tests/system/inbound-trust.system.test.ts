import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBackend } from '../../backend/src/app.js';
import { createAccountsService } from '../../core/src/accounts/accounts.service.js';
import { freePort } from '../../core/src/local/process-utils.js';
import { silentLogger } from '../../core/src/log/logger.js';
import { createSubscriberRedis } from '../../core/src/queue/redis.js';
import { authTestMessage, startAuthDns, type AuthDns } from '../helpers/mail-auth.js';
import { allocateRedisUrl } from '../helpers/redis.js';
import { eventually, runCommand, spawnService, waitForSmtpGreeting, type ServiceProcess } from '../helpers/services.js';
import { createTestStore, type TestStore } from '../helpers/store.js';
import { testSecrets } from '../helpers/secrets.js';

/**
 * Inbound authentication with the real processes: the built smtp-server and inbound-worker, a
 * real DNS server (dnsmasq publishing SPF, DKIM and DMARC) as DNS_SERVERS, and swaks as the
 * client, which is NOT trusted (SMTP_TRUSTED_NETWORKS=none). A forged From of a p=reject domain
 * is refused with 550; a signed message is filed with Authentication-Results in its source and
 * the results in GET /api/messages/:id (the backend in this process, on the same store).
 */

let store: TestStore;
let redisDb: Awaited<ReturnType<typeof allocateRedisUrl>>;
let auth: AuthDns;
let services: ServiceProcess[] = [];
let smtpPort: number;
let dataDir: string;

beforeAll(async () => {
  [store, redisDb, auth] = await Promise.all([createTestStore(), allocateRedisUrl(), startAuthDns()]);
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('in.test');
  await accounts.addUser({ address: 'bob@in.test', password: 'bob password' });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-trust-'));
  smtpPort = await freePort();
  const env = {
    DATABASE_URL: store.url,
    REDIS_URL: redisDb.url,
    DATA_DIR: dataDir,
    MAIL_HOSTNAME: 'mx.in.test',
    BIND_ADDRESS: '127.0.0.1',
    LOG_LEVEL: 'warn',
    SMTP_PORT: String(smtpPort),
    SUBMISSION_PORT: String(await freePort()),
    SMTPS_PORT: String(await freePort()),
    DNS_SERVERS: auth.dns.server,
    SMTP_TRUSTED_NETWORKS: 'none',
    // Each swaks run is a first attempt from an untrusted client: greylisting has its own tests.
    SMTP_GREYLIST: 'off',
  };
  services = [spawnService('smtp-server', env), spawnService('inbound-worker', env)];
  await waitForSmtpGreeting(smtpPort);
});

afterAll(async () => {
  await Promise.all(services.map((s) => s.stop()));
  await auth?.stop();
  await redisDb?.flush();
  await store?.drop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

/** swaks sends the file, then CRLF and the terminating dot. */
async function swaks(from: string, raw: Buffer) {
  const file = path.join(dataDir, `${Date.now()}-${Math.random()}.eml`);
  fs.writeFileSync(file, raw.subarray(0, raw.length - 2));
  return runCommand('swaks', ['--server', `127.0.0.1:${smtpPort}`, '--helo', 'client.example', '--from', from, '--to', 'bob@in.test', '--data', `@${file}`]);
}

describe('inbound authentication (real processes, real DNS, swaks)', () => {
  it('refuses a forged p=reject From with 550 5.7.1 and files a signed message with its results', async () => {
    const forged = await swaks('ann@signed.test', authTestMessage('Ann <ann@signed.test>', 'bob@in.test', 'forged'));
    expect(forged.code).not.toBe(0);
    expect(forged.stdout).toMatch(/<\*\* +550 5\.7\.1 message refused: DMARC policy reject of signed\.test/);

    const signed = await auth.sign(authTestMessage('Ann <ann@signed.test>', 'bob@in.test', 'genuine'));
    const sent = await swaks('ann@signed.test', signed);
    expect(sent.code, sent.stdout + sent.stderr).toBe(0);

    const filed = await eventually(
      async () => store.db.selectFrom('messages').select(['id', 'subject']).where('subject', 'in', ['forged', 'genuine']).execute().then((rows) => (rows.length > 0 ? rows : null)),
      { timeoutMs: 20_000 },
    );
    expect(filed.map((m) => m.subject)).toEqual(['genuine']);

    const redis = new Redis(redisDb.url);
    const subscribers: Redis[] = [];
    const app = await buildBackend(
      { db: store.db, redis, createSubscriber: () => subscribers[subscribers.push(createSubscriberRedis(redisDb.url)) - 1]!, log: silentLogger() },
      { dataDir },
    );
    try {
      await app.ready();
      const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { address: 'bob@in.test', password: 'bob password' } });
      expect(login.statusCode).toBe(200);
      const cookie = `mailyard_session=${login.cookies.find((c) => c.name === 'mailyard_session')!.value}`;

      const detail = await app.inject({ method: 'GET', url: `/api/messages/${filed[0]!.id}`, headers: { cookie } });
      expect(detail.statusCode).toBe(200);
      expect(detail.json().authentication).toEqual({
        spf: { result: 'fail', domain: 'signed.test' },
        dkim: { result: 'pass', domain: 'signed.test' },
        dmarc: { result: 'pass', domain: 'signed.test', policy: 'reject' },
        arc: { result: 'none', domain: null },
      });
      const source = await app.inject({ method: 'GET', url: `/api/messages/${filed[0]!.id}/raw`, headers: { cookie } });
      expect(source.statusCode).toBe(200);
      expect(source.body).toMatch(/^Authentication-Results: mx\.in\.test;\r\n [^]*dkim=pass[^]*dmarc=pass[^]*\r\nReceived: from client\.example/);
      expect(source.body).toContain('DKIM-Signature:');
    } finally {
      await app.close();
      redis.disconnect();
      for (const s of subscribers) s.disconnect();
    }
  });
});
