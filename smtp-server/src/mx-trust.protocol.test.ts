import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDomainRepository, parseTrustedNetworks } from '@mailyard/core';
import { authTestMessage, type AuthDns } from '../../tests/helpers/mail-auth.js';
import { createMxTrustHarness, type MxTrustHarness } from '../../tests/helpers/mx-trust-harness.js';
import type { SmtpReply } from '../../tests/helpers/smtp-transcript.js';
import type { TestStore } from '../../tests/helpers/store.js';

/**
 * The MX with inbound authentication on the real store and a real DNS server (dnsmasq publishing
 * SPF, DKIM and DMARC): the client (127.0.0.1) is not trusted here (SMTP_TRUSTED_NETWORKS=none),
 * so DMARC verdicts apply. Spooled mail is filed with core's filer to see where it lands.
 */

let h: MxTrustHarness;
let store: TestStore;
let auth: AuthDns;
let bob: number;

beforeAll(async () => {
  h = await createMxTrustHarness(['bob@in.test']);
  ({ auth } = h);
  store = h.env.store;
  bob = h.users.get('bob@in.test')!;
});
afterEach(() => h.closeClients());
afterAll(() => h?.close());

const mx = (options: { dns?: string; trusted?: string } = {}) => h.mx({ dnsServers: [options.dns ?? auth.dns.server], trustedNetworks: parseTrustedNetworks(options.trusted ?? 'none') });
const spooledCount = () => h.spooledCount();

/** Files the spool row of a 250 reply and returns where the message landed, with its stored results. */
async function fileAndFind(reply: SmtpReply) {
  const { byUser } = await h.file(reply);
  expect(byUser.size).toBe(1);
  return [...byUser.values()][0]!;
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
      // A running MX caches a domain's policy for a few seconds (core/src/mail/inbound-auth.ts): a new listener reads it now.
      const relaxed = await mx();
      expect((await fileAndFind(await relaxed.sendMail('ceo@in.test', ['bob@in.test'], forged()))).special_use).toBe('\\Junk');
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
