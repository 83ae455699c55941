import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import type { FilterDecisionJson } from '../db/schema.js';
import { silentLogger } from '../log/logger.js';
import { DEFAULT_SPAM_THRESHOLDS, scoreMessage } from '../mail/spam/score.js';
import { createMessageRepository } from '../repositories/message.repository.js';
import { createSenderRuleRepository } from '../repositories/sender-rule.repository.js';
import { createSpoolRepository } from '../repositories/spool.repository.js';
import { fileSpooled } from './spool-filer.js';

/**
 * The spam decision from the MX to the stored message (issue 11): the spool row's `filter` is
 * copied to each recipient's message, with that user's allow or block list applied (the From
 * address, else MAIL FROM), and it comes back with the message.
 */

let store: TestStore;
let alice: number;
let bob: number;
let carol: number;
const deps = () => ({ db: store.db, events: { publish: async () => {} }, log: silentLogger() });

const raw = (from: string | null, subject: string) =>
  Buffer.from(`${from ? `From: ${from}\r\n` : ''}To: alice@in.test\r\nSubject: ${subject}\r\nDate: Sun, 6 Dec 2026 12:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@x.test>\r\n\r\nbody\r\n`);

const decision = (verdict: 'inbox' | 'junk'): FilterDecisionJson => {
  const filter = scoreMessage({
    raw: raw('a@b.test', 'x'),
    authentication: { spf: { result: 'fail', domain: 'spam.test' }, dkim: { result: 'none', domain: null }, dmarc: { result: 'none', domain: null, policy: null }, arc: { result: 'none', domain: null } },
    policy: { action: 'accept', reason: null },
    trustedNetwork: false,
    thresholds: DEFAULT_SPAM_THRESHOLDS,
  }).filter;
  return verdict === 'junk' ? { ...filter, verdict, score: 7, reason: 'Spam score 7 is at or above the Junk threshold 6: test.' } : filter;
};

async function spool(message: Buffer, filter: FilterDecisionJson | null, mailFrom = 'bounce@spam.test'): Promise<number> {
  const [id] = await createSpoolRepository(store.db).insertMany([
    { raw: message, mailFrom, rcptTo: ['alice@in.test', 'bob@in.test', 'carol@in.test'], remoteIp: '192.0.2.1', helo: 'spam.test', tls: false, traceHeaders: '', filter, verdict: filter?.verdict ?? 'inbox' },
  ]);
  return id!;
}

async function filed(spoolId: number) {
  const rows = await store.db
    .selectFrom('messages')
    .innerJoin('mailboxes', 'mailboxes.id', 'messages.mailbox_id')
    .select(['messages.id', 'messages.user_id', 'mailboxes.special_use', 'messages.filter'])
    .where('messages.spool_id', '=', spoolId)
    .execute();
  return new Map(rows.map((r) => [r.user_id, r]));
}

beforeAll(async () => {
  store = await createTestStore();
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('in.test');
  alice = (await accounts.addUser({ address: 'alice@in.test', password: 'alice password' })).id;
  bob = (await accounts.addUser({ address: 'bob@in.test', password: 'bob password' })).id;
  carol = (await accounts.addUser({ address: 'carol@in.test', password: 'carol password' })).id;
  const rules = createSenderRuleRepository(store.db);
  await rules.upsert(bob, 'allow', 'spam.test');
  await rules.upsert(carol, 'block', 'ann@spam.test');
});
afterAll(async () => {
  await store?.drop();
});

describe('filing the spam decision', () => {
  it("stores the decision with each message, and each user's allow or block list overrides it", async () => {
    const spoolId = await spool(raw('Ann <ann@spam.test>', 'Junk for most'), decision('junk'));
    expect(await fileSpooled(deps(), spoolId)).toMatchObject({ status: 'filed', filed: 3 });
    const byUser = await filed(spoolId);
    expect(byUser.get(alice)).toMatchObject({ special_use: '\\Junk', filter: { verdict: 'junk', score: 7, override: null, reason: 'Spam score 7 is at or above the Junk threshold 6: test.' } });
    expect(byUser.get(bob)).toMatchObject({ special_use: '\\Inbox', filter: { verdict: 'inbox', score: 7, override: 'allow', reason: 'Your allow list matches ann@spam.test, so it was filed in the Inbox.' } });
    expect(byUser.get(bob)!.filter!.checks.at(-1)).toEqual({ check: 'sender-list', result: 'allow', score: 0, detail: 'your allow list matches ann@spam.test' });
    expect(byUser.get(carol)).toMatchObject({ special_use: '\\Junk', filter: { verdict: 'junk', override: 'block' } });
  });

  it('a block entry sends mail the score let through to Junk', async () => {
    const byUser = await filed((await fileAndReturn(raw('ann@spam.test', 'Clean'), decision('inbox')))!);
    expect(byUser.get(alice)).toMatchObject({ special_use: '\\Inbox', filter: { verdict: 'inbox', override: null, reason: null } });
    expect(byUser.get(carol)).toMatchObject({ special_use: '\\Junk', filter: { verdict: 'junk', override: 'block', reason: 'Your block list matches ann@spam.test, so it was filed in Junk.' } });
  });

  it('matches the envelope sender when the message has no From address', async () => {
    const byUser = await filed((await fileAndReturn(raw(null, 'No From'), decision('junk'), 'ann@spam.test'))!);
    expect(byUser.get(bob)).toMatchObject({ special_use: '\\Inbox', filter: { override: 'allow' } });
    expect(byUser.get(carol)).toMatchObject({ special_use: '\\Junk', filter: { override: 'block' } });
  });

  it('returns the decision with the message, and leaves mail the filter did not judge unjudged', async () => {
    const judged = await filed((await fileAndReturn(raw('ann@spam.test', 'Detail'), decision('junk')))!);
    const detail = await createMessageRepository(store.db).get(alice, judged.get(alice)!.id);
    expect(detail?.filter).toMatchObject({ verdict: 'junk', score: 7, engine: 'builtin' });

    const unjudged = await filed((await fileAndReturn(raw('ann@spam.test', 'Unjudged'), null))!);
    expect(unjudged.get(carol)).toMatchObject({ special_use: '\\Inbox', filter: null });
  });
});

async function fileAndReturn(message: Buffer, filter: FilterDecisionJson | null, mailFrom?: string): Promise<number> {
  const spoolId = await spool(message, filter, mailFrom);
  expect(await fileSpooled(deps(), spoolId)).toMatchObject({ status: 'filed', filed: 3 });
  return spoolId;
}
