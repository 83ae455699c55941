import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService } from '../../core/src/accounts/accounts.service.js';
import { freePort } from '../../core/src/local/process-utils.js';
import { startDnsmasq, type TestDnsServer } from '../helpers/dnsmasq.js';
import { authTestMessage } from '../helpers/mail-auth.js';
import { startPostfixReceiver, type PostfixReceiver } from '../helpers/postfix.js';
import { allocateRedisUrl } from '../helpers/redis.js';
import { eventually, spawnService, waitForSmtpGreeting, type ServiceProcess } from '../helpers/services.js';
import { connect } from '../helpers/smtp-transcript.js';
import { createTestStore, type TestStore } from '../helpers/store.js';
import { testSecrets } from '../helpers/secrets.js';

/**
 * Greylisting against a real MTA: the built smtp-server (greylisting on, a 2 s delay, no trusted
 * networks) and a private Postfix relaying in.test to it with short retry times. Postfix's first
 * attempt gets 451 4.7.1; it queues the message, retries by itself, and the retry after the delay
 * is accepted into our spool.
 */

let store: TestStore;
let redisDb: Awaited<ReturnType<typeof allocateRedisUrl>>;
let dns: TestDnsServer;
let postfix: PostfixReceiver;
let services: ServiceProcess[] = [];
let dataDir: string;

beforeAll(async () => {
  [store, redisDb, dns] = await Promise.all([createTestStore(), allocateRedisUrl(), startDnsmasq({ localDomains: ['far.test'] })]);
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('in.test');
  await accounts.addUser({ address: 'bob@in.test', password: 'bob password' });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-greylist-'));
  const smtpPort = await freePort();
  services = [
    spawnService('smtp-server', {
      DATABASE_URL: store.url,
      REDIS_URL: redisDb.url,
      DATA_DIR: dataDir,
      MAIL_HOSTNAME: 'mx.in.test',
      BIND_ADDRESS: '127.0.0.1',
      LOG_LEVEL: 'warn',
      SMTP_PORT: String(smtpPort),
      SUBMISSION_PORT: String(await freePort()),
      SMTPS_PORT: String(await freePort()),
      DNS_SERVERS: dns.server,
      SMTP_TRUSTED_NETWORKS: 'none',
      SMTP_GREYLIST: 'on',
      SMTP_GREYLIST_DELAY: '2',
    }),
  ];
  await waitForSmtpGreeting(smtpPort, 30_000, '127.0.0.1', 'mx.in.test');
  postfix = await startPostfixReceiver({
    domains: ['receiver.test'],
    mailboxes: ['nobody@receiver.test'],
    relay: { domains: ['in.test'], host: '127.0.0.1', port: smtpPort },
  });
}, 120_000);

afterAll(async () => {
  await postfix?.stop();
  await Promise.all(services.map((s) => s.stop()));
  await dns?.stop();
  await redisDb?.flush();
  await store?.drop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('greylisting with a real MTA (Postfix)', () => {
  it('Postfix is greylisted with 451 4.7.1, retries on its own and delivers after the delay', async () => {
    const client = await connect(postfix.host, postfix.port);
    try {
      expect((await client.cmd('EHLO sender.far.test')).code).toBe(250);
      expect((await client.sendMail('ann@far.test', ['bob@in.test'], authTestMessage('ann@far.test', 'bob@in.test', 'through postfix'))).code).toBe(250);
    } finally {
      await client.close();
    }
    const spooled = await eventually(
      async () => store.db.selectFrom('spool').select(['mail_from', 'remote_ip']).where('mail_from', '=', 'ann@far.test').executeTakeFirst(),
      { timeoutMs: 90_000, intervalMs: 250, describe: async () => `Postfix's log:\n${(await postfix.log()).slice(-3000)}\nsmtp-server:\n${services[0]!.output().slice(-2000)}` },
    );
    expect(spooled.remote_ip).toMatch(/^(::ffff:)?127\./);
    const log = await postfix.log();
    expect(log).toMatch(/to=<bob@in\.test>.*status=deferred .*451 4\.7\.1 Greylisted: please retry in \d+ seconds/);
    expect(log).toMatch(/to=<bob@in\.test>.*status=sent/);
  }, 120_000); // longer than the wait for the spool row, so a failure shows Postfix's log
});
