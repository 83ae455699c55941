import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService } from '../../core/src/accounts/accounts.service.js';
import { startLocalRedis, type LocalRedis } from '../../core/src/local/index.js';
import { freePort } from '../../core/src/local/process-utils.js';
import { eventually, spawnService, waitForSmtpGreeting, type ServiceProcess } from '../helpers/services.js';
import { createTestStore, type TestStore } from '../helpers/store.js';
import { testSecrets } from '../helpers/secrets.js';

/**
 * A real Redis outage under the SPAWNED smtp-server and inbound-worker (hardening #12, "Proof"):
 * the test's own redis-server is frozen with SIGSTOP, so connections stay open and nothing
 * answers — the case where a missing timeout turns into a hung SMTP session. The clients give up
 * long before the server's own socket timeout (SMTP_SOCKET_TIMEOUT_MS, 10 min here), so a session
 * that waits on Redis fails the test instead of passing late. While Redis hangs, MX mail is still
 * durable in the spool (250, by design: ARCHITECTURE "one inbound message", step 2) and a
 * submission client that needs Redis (its sign-in limits) gets a 4xx; after SIGCONT the spooled
 * mail is filed, once.
 */

/** How long a client waits for any one reply: far below the server's socket timeout. */
const CLIENT_WAIT_MS = 20_000;

let store: TestStore;
let dataDir: string;
let redis: LocalRedis;
let redisPid: number;
let frozen = false;
let smtp: ServiceProcess;
let worker: ServiceProcess;
let smtpPort: number;
let submissionPort: number;
let aliceId: number;

function freeze(on: boolean): void {
  process.kill(redisPid, on ? 'SIGSTOP' : 'SIGCONT');
  frozen = on;
}

function transport(port: number, auth?: { user: string; pass: string }) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: false,
    tls: { rejectUnauthorized: false },
    auth,
    connectionTimeout: CLIENT_WAIT_MS,
    greetingTimeout: CLIENT_WAIT_MS,
    socketTimeout: CLIENT_WAIT_MS,
  });
}

/** Sends over the MX port; resolves with the final reply (or the error's reply code and text). */
async function sendMx(messageId: string): Promise<{ code: number; text: string }> {
  const t = transport(smtpPort);
  try {
    const info = await t.sendMail({ envelope: { from: 'carol@remote.test', to: ['alice@outage.test'] }, raw: `From: carol@remote.test\r\nTo: alice@outage.test\r\nSubject: during the outage\r\nMessage-ID: ${messageId}\r\n\r\nhello\r\n` });
    return { code: Number(info.response.slice(0, 3)), text: info.response };
  } catch (err) {
    const e = err as { responseCode?: number; response?: string; code?: string; message: string };
    return { code: e.responseCode ?? 0, text: e.response ?? `${e.code ?? ''} ${e.message}` };
  } finally {
    t.close();
  }
}

const stored = async (messageId: string) => store.db.selectFrom('messages').select('id').where('user_id', '=', aliceId).where('message_id_header', '=', messageId).execute();

beforeAll(async () => {
  store = await createTestStore();
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('outage.test');
  aliceId = (await accounts.addUser({ address: 'alice@outage.test', password: 'alice password' })).id;

  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-redis-outage-'));
  redis = await startLocalRedis({ dataDir, persistent: false });
  redisPid = (JSON.parse(fs.readFileSync(path.join(dataDir, 'redis', 'server.json'), 'utf8')) as { pid: number }).pid;

  smtpPort = await freePort();
  submissionPort = await freePort();
  const env = {
    DATABASE_URL: store.url,
    REDIS_URL: redis.url,
    DATA_DIR: dataDir,
    MAIL_HOSTNAME: 'mx.outage.test',
    BIND_ADDRESS: '127.0.0.1',
    LOG_LEVEL: 'warn',
    SMTP_PORT: String(smtpPort),
    SUBMISSION_PORT: String(submissionPort),
    SMTPS_PORT: String(await freePort()),
    SMTP_SOCKET_TIMEOUT_MS: '600000',
    SPOOL_RECONCILE_INTERVAL_MS: '1000',
    SPOOL_RECONCILE_AGE_MS: '2000',
  };
  smtp = spawnService('smtp-server', env);
  worker = spawnService('inbound-worker', env);
  await waitForSmtpGreeting(smtpPort);
  await waitForSmtpGreeting(submissionPort);
});

afterAll(async () => {
  if (frozen) freeze(false);
  await Promise.all([smtp?.stop(), worker?.stop()]);
  await redis?.stop();
  await store?.drop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('a Redis outage under the spawned smtp-server (redis-server frozen with SIGSTOP)', () => {
  it('answers every client while Redis hangs: MX mail is spooled (250) and filed once Redis is back; submission gets a 4xx', async () => {
    // Redis works: mail flows.
    const before = `<before-${randomBytes(4).toString('hex')}@remote.test>`;
    expect((await sendMx(before)).code).toBe(250);
    await eventually(async () => (await stored(before)).length === 1, { timeoutMs: 20_000, describe: () => worker.output() });

    freeze(true);
    const during = `<during-${randomBytes(4).toString('hex')}@remote.test>`;
    const mx = await sendMx(during);
    expect(mx, smtp.output()).toMatchObject({ code: 250 });
    const submission = transport(submissionPort, { user: 'alice@outage.test', pass: 'alice password' });
    const submitted = await submission
      .sendMail({ from: 'alice@outage.test', to: 'bob@far.test', subject: 'during the outage', text: 'x' })
      .then((info) => ({ code: Number(info.response.slice(0, 3)), text: info.response }))
      .catch((err: { responseCode?: number; response?: string; code?: string; message: string }) => ({ code: err.responseCode ?? 0, text: err.response ?? `${err.code ?? ''} ${err.message}` }));
    submission.close();
    expect(submitted.code, submitted.text).toBeGreaterThanOrEqual(400);
    expect(submitted.code, submitted.text).toBeLessThan(500);
    // Accepted, durable, not filed: the job could not be queued.
    expect(await stored(during)).toEqual([]);

    freeze(false);
    await eventually(async () => (await stored(during)).length > 0, { timeoutMs: 30_000, describe: () => `${smtp.output()}\n${worker.output()}` });
    const after = `<after-${randomBytes(4).toString('hex')}@remote.test>`;
    expect((await sendMx(after)).code).toBe(250);
    await eventually(async () => (await stored(after)).length === 1, { timeoutMs: 20_000, describe: () => worker.output() });
    expect(await stored(during)).toHaveLength(1);
    expect(await stored(before)).toHaveLength(1);
  });
});
