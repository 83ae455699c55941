import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../../tests/helpers/store.js';
import { createAccountsService } from '../../accounts/accounts.service.js';
import type { UserEvent } from '../../contracts/events.js';
import type { EventPublisher } from '../../events/publisher.js';
import { createMailboxRepository } from '../../repositories/mailbox.repository.js';
import { createMessageRepository } from '../../repositories/message.repository.js';
import { createSpoolRepository } from '../../repositories/spool.repository.js';
import { ingestForUser, ingestMany, ingestMessage } from './index.js';
import { summarizeMessage } from '../parse.js';
import { testSecrets } from '../../../../tests/helpers/secrets.js';

let store: TestStore;
const published: Array<{ userId: number; event: UserEvent }> = [];
const events: EventPublisher = { publish: async (userId, event) => void published.push({ userId, event }) };

function rawMessage(opts: { subject: string; messageId: string; inReplyTo?: string; references?: string; body?: string }): Buffer {
  const lines = [
    'From: Sender <sender@remote.test>',
    'To: alice@a.test',
    `Subject: ${opts.subject}`,
    `Message-ID: ${opts.messageId}`,
    ...(opts.inReplyTo ? [`In-Reply-To: ${opts.inReplyTo}`] : []),
    ...(opts.references ? [`References: ${opts.references}`] : []),
    'Date: Mon, 23 Nov 2026 10:00:00 +0000',
    '',
    opts.body ?? 'hello',
    '',
  ];
  return Buffer.from(lines.join('\r\n'));
}

async function deliver(userId: number, raw: Buffer, spoolId?: number) {
  return ingestMessage({ db: store.db, events }, { userId, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw), spoolId });
}

let alice: number;
let bob: number;

beforeAll(async () => {
  store = await createTestStore();
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('a.test');
  alice = (await accounts.addUser({ address: 'alice@a.test', password: 'correct horse' })).id;
  bob = (await accounts.addUser({ address: 'bob@a.test', password: 'correct horse' })).id;
});
afterAll(async () => {
  await store.drop();
});

