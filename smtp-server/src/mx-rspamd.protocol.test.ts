import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService, createRspamdEngine, fileSpooled, parseTrustedNetworks, silentLogger, type SpamThresholds, type TlsMaterial } from '@mailyard/core';
import { authTestMessage, startAuthDns, type AuthDns } from '../../tests/helpers/mail-auth.js';
import { allocateRedisUrl } from '../../tests/helpers/redis.js';
import { startRspamd, type TestRspamd } from '../../tests/helpers/rspamd.js';
import { connect, type SmtpReply, type SmtpTranscript } from '../../tests/helpers/smtp-transcript.js';
import { createSmtpTestEnv, type SmtpTestEnv } from '../../tests/helpers/smtp-test-env.js';
import type { TestStore } from '../../tests/helpers/store.js';
import { testSecrets } from '../../tests/helpers/secrets.js';
import { buildSmtpApp, type SmtpApp } from './app.js';

/**
 * The MX with rspamd (RSPAMD_URL) as its scoring engine: a private rspamd from Debian on loopback
 * (tests/helpers/rspamd.ts) scores each message at the end of DATA, and the decision stored with
 * the message names rspamd and its symbols. DNS is a dnsmasq publishing SPF, DKIM and DMARC.
 */

const HOST = '127.0.0.1';
const LIMITS = { maxMessageSize: 100_000, maxRecipients: 10, maxMessagesPerConnection: 100, maxConnectionsPerIp: 100, maxMessagesPerIpPerMinute: 1_000, maxClients: 500, maxDataPerIp: 10 };
const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';

let env: SmtpTestEnv;
let store: TestStore;
let tls: TlsMaterial;
let auth: AuthDns;
let rspamd: TestRspamd;
let bob: number;
const apps: SmtpApp[] = [];
const clients: SmtpTranscript[] = [];

beforeAll(async () => {
  const redis = await allocateRedisUrl();
  [env, auth, rspamd] = await Promise.all([createSmtpTestEnv('mx.in.test'), startAuthDns(), startRspamd({ redisUrl: redis.url })]);
  ({ store, tls } = env);
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('in.test');
  bob = (await accounts.addUser({ address: 'bob@in.test', password: 'bob password' })).id;
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
  await rspamd?.stop();
  await auth?.stop();
  await env?.close();
});

async function mx(rspamdUrl: string, spamThresholds?: SpamThresholds): Promise<SmtpTranscript> {
  const spamEngine = createRspamdEngine({ url: rspamdUrl, timeoutMs: 10_000 });
  const app = buildSmtpApp(
    { db: store.db, enqueueInbound: async () => {}, log: silentLogger() },
    { hostname: 'mx.in.test', tls, limits: LIMITS, trust: { dnsServers: [auth.dns.server], trustedNetworks: parseTrustedNetworks('none'), spamThresholds, spamEngine } },
  );
  apps.push(app);
  const client = await connect(HOST, await app.listen(0, HOST));
  clients.push(client);
  expect((await client.cmd('EHLO client.example')).code).toBe(250);
  return client;
}

const signed = (subject: string, body?: string) => auth.sign(authTestMessage('Ann <ann@signed.test>', 'bob@in.test', subject, body));

/** Files the spool row of a 250 reply; where bob's copy landed, with its stored decision. */
async function fileAndFind(reply: SmtpReply) {
  expect(reply.code).toBe(250);
  const spoolId = Number(/queued as S(\d+)$/.exec(reply.text)![1]);
  await fileSpooled({ db: store.db, events: { publish: async () => {} }, log: silentLogger() }, spoolId);
  return store.db
    .selectFrom('messages')
    .innerJoin('mailboxes', 'mailboxes.id', 'messages.mailbox_id')
    .select(['mailboxes.special_use', 'messages.filter'])
    .where('messages.spool_id', '=', spoolId)
    .where('messages.user_id', '=', bob)
    .executeTakeFirstOrThrow();
}

describe('the MX with rspamd', () => {
  it('files a GTUBE message into Junk, the decision naming rspamd and its GTUBE rule', async () => {
    // rspamd gives GTUBE its reject score (15): with the refusal threshold above it, the message goes to Junk.
    const before = (await rspamd.stat()).scanned;
    const client = await mx(rspamd.url, { junk: 6, reject: 100 });
    const row = await fileAndFind(await client.sendMail('ann@signed.test', ['bob@in.test'], await signed('test', `This is a test.\r\n${GTUBE}`)));
    expect(row.special_use).toBe('\\Junk');
    expect(row.filter).toMatchObject({ verdict: 'junk', engine: 'rspamd' });
    expect(row.filter!.score).toBeGreaterThanOrEqual(15);
    expect(row.filter!.checks).toContainEqual(expect.objectContaining({ check: 'rspamd', result: 'GTUBE' }));
    expect((await rspamd.stat()).scanned).toBe(before + 1);
  });

  it('refuses it with 550 5.7.1 at the default thresholds', async () => {
    const client = await mx(rspamd.url);
    const reply = await client.sendMail('ann@signed.test', ['bob@in.test'], await signed('test again', `This is a test.\r\n${GTUBE}`));
    expect(reply).toMatchObject({ code: 550, enhanced: '5.7.1' });
  });

  it('files ordinary signed mail in the Inbox with rspamd\'s score', async () => {
    const client = await mx(rspamd.url);
    const row = await fileAndFind(await client.sendMail('ann@signed.test', ['bob@in.test'], await signed('Lunch on Friday?', 'Shall we meet at the usual place at noon? Ann')));
    expect(row).toMatchObject({ special_use: '\\Inbox', filter: { verdict: 'inbox', engine: 'rspamd' } });
  });

  it('still receives mail when rspamd is down: the built-in rules decide', async () => {
    const client = await mx('http://127.0.0.1:9');
    const row = await fileAndFind(await client.sendMail('ann@signed.test', ['bob@in.test'], await signed('Lunch on Saturday?')));
    expect(row).toMatchObject({ special_use: '\\Inbox', filter: { engine: 'builtin' } });
  });
});
