import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSenderRuleRepository, type SpamEngine, type SpamThresholds } from '@mailyard/core';
import { authTestMessage, type AuthDns } from '../../tests/helpers/mail-auth.js';
import { createMxTrustHarness, type MxTrustHarness } from '../../tests/helpers/mx-trust-harness.js';
import type { SmtpReply } from '../../tests/helpers/smtp-transcript.js';
import type { TestStore } from '../../tests/helpers/store.js';

/**
 * The spam decision at the end of DATA on the real store and DNS (dnsmasq publishing SPF, DKIM and
 * DMARC), with the built-in rules: refused far above the threshold unless every recipient
 * allow-lists the sender, Junk above it, and the decision stored with the message.
 * Mail from 127.0.0.1 fails SPF (+2); a good signature of signed.test passes DMARC (-1).
 */

const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';

let h: MxTrustHarness;
let store: TestStore;
let auth: AuthDns;
let bob: number;
let carol: number;

beforeAll(async () => {
  h = await createMxTrustHarness(['bob@in.test', 'carol@in.test']);
  ({ auth } = h);
  store = h.env.store;
  bob = h.users.get('bob@in.test')!;
  carol = h.users.get('carol@in.test')!;
});
afterEach(() => h.closeClients());
afterAll(() => h?.close());

const mx = (spamThresholds?: SpamThresholds, spamEngine?: SpamEngine) => h.mx({ spamThresholds, spamEngine });
const spooledCount = () => h.spooledCount();
/** Files the spool row of a 250 reply; where each recipient's copy landed, with its stored decision. */
const fileAndFind = (reply: SmtpReply) => h.file(reply);
const signed = (subject: string, body?: string, to = 'bob@in.test') => auth.sign(authTestMessage('Ann <ann@signed.test>', to, subject, body));

describe('the spam decision at DATA', () => {
  it('refuses the GTUBE test string with 550 5.7.1 as spam and spools nothing', async () => {
    const client = await mx();
    const before = await spooledCount();
    const reply = await client.sendMail('ann@signed.test', ['bob@in.test'], await signed('test', GTUBE));
    expect(reply).toMatchObject({ code: 550, enhanced: '5.7.1' });
    expect(reply.text).toContain('message refused as spam (score 1001)');
    expect(await spooledCount()).toBe(before);
  });

  it('delivers it when every recipient allow-lists the sender, filed in the Inbox with the override stated', async () => {
    const client = await mx();
    const rules = createSenderRuleRepository(store.db);
    await rules.upsert(bob, 'allow', 'signed.test');
    try {
      // Carol has no entry: with her among the recipients it is still refused.
      expect(await client.sendMail('ann@signed.test', ['bob@in.test', 'carol@in.test'], await signed('test two', GTUBE))).toMatchObject({ code: 550 });
      const { spool, byUser } = await fileAndFind(await client.sendMail('ann@signed.test', ['bob@in.test'], await signed('test three', GTUBE)));
      expect(spool).toMatchObject({ verdict: 'junk', filter: { score: 1001, reason: expect.stringContaining('every recipient allow-lists ann@signed.test') } });
      expect(byUser.get(bob)).toMatchObject({ special_use: '\\Inbox', filter: { verdict: 'inbox', override: 'allow', score: 1001 } });
    } finally {
      await rules.remove(bob, (await rules.list(bob)).find((r) => r.pattern === 'signed.test')!.id);
    }
  });

  it('files mail at the Junk threshold in Junk and stores every check that spoke, with the reason', async () => {
    const client = await mx({ junk: 2, reject: 15 });
    const { byUser } = await fileAndFind(await client.sendMail('ann@signed.test', ['bob@in.test', 'carol@in.test'], await signed('FREE MONEY FOR YOU TODAY')));
    const filter = byUser.get(carol)!.filter!;
    expect(byUser.get(carol)!.special_use).toBe('\\Junk');
    expect(filter).toMatchObject({ verdict: 'junk', score: 2.5, junkThreshold: 2, rejectThreshold: 15, engine: 'builtin', override: null });
    expect(filter.checks.map((c) => `${c.check}:${c.result}:${c.score}`)).toEqual(['spf:fail:2', 'dmarc:pass:-1', 'rule:subject-capitals:1.5']);
    expect(filter.reason).toMatch(/^Spam score 2\.5 is at or above the Junk threshold 2: /);
  });

  it('delivers ordinary signed mail to the Inbox with its score recorded', async () => {
    const client = await mx();
    const { byUser } = await fileAndFind(await client.sendMail('ann@signed.test', ['bob@in.test'], await signed('Lunch on Friday?')));
    expect(byUser.get(bob)).toMatchObject({ special_use: '\\Inbox', filter: { verdict: 'inbox', score: 1, reason: null } });
  });

  // The real engine (rspamd) is tested in core/src/mail/spam/rspamd.test.ts; here only how its answer is used.
  it("uses an engine's score and symbols instead of the content rules, and the rules when it cannot answer", async () => {
    const asked: string[][] = [];
    const engine = (answer: 'spam' | 'down'): SpamEngine => ({
      name: 'rspamd',
      async check(input) {
        asked.push([...input.rcptTo]);
        return answer === 'down' ? null : { score: 8, action: 'add header', checks: [{ check: 'rspamd', result: 'BAYES_SPAM', score: 8, detail: 'Bayesian spam probability is high' }] };
      },
      async learn() {},
    });
    const scored = await fileAndFind(await (await mx(undefined, engine('spam'))).sendMail('ann@signed.test', ['bob@in.test'], await signed('FREE MONEY FOR YOU TODAY')));
    expect(asked).toEqual([['bob@in.test']]);
    expect(scored.byUser.get(bob)).toMatchObject({ special_use: '\\Junk', filter: { engine: 'rspamd', score: 8 } });
    expect(scored.byUser.get(bob)!.filter!.checks.map((c) => c.result)).toEqual(['fail', 'pass', 'BAYES_SPAM']);

    const fallback = await fileAndFind(await (await mx(undefined, engine('down'))).sendMail('ann@signed.test', ['bob@in.test'], await signed('FREE MONEY FOR YOU TODAY')));
    expect(fallback.byUser.get(bob)).toMatchObject({ special_use: '\\Inbox', filter: { engine: 'builtin', score: 2.5 } });
  });
});