describe('ingest', () => {
  it('allocates strictly increasing UIDs and modseqs under concurrent inserts, with no UID used twice', async () => {
    const raws = Array.from({ length: 60 }, (_, i) => rawMessage({ subject: `concurrent ${i}`, messageId: `<c${i}@remote.test>` }));
    const results = await Promise.all(raws.map((raw) => deliver(alice, raw)));
    const uids = results.map((r) => r.uid).sort((a, b) => a - b);
    expect(new Set(uids).size).toBe(60);
    // In commit order (modseq order), UIDs only ever go up.
    const byModseq = [...results].sort((a, b) => a.modseq - b.modseq);
    for (let i = 1; i < byModseq.length; i++) {
      expect(byModseq[i]!.uid).toBeGreaterThan(byModseq[i - 1]!.uid);
      expect(byModseq[i]!.modseq).toBeGreaterThan(byModseq[i - 1]!.modseq);
    }
    const inbox = await createMailboxRepository(store.db).findSpecial(alice, '\\Inbox');
    expect(inbox!.uidnext).toBe(uids[uids.length - 1]! + 1);
    expect(inbox!.messageCount).toBe(60);
    expect(inbox!.unseenCount).toBe(60);
    expect(inbox!.highestmodseq).toBe(byModseq[byModseq.length - 1]!.modseq);
  });

  it('never reuses a UID after a failed append rolls back', async () => {
    const before = await deliver(bob, rawMessage({ subject: 'one', messageId: '<r1@remote.test>' }));
    await expect(
      ingestMessage({ db: store.db, events }, { userId: bob, mailbox: { id: 999_999 }, content: { raw: rawMessage({ subject: 'x', messageId: '<rx@r>' }) }, summary: await summarizeMessage(Buffer.from('Subject: x\r\n\r\n')) }),
    ).rejects.toThrow(/mailbox/);
    const after = await deliver(bob, rawMessage({ subject: 'two', messageId: '<r2@remote.test>' }));
    expect(after.uid).toBe(before.uid + 1);
  });

  it('files a spooled message once per user however often the job runs', async () => {
    const raw = rawMessage({ subject: 'idempotent', messageId: '<idem@remote.test>' });
    const [spoolId] = await createSpoolRepository(store.db).insertMany([{ raw, mailFrom: 's@remote.test', rcptTo: ['bob@a.test'], remoteIp: '127.0.0.1', helo: 'x', tls: false, traceHeaders: '' }]);
    const runs = await Promise.all([deliver(bob, raw, spoolId), deliver(bob, raw, spoolId), deliver(bob, raw, spoolId)]);
    expect(new Set(runs.map((r) => r.messageId)).size).toBe(1);
    expect(runs.filter((r) => !r.duplicate)).toHaveLength(1);
    const list = await createMessageRepository(store.db).listInMailbox(bob, runs[0]!.mailboxId);
    expect(list.filter((m) => m.messageId === '<idem@remote.test>')).toHaveLength(1);
  });

  it('publishes message.new again for a spool row an earlier attempt filed (its worker may have died before publishing), without a second change', async () => {
    const raw = rawMessage({ subject: 'filed, then the worker died', messageId: '<died@remote.test>' });
    const [spoolId] = await createSpoolRepository(store.db).insertMany([{ raw, mailFrom: 's@remote.test', rcptTo: ['bob@a.test'], remoteIp: null, helo: null, tls: false, traceHeaders: '' }]);
    // The first attempt commits; its events never reach Redis (the process is killed after the commit).
    const first = await ingestMessage({ db: store.db, events: { publish: async () => undefined } }, { userId: bob, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw), spoolId });
    published.length = 0;
    const again = await deliver(bob, raw, spoolId);
    expect(again).toMatchObject({ messageId: first.messageId, duplicate: true });
    expect(published.filter((p) => p.event.type === 'message.new')).toEqual([
      { userId: bob, event: { type: 'message.new', modseq: first.modseq, mailboxId: first.mailboxId, messageId: first.messageId, uid: first.uid, threadId: first.threadId } },
    ]);
    const changes = await store.db.selectFrom('changes').select('modseq').where('user_id', '=', bob).where('message_id', '=', first.messageId).execute();
    expect(changes).toEqual([{ modseq: first.modseq }]);
  });

  it('files a batch for one user in one transaction with consecutive modseqs and UIDs, once per spool row', async () => {
    const spool = createSpoolRepository(store.db);
    const raws = [0, 1, 2, 3].map((i) => rawMessage({ subject: `batch ${i}`, messageId: `<batch${i}@remote.test>` }));
    const ids = await spool.insertMany(raws.map((raw) => ({ raw, mailFrom: 's@remote.test', rcptTo: ['bob@a.test'], remoteIp: null, helo: null, tls: false, traceHeaders: '' })));
    const inputs = await Promise.all(
      raws.map(async (raw, i) => ({ userId: bob, mailbox: { specialUse: '\\Inbox' as const }, content: { raw }, summary: await summarizeMessage(raw), spoolId: ids[i] })),
    );
    // The first was filed before; the last appears twice in the batch.
    await deliver(bob, raws[0]!, ids[0]);
    const results = await ingestForUser({ db: store.db, events }, bob, [...inputs, inputs[3]!]);
    expect(results.map((r) => r.duplicate)).toEqual([true, false, false, false, true]);
    const fresh = results.slice(1, 4);
    expect(fresh.map((r) => r.modseq)).toEqual([fresh[0]!.modseq, fresh[0]!.modseq + 1, fresh[0]!.modseq + 2]);
    expect(fresh.map((r) => r.uid)).toEqual([fresh[0]!.uid, fresh[0]!.uid + 1, fresh[0]!.uid + 2]);
    expect(results[4]!.messageId).toBe(results[3]!.messageId);
    await expect(ingestForUser({ db: store.db, events }, bob, [{ ...inputs[0]!, userId: alice }])).rejects.toThrow(/same user/);
  });

  it('files a batch of several users in ONE transaction: results in input order, each user in order, unused modseqs given back', async () => {
    const spool = createSpoolRepository(store.db);
    const raws = [0, 1, 2, 3, 4].map((i) => rawMessage({ subject: `cross ${i}`, messageId: `<cross${i}@remote.test>` }));
    const ids = await spool.insertMany(raws.map((raw) => ({ raw, mailFrom: 's@remote.test', rcptTo: ['alice@a.test', 'bob@a.test'], remoteIp: null, helo: null, tls: false, traceHeaders: '' })));
    const owners = [bob, alice, bob, alice, bob];
    const inputs = await Promise.all(
      raws.map(async (raw, i) => ({ userId: owners[i]!, mailbox: { specialUse: '\\Inbox' as const }, content: { raw }, summary: await summarizeMessage(raw), spoolId: ids[i] })),
    );
    // Bob's last one is repeated: it reserves a modseq it does not use.
    const results = await ingestMany({ db: store.db, events }, [...inputs, inputs[4]!]);
    expect(results.map((r) => r.duplicate)).toEqual([false, false, false, false, false, true]);
    expect(results[5]!.messageId).toBe(results[4]!.messageId);
    const rows = await store.db.selectFrom('messages').select(['id', 'user_id', 'subject', sql<string>`xmin::text`.as('xid')]).where('id', 'in', results.map((r) => r.messageId)).execute();
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(results.map((r) => byId.get(r.messageId)!.subject)).toEqual(['cross 0', 'cross 1', 'cross 2', 'cross 3', 'cross 4', 'cross 4']);
    expect(results.map((r) => byId.get(r.messageId)!.user_id)).toEqual([...owners, bob]);
    expect(new Set(rows.map((r) => r.xid)).size).toBe(1);
    for (const [user, mine] of [[bob, [results[0]!, results[2]!, results[4]!]], [alice, [results[1]!, results[3]!]]] as const) {
      expect(mine.map((r) => r.modseq - mine[0]!.modseq)).toEqual(mine.map((_, n) => n));
      expect(mine.map((r) => r.uid - mine[0]!.uid)).toEqual(mine.map((_, n) => n));
      const { modseq } = await store.db.selectFrom('users').select('modseq').where('id', '=', user).executeTakeFirstOrThrow();
      expect(modseq).toBe(mine.at(-1)!.modseq);
    }
  });

  it('counts a sender once per message in a batch among the user\'s contacts, with the last name given', async () => {
    const from = (name: string) => Buffer.from(`From: ${name} <often@sender.test>\r\nTo: bob@a.test\r\nSubject: hi\r\n\r\nhello\r\n`);
    const raws = [from('Often'), from('Often Sender'), from('')];
    await ingestForUser({ db: store.db, events }, bob, await Promise.all(raws.map(async (raw) => ({ userId: bob, mailbox: { specialUse: '\\Inbox' as const }, content: { raw }, summary: await summarizeMessage(raw) }))));
    const contact = await store.db.selectFrom('contacts').select(['name', 'received_count']).where('user_id', '=', bob).where('address', '=', 'often@sender.test').executeTakeFirstOrThrow();
    expect(contact).toEqual({ name: 'Often Sender', received_count: 3 });
  });

  it('appends to the change log and publishes after commit: the message, then the folder\'s new counts', async () => {
    published.length = 0;
    const result = await deliver(bob, rawMessage({ subject: 'event', messageId: '<ev@remote.test>' }));
    const inbox = (await createMailboxRepository(store.db).get(bob, result.mailboxId))!;
    expect(published).toEqual([
      { userId: bob, event: { type: 'message.new', modseq: result.modseq, mailboxId: result.mailboxId, messageId: result.messageId, uid: result.uid, threadId: result.threadId } },
      { userId: bob, event: { type: 'mailbox.counts', mailboxId: result.mailboxId, total: inbox.messageCount, unread: inbox.unseenCount } },
    ]);
    const change = await store.db.selectFrom('changes').selectAll().where('user_id', '=', bob).where('modseq', '=', result.modseq).executeTakeFirst();
    expect(change?.kind).toBe('message.new');
    expect(change?.message_id).toBe(result.messageId);
  });

  it('threads by references, by a reply that arrived first, and by reply subject; not unrelated subjects', async () => {
    const root = await deliver(alice, rawMessage({ subject: 'Plan', messageId: '<plan@x.test>' }));
    const reply = await deliver(alice, rawMessage({ subject: 'Re: Plan', messageId: '<plan-2@x.test>', inReplyTo: '<plan@x.test>', references: '<plan@x.test>' }));
    expect(reply.threadId).toBe(root.threadId);

    const lateChild = await deliver(alice, rawMessage({ subject: 'Re: Budget', messageId: '<b2@x.test>', references: '<b1@x.test>' }));
    const lateParent = await deliver(alice, rawMessage({ subject: 'Budget', messageId: '<b1@x.test>' }));
    expect(lateParent.threadId).toBe(lateChild.threadId);

    const bySubject = await deliver(alice, rawMessage({ subject: 'RE: plan', messageId: '<plan-3@y.test>' }));
    expect(bySubject.threadId).toBe(root.threadId);

    const unrelated1 = await deliver(alice, rawMessage({ subject: 'Hello', messageId: '<h1@x.test>' }));
    const unrelated2 = await deliver(alice, rawMessage({ subject: 'Hello', messageId: '<h2@x.test>' }));
    expect(unrelated2.threadId).not.toBe(unrelated1.threadId);
  });

  it('does not return another user\'s message', async () => {
    const mine = await deliver(alice, rawMessage({ subject: 'private', messageId: '<private@x.test>' }));
    const messages = createMessageRepository(store.db);
    expect(await messages.get(alice, mine.messageId)).not.toBeNull();
    expect(await messages.get(bob, mine.messageId)).toBeNull();
    expect(await messages.listInMailbox(bob, mine.mailboxId)).toEqual([]);
  });
});
