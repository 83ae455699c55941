import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDomainRepository, createSenderRuleRepository, parseTrustedNetworks } from '@mailyard/core';
import { authTestMessage, type AuthDns } from '../../tests/helpers/mail-auth.js';
import { createMxTrustHarness, type MxTrustHarness } from '../../tests/helpers/mx-trust-harness.js';
import type { SmtpTranscript } from '../../tests/helpers/smtp-transcript.js';
import type { SmtpTestEnv } from '../../tests/helpers/smtp-test-env.js';

/**
 * Greylisting on the MX, on the real store and Redis: the client (127.0.0.1) is not trusted here
 * (SMTP_TRUSTED_NETWORKS=none) unless a test says so. Each test uses its own sender so that the
 * triplets of one test do not help another.
 */

let h: MxTrustHarness;
let env: SmtpTestEnv;
let auth: AuthDns;
let bob: number;

beforeAll(async () => {
  h = await createMxTrustHarness(['bob@in.test', 'carol@in.test', 'olga@open.test']);
  ({ env, auth } = h);
  bob = h.users.get('bob@in.test')!;
});
afterEach(() => h.closeClients());
afterAll(() => h?.close());

const mx = (options: { delaySeconds: number; trusted?: string }) =>
  h.mx({ trustedNetworks: parseTrustedNetworks(options.trusted ?? 'none') }, { greylist: { redis: env.redis, delaySeconds: options.delaySeconds } });

/** MAIL and one RCPT; returns the RCPT reply (the transaction is reset after). */
async function rcpt(client: SmtpTranscript, from: string, to: string) {
  expect((await client.cmd(`MAIL FROM:<${from}>`)).code).toBe(250);
  const reply = await client.cmd(`RCPT TO:<${to}>`);
  expect((await client.cmd('RSET')).code).toBe(250);
  return reply;
}

describe('MX greylisting', () => {
  it('answers a first attempt with 451 4.7.1 and accepts the retry after the (shortened) delay', async () => {
    const client = await mx({ delaySeconds: 1 });
    const first = await rcpt(client, 'first@far.test', 'bob@in.test');
    expect(first).toMatchObject({ code: 451, enhanced: '4.7.1' });
    expect(first.text).toContain('Greylisted: please retry in 1 seconds');
    // A retrying MTA: try again until accepted (the delay is 1 s; the deadline is generous).
    const deadline = Date.now() + 20_000;
    let retry = await rcpt(client, 'first@far.test', 'bob@in.test');
    while (retry.code !== 250 && Date.now() < deadline) {
      expect(retry).toMatchObject({ code: 451, enhanced: '4.7.1' });
      await new Promise((r) => setTimeout(r, 200));
      retry = await rcpt(client, 'first@far.test', 'bob@in.test');
    }
    expect(retry.code).toBe(250);
    const reply = await client.sendMail('first@far.test', ['bob@in.test'], authTestMessage('first@far.test', 'bob@in.test', 'after greylisting'));
    expect(reply.code).toBe(250);
  });

  it('with a delay of 0 accepts the first retry at once; a new recipient is greylisted again', async () => {
    const client = await mx({ delaySeconds: 0 });
    expect(await rcpt(client, 'zero@far.test', 'bob@in.test')).toMatchObject({ code: 451, enhanced: '4.7.1' });
    expect((await rcpt(client, 'zero@far.test', 'bob@in.test')).code).toBe(250);
    expect(await rcpt(client, 'zero@far.test', 'carol@in.test')).toMatchObject({ code: 451, enhanced: '4.7.1' });
  });

  it('does not greylist a client in the trusted networks', async () => {
    const client = await mx({ delaySeconds: 300, trusted: '127.0.0.0/8' });
    const reply = await client.sendMail('trusted@far.test', ['bob@in.test'], authTestMessage('trusted@far.test', 'bob@in.test', 'from a trusted network'));
    expect(reply.code).toBe(250);
  });

  it("does not greylist a sender on the recipient's allow list", async () => {
    await createSenderRuleRepository(env.store.db).upsert(bob, 'allow', 'friend@far.test');
    const client = await mx({ delaySeconds: 300 });
    expect((await rcpt(client, 'friend@far.test', 'bob@in.test')).code).toBe(250);
    expect(await rcpt(client, 'stranger@far.test', 'bob@in.test')).toMatchObject({ code: 451, enhanced: '4.7.1' });
  });

  it('does not greylist mail to a domain that turned it off', async () => {
    const client = await mx({ delaySeconds: 300 });
    expect(await rcpt(client, 'someone@far.test', 'olga@open.test')).toMatchObject({ code: 451, enhanced: '4.7.1' });
    const domains = createDomainRepository(env.store.db);
    await domains.updateTrustPolicy((await domains.findByName('open.test'))!.id, { greylisting: 'off' });
    expect((await rcpt(client, 'someone@far.test', 'olga@open.test')).code).toBe(250);
  });

  it('skips greylisting for a sender domain whose mail passed DMARC from this network', async () => {
    const client = await mx({ delaySeconds: 0 });
    expect(await rcpt(client, 'ann@signed.test', 'bob@in.test')).toMatchObject({ code: 451, enhanced: '4.7.1' });
    const signed = await auth.sign(authTestMessage('Ann <ann@signed.test>', 'bob@in.test', 'dmarc pass'));
    expect((await client.sendMail('ann@signed.test', ['bob@in.test'], signed)).code).toBe(250);
    // A new triplet (another recipient, another sender of the domain) is not greylisted now: remembered as the 250 went out,
    // on the same Redis connection the next check uses, so it is there first.
    expect((await rcpt(client, 'news@signed.test', 'carol@in.test')).code).toBe(250);
  });
});
