import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService, createDomainRepository, fileSpooled, parseTrustedNetworks, silentLogger, type TlsMaterial } from '@mailyard/core';
import { authTestMessage, startAuthDns, type AuthDns } from '../../tests/helpers/mail-auth.js';
import { connect, type SmtpReply, type SmtpTranscript } from '../../tests/helpers/smtp-transcript.js';
import { createSmtpTestEnv, type SmtpTestEnv } from '../../tests/helpers/smtp-test-env.js';
import type { TestStore } from '../../tests/helpers/store.js';
import { buildSmtpApp, type SmtpApp } from './app.js';
import { testSecrets } from '../../tests/helpers/secrets.js';

/**
 * The MX with inbound authentication on the real store and a real DNS server (dnsmasq publishing
 * SPF, DKIM and DMARC): the client (127.0.0.1) is not trusted here (SMTP_TRUSTED_NETWORKS=none),
 * so DMARC verdicts apply. Spooled mail is filed with core's filer to see where it lands.
 */

const HOST = '127.0.0.1';
const LIMITS = { maxMessageSize: 100_000, maxRecipients: 10, maxMessagesPerConnection: 100, maxConnectionsPerIp: 100, maxMessagesPerIpPerMinute: 1_000, maxClients: 500, maxDataPerIp: 10 };

let env: SmtpTestEnv;
let store: TestStore;
let tls: TlsMaterial;
let auth: AuthDns;
let bob: number;
const apps: SmtpApp[] = [];
const clients: SmtpTranscript[] = [];

beforeAll(async () => {
  [env, auth] = await Promise.all([createSmtpTestEnv('mx.in.test'), startAuthDns()]);
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
  await auth?.stop();
  await env?.close();
});

async function mx(options: { dns?: string; trusted?: string } = {}): Promise<SmtpTranscript> {
  const app = buildSmtpApp(
    { db: store.db, enqueueInbound: async () => {}, log: silentLogger() },
    { hostname: 'mx.in.test', tls, limits: LIMITS, trust: { dnsServers: [options.dns ?? auth.dns.server], trustedNetworks: parseTrustedNetworks(options.trusted ?? 'none') } },
  );
  apps.push(app);
  const client = await connect(HOST, await app.listen(0, HOST));
  clients.push(client);
  expect((await client.cmd('EHLO client.example')).code).toBe(250);
  return client;
}

const spooledCount = async () => Number((await store.db.selectFrom('spool').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

/** Files the spool row of a 250 reply and returns where the message landed, with its stored results. */
async function fileAndFind(reply: SmtpReply) {
  expect(reply.code).toBe(250);
  const spoolId = Number(/queued as S(\d+)$/.exec(reply.text)![1]);
  const outcome = await fileSpooled({ db: store.db, events: { publish: async () => {} }, log: silentLogger() }, spoolId);
  expect(outcome).toMatchObject({ status: 'filed', filed: 1 });
  return store.db
    .selectFrom('messages')
    .innerJoin('mailboxes', 'mailboxes.id', 'messages.mailbox_id')
    .select(['mailboxes.special_use', 'messages.authentication', 'messages.trace_headers', 'messages.user_id'])
    .where('messages.spool_id', '=', spoolId)
    .executeTakeFirstOrThrow();
}

describe('MX inbound authentication on the real store and DNS', () => {
  it('refuses a forged From of a p=reject domain with 550 5.7.1 and spools nothing', async () => {
    const client = await mx();
    const before = await spooledCount();
    const reply = await client.sendMail('ann@signed.test', ['bob@in.test'], authTestMessage('Ann <ann@signed.test>', 'bob@in.test', 'forged'));
    expect(reply).toMatchObject({ code: 550, enhanced: '5.7.1' });
    expect(reply.text).toContain('DMARC policy reject of signed.test');
    expect(await spooledCount()).toBe(before);
  });

  it('files signed mail in the Inbox with Authentication-Results above Received and the results as data', async () => {
    const client = await mx();
    const raw = await auth.sign(authTestMessage('Ann <ann@signed.test>', 'bob@in.test', 'genuine'));
    const filed = await fileAndFind(await client.sendMail('ann@signed.test', ['bob@in.test'], raw));
    expect(filed).toMatchObject({ special_use: '\\Inbox', user_id: bob });
    expect(filed.authentication).toMatchObject({ dkim: { result: 'pass', domain: 'signed.test' }, dmarc: { result: 'pass', policy: 'reject' }, spf: { result: 'fail' } });
    expect(filed.trace_headers).toMatch(/^Authentication-Results: mx\.in\.test;\r\n [^]*dmarc=pass[^]*\r\nReceived: from client\.example \(\[127\.0\.0\.1\]\)/);
  });

  it('files a p=quarantine failure in Junk', async () => {
    const client = await mx();
    const filed = await fileAndFind(await client.sendMail('q@quarantine.test', ['bob@in.test'], authTestMessage('q@quarantine.test', 'bob@in.test', 'quarantined')));
    expect(filed.special_use).toBe('\\Junk');
    expect(filed.authentication).toMatchObject({ dmarc: { result: 'fail', policy: 'quarantine' } });
  });

  it('refuses our own domain forged from outside, and delivers it once the domain relaxes the rule', async () => {
    const client = await mx();
    const forged = () => authTestMessage('ceo@in.test', 'bob@in.test', 'urgent transfer');
    expect(await client.sendMail('ceo@in.test', ['bob@in.test'], forged())).toMatchObject({ code: 550, enhanced: '5.7.1' });
    const domains = createDomainRepository(store.db);
    const inTest = (await domains.findByName('in.test'))!;
    await domains.updateTrustPolicy(inTest.id, { ownDomainSpoofing: 'quarantine' });
    try {
      expect((await fileAndFind(await client.sendMail('ceo@in.test', ['bob@in.test'], forged()))).special_use).toBe('\\Junk');
    } finally {
      await domains.updateTrustPolicy(inTest.id, { ownDomainSpoofing: 'reject' });
    }
  });

  it('accepts with temperror when DNS does not answer, and trusted clients are never refused', async () => {
    const noDns = await mx({ dns: '127.0.0.1:9' });
    const filed = await fileAndFind(await noDns.sendMail('ann@signed.test', ['bob@in.test'], authTestMessage('ann@signed.test', 'bob@in.test', 'dns down')));
    expect(filed).toMatchObject({ special_use: '\\Inbox', authentication: { spf: { result: 'temperror' }, dmarc: { result: 'temperror' } } });

    const trusted = await mx({ trusted: '127.0.0.0/8' });
    const fromTrusted = await fileAndFind(await trusted.sendMail('ann@signed.test', ['bob@in.test'], authTestMessage('ann@signed.test', 'bob@in.test', 'trusted')));
    expect(fromTrusted).toMatchObject({ special_use: '\\Inbox', authentication: { dmarc: { result: 'fail', policy: 'reject' } } });
  });
});
