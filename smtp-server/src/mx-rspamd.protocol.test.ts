import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRspamdEngine, type SpamThresholds } from '@mailyard/core';
import { authTestMessage, type AuthDns } from '../../tests/helpers/mail-auth.js';
import { createMxTrustHarness, type MxTrustHarness } from '../../tests/helpers/mx-trust-harness.js';
import { allocateRedisUrl } from '../../tests/helpers/redis.js';
import { startRspamd, type TestRspamd } from '../../tests/helpers/rspamd.js';
import type { SmtpReply } from '../../tests/helpers/smtp-transcript.js';

/**
 * The MX with rspamd (RSPAMD_URL) as its scoring engine: a private rspamd from Debian on loopback
 * (tests/helpers/rspamd.ts) scores each message at the end of DATA, and the decision stored with
 * the message names rspamd and its symbols. DNS is a dnsmasq publishing SPF, DKIM and DMARC.
 */

const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';

let h: MxTrustHarness;
let auth: AuthDns;
let rspamd: TestRspamd;
let bob: number;

beforeAll(async () => {
  const redis = await allocateRedisUrl();
  [h, rspamd] = await Promise.all([createMxTrustHarness(['bob@in.test']), startRspamd({ redisUrl: redis.url })]);
  ({ auth } = h);
  bob = h.users.get('bob@in.test')!;
});
afterEach(() => h.closeClients());
afterAll(async () => {
  await rspamd?.stop();
  await h?.close();
});

const mx = (rspamdUrl: string, spamThresholds?: SpamThresholds) => h.mx({ spamThresholds, spamEngine: createRspamdEngine({ url: rspamdUrl, timeoutMs: 10_000 }) });

const signed = (subject: string, body?: string) => auth.sign(authTestMessage('Ann <ann@signed.test>', 'bob@in.test', subject, body));

/** Files the spool row of a 250 reply; where bob's copy landed, with its stored decision. */
async function fileAndFind(reply: SmtpReply) {
  const copy = (await h.file(reply)).byUser.get(bob);
  expect(copy).toBeDefined();
  return copy!;
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
