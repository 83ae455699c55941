import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countingDb, createTestStore, type TestStore } from '../../../../tests/helpers/store.js';
import { testSecrets } from '../../../../tests/helpers/secrets.js';
import { createAccountsService } from '../../accounts/accounts.service.js';
import type { UserEvent } from '../../contracts/events.js';
import type { EventPublisher } from '../../events/publisher.js';
import { createSpoolRepository } from '../../repositories/spool.repository.js';
import { summarizeMessage } from '../parse.js';
import { ingestMany, writeMailboxes, type IngestInput } from './index.js';

/**
 * The inbound worker's group commit across MANY users: one ingestMany of mail for 20 users files
 * everything set-based (a fixed number of statements, whatever the number of users), keeping each
 * user's consecutive modseqs and each mailbox's consecutive UIDs, threads, contacts, the change log,
 * events and duplicate answers; a batch that cannot be filed leaves nothing behind.
 */

let store: TestStore;
const published: Array<{ userId: number; event: UserEvent }> = [];
const events: EventPublisher = { publish: async (userId, event) => void published.push({ userId, event }) };
const users: number[] = [];

function rawMessage(opts: { from?: string; subject: string; messageId: string; inReplyTo?: string; body?: string }): Buffer {
  const lines = [
    `From: ${opts.from ?? 'Sender <sender@remote.test>'}`,
    'To: someone@a.test',
    `Subject: ${opts.subject}`,
    `Message-ID: ${opts.messageId}`,
    ...(opts.inReplyTo ? [`In-Reply-To: ${opts.inReplyTo}`, `References: ${opts.inReplyTo}`] : []),
    'Date: Mon, 23 Nov 2026 10:00:00 +0000',
    '',
    opts.body ?? 'hello',
    '',
  ];
  return Buffer.from(lines.join('\r\n'));
}

async function input(userId: number, raw: Buffer, spoolId?: number): Promise<IngestInput> {
  return { userId, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw), ...(spoolId === undefined ? {} : { spoolId }) };
}

async function spoolRows(raws: Buffer[]): Promise<number[]> {
  return createSpoolRepository(store.db).insertMany(raws.map((raw) => ({ raw, mailFrom: 's@remote.test', rcptTo: ['x@a.test'], remoteIp: null, helo: null, tls: false, traceHeaders: '' })));
}

async function snapshot(userIds: readonly number[]) {
  const count = async (table: 'messages' | 'changes' | 'spool_filings' | 'contacts') =>
    Number((await store.db.selectFrom(table).select((eb) => eb.fn.countAll<string>().as('n')).where('user_id', 'in', [...userIds]).executeTakeFirstOrThrow()).n);
  return {
    messages: await count('messages'),
    changes: await count('changes'),
    filings: await count('spool_filings'),
    contacts: await count('contacts'),
    users: await store.db.selectFrom('users').select(['id', 'modseq', 'used_bytes']).where('id', 'in', [...userIds]).orderBy('id').execute(),
    mailboxes: await store.db.selectFrom('mailboxes').select(['id', 'uidnext', 'message_count', 'unseen_count', 'total_bytes', 'highestmodseq']).where('user_id', 'in', [...userIds]).orderBy('id').execute(),
  };
}

beforeAll(async () => {
  store = await createTestStore();
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('a.test');
  for (let i = 0; i < 24; i++) users.push((await accounts.addUser({ address: `u${i}@a.test`, password: 'correct horse' })).id);
});
afterAll(async () => {
  await store.drop();
});

describe('ingestMany across many users', () => {
  it('files 20 users × 1–3 messages in one batch: UIDs, modseqs, counters, quota bytes, threads, contacts, change log and events', async () => {
    const twenty = users.slice(0, 20);
    // A parent filed in an earlier batch, for a reply across batches.
    const [earlier] = await ingestMany({ db: store.db, events }, [await input(twenty[0]!, rawMessage({ subject: 'Earlier', messageId: '<earlier@x.test>' }))]);
    const before = await snapshot(twenty);
    const raws: Array<{ userId: number; raw: Buffer }> = [];
    twenty.forEach((userId, u) => {
      for (let m = 0; m <= u % 3; m++) raws.push({ userId, raw: rawMessage({ from: `Person ${u} <p${u}@remote.test>`, subject: `Topic ${u}`, messageId: `<t${u}-${m}@x.test>`, ...(m > 0 ? { inReplyTo: `<t${u}-0@x.test>` } : {}) }) });
    });
    raws.push({ userId: twenty[0]!, raw: rawMessage({ subject: 'Re: Earlier', messageId: '<earlier-2@x.test>', inReplyTo: '<earlier@x.test>' }) });
    // Interleave users, as the worker's batcher does.
    const order = raws.map((_, i) => i).sort((a, b) => (a % 7) - (b % 7) || a - b);
    const inputs = await Promise.all(order.map((i) => input(raws[i]!.userId, raws[i]!.raw)));
    published.length = 0;
    const results = await ingestMany({ db: store.db, events }, inputs);

    expect(results.every((r) => !r.duplicate)).toBe(true);
    const after = await snapshot(twenty);
    expect(after.messages - before.messages).toBe(inputs.length);
    expect(after.changes - before.changes).toBe(inputs.length);
    const rows = await store.db.selectFrom('messages').select(['id', 'user_id', 'message_id_header', 'mailbox_id', 'uid', 'modseq', 'thread_id', 'size']).where('id', 'in', results.map((r) => r.messageId)).execute();
    const byId = new Map(rows.map((r) => [r.id, r]));
    results.forEach((r, i) => {
      const row = byId.get(r.messageId)!;
      expect(row).toMatchObject({ user_id: inputs[i]!.userId, message_id_header: inputs[i]!.summary.messageId, uid: r.uid, modseq: r.modseq, thread_id: r.threadId, mailbox_id: r.mailboxId });
    });
    for (const userId of twenty) {
      const mine = results.filter((_, i) => inputs[i]!.userId === userId);
      const was = before.users.find((u) => u.id === userId)!;
      const now = after.users.find((u) => u.id === userId)!;
      // Consecutive modseqs and UIDs, in input order, right after the user's previous ones.
      expect(mine.map((r) => r.modseq)).toEqual(mine.map((_, n) => was.modseq + 1 + n));
      expect(now.modseq).toBe(was.modseq + mine.length);
      const inboxBefore = before.mailboxes.find((b) => b.id === mine[0]!.mailboxId)!;
      const inboxAfter = after.mailboxes.find((b) => b.id === mine[0]!.mailboxId)!;
      expect(mine.map((r) => r.uid)).toEqual(mine.map((_, n) => inboxBefore.uidnext + n));
      const bytes = mine.reduce((sum, r) => sum + byId.get(r.messageId)!.size, 0);
      expect(inboxAfter).toEqual({ ...inboxBefore, uidnext: inboxBefore.uidnext + mine.length, message_count: inboxBefore.message_count + mine.length, unseen_count: inboxBefore.unseen_count + mine.length, total_bytes: inboxBefore.total_bytes + bytes, highestmodseq: now.modseq });
      expect(now.used_bytes).toBe(was.used_bytes + bytes);
      // Events: this user's message.new in modseq order, then the Inbox's counts.
      const theirs = published.filter((p) => p.userId === userId).map((p) => p.event);
      expect(theirs).toEqual([
        ...mine.map((r) => ({ type: 'message.new', modseq: r.modseq, mailboxId: r.mailboxId, messageId: r.messageId, uid: r.uid, threadId: r.threadId })),
        { type: 'mailbox.counts', mailboxId: inboxAfter.id, total: inboxAfter.message_count, unread: inboxAfter.unseen_count },
      ]);
      const changes = await store.db.selectFrom('changes').select(['modseq', 'kind', 'message_id']).where('user_id', '=', userId).where('modseq', '>', was.modseq).orderBy('modseq').execute();
      expect(changes).toEqual(mine.map((r) => ({ modseq: r.modseq, kind: 'message.new', message_id: r.messageId })));
    }
    // Threads: replies in the same batch join their parent; each user's topic is its own thread; a reply joins a parent of an earlier batch.
    const threadOf = (messageId: string) => results[inputs.findIndex((i) => i.summary.messageId === messageId)]!.threadId;
    twenty.forEach((_, u) => {
      for (let m = 1; m <= u % 3; m++) expect(threadOf(`<t${u}-${m}@x.test>`)).toBe(threadOf(`<t${u}-0@x.test>`));
    });
    expect(new Set(twenty.map((_, u) => threadOf(`<t${u}-0@x.test>`))).size).toBe(20);
    expect(threadOf('<earlier-2@x.test>')).toBe(earlier!.threadId);
    // Contacts: each user's sender, counted once per message.
    const contacts = await store.db.selectFrom('contacts').select(['user_id', 'address', 'received_count']).where('user_id', 'in', twenty).where('address', 'like', 'p%@remote.test').execute();
    expect(contacts.sort((a, b) => a.user_id - b.user_id)).toEqual(twenty.map((userId, u) => ({ user_id: userId, address: `p${u}@remote.test`, received_count: (u % 3) + 1 })));
  });

  it('answers spool rows filed in an earlier batch or twice in this one with duplicate: true, and publishes the earlier ones again', async () => {
    const [a, b, c] = users.slice(0, 3) as [number, number, number];
    const raws = [0, 1, 2, 3].map((i) => rawMessage({ subject: `dup ${i}`, messageId: `<dup${i}@x.test>` }));
    const ids = await spoolRows(raws);
    const [first] = await ingestMany({ db: store.db, events: { publish: async () => undefined } }, [await input(a, raws[0]!, ids[0])]);
    published.length = 0;
    const batch = [await input(a, raws[0]!, ids[0]), await input(b, raws[1]!, ids[1]), await input(c, raws[2]!, ids[2]), await input(b, raws[1]!, ids[1]), await input(a, raws[3]!, ids[3])];
    const results = await ingestMany({ db: store.db, events }, batch);
    expect(results.map((r) => r.duplicate)).toEqual([true, false, false, true, false]);
    const { stored, ...written } = first!;
    expect(stored).toBeDefined();
    expect(results[0]).toStrictEqual({ ...written, duplicate: true }); // nothing stored this time
    const { stored: storedOnce, ...writtenOnce } = results[1]!;
    expect(storedOnce).toBeDefined();
    expect(results[3]).toStrictEqual({ ...writtenOnce, duplicate: true });
    expect(published.filter((p) => p.event.type === 'message.new' && p.userId === a).map((p) => (p.event as { messageId: number }).messageId)).toEqual([first!.messageId, results[4]!.messageId]);
    const filings = await store.db.selectFrom('spool_filings').select(['spool_id', 'user_id']).where('spool_id', 'in', ids).orderBy('spool_id').execute();
    expect(filings).toEqual([{ spool_id: ids[0], user_id: a }, { spool_id: ids[1], user_id: b }, { spool_id: ids[2], user_id: c }, { spool_id: ids[3], user_id: a }]);
    // The unused reservation (b's repeat) was given back: b's modseq is its message's.
    const { modseq } = await store.db.selectFrom('users').select('modseq').where('id', '=', b).executeTakeFirstOrThrow();
    expect(modseq).toBe(results[1]!.modseq);
  });

  it('fails the whole batch cleanly when one user has no Inbox: nothing written for anyone', async () => {
    const some = users.slice(0, 5);
    const broken = users[20]!;
    await store.db.deleteFrom('mailboxes').where('user_id', '=', broken).where('special_use', '=', '\\Inbox').execute();
    const raws = [...some, broken].map((_, i) => rawMessage({ subject: `broken ${i}`, messageId: `<broken${i}@x.test>` }));
    const ids = await spoolRows(raws);
    const before = await snapshot([...some, broken]);
    const inputs = await Promise.all([...some, broken].map((userId, i) => input(userId, raws[i]!, ids[i])));
    await expect(ingestMany({ db: store.db, events }, inputs)).rejects.toMatchObject({ code: 'mailbox.not_found' });
    expect(await snapshot([...some, broken])).toEqual(before);
  });

  it("refuses a batch where a user names another user's mailbox by id, whichever comes first", async () => {
    const [a, b] = users.slice(0, 2) as [number, number];
    const inboxOfA = (await store.db.selectFrom('mailboxes').select('id').where('user_id', '=', a).where('special_use', '=', '\\Inbox').executeTakeFirstOrThrow()).id;
    const raw = rawMessage({ subject: 'not yours', messageId: '<not-yours@x.test>' });
    const summary = await summarizeMessage(raw);
    const before = await snapshot([a, b]);
    for (const order of [[a, b], [b, a]]) {
      const attempt = writeMailboxes({ db: store.db, events }, [a, b], (w) => w.appendMany(order.map((userId) => ({ userId, inputs: [{ mailbox: { id: inboxOfA }, content: { raw }, summary }] }))));
      await expect(attempt).rejects.toMatchObject({ code: 'mailbox.not_found' });
    }
    expect(await snapshot([a, b])).toEqual(before);
  });

  it('sends the same number of statements for 20 users as for 2', async () => {
    // Per user: a spooled message, a reply to it (a subject lookup), and a spool row filed in an earlier batch.
    const batchFor = async (userIds: readonly number[], tag: string) => {
      const raws = userIds.flatMap((_, u) => [
        rawMessage({ subject: `${tag} ${u}`, messageId: `<${tag}-${u}@x.test>` }),
        rawMessage({ subject: `Re: ${tag} ${u}`, messageId: `<${tag}-${u}-re@x.test>`, inReplyTo: `<${tag}-${u}@x.test>` }),
        rawMessage({ subject: `${tag} ${u} earlier`, messageId: `<${tag}-${u}-earlier@x.test>` }),
      ]);
      const ids = await spoolRows(raws);
      const inputs = await Promise.all(raws.map((raw, i) => input(userIds[Math.floor(i / 3)]!, raw, i % 3 === 1 ? undefined : ids[i])));
      await ingestMany({ db: store.db, events }, inputs.filter((_, i) => i % 3 === 2));
      const counted = countingDb(store.db);
      const results = await ingestMany({ db: counted.db, events }, inputs);
      expect(results.map((r) => r.duplicate)).toEqual(inputs.map((_, i) => i % 3 === 2));
      return counted.count();
    };
    const two = await batchFor(users.slice(0, 2), 'two');
    const twenty = await batchFor(users.slice(0, 20), 'twenty');
    expect(twenty).toBe(two);
    // The lock, earlier filings, the Inboxes, the counters, thread keys with new thread ids, the
    // replies' subjects, the insert (rows, blobs, thread keys, search queue, change log, filings),
    // contacts, and giving back unused modseqs.
    expect(two).toBeLessThanOrEqual(9);
  });

  it('checks the quota of every user of a batch with no statement per user (the IMAP APPEND group commit), counting the batch\'s own bytes', async () => {
    const appendAll = async (userIds: readonly number[], tag: string, db = store.db) => {
      const parts = await Promise.all(userIds.map(async (userId, u) => ({ userId, inputs: [await input(userId, rawMessage({ subject: `${tag} ${u}`, messageId: `<${tag}-${u}@x.test>` }))] })));
      return writeMailboxes({ db, events }, userIds, (w) => w.appendMany(parts, { enforceQuota: true }), new Map(userIds.map((id) => [id, 1])));
    };
    const counted = countingDb(store.db);
    await appendAll(users.slice(0, 2), 'quota-two', counted.db);
    const two = counted.count();
    counted.reset();
    await appendAll(users.slice(0, 20), 'quota-twenty', counted.db);
    expect(counted.count()).toBe(two);

    // Room for one more message, not two: the second append of the same write sees the first one's bytes.
    const [user] = users.slice(23);
    const size = rawMessage({ subject: 'fits 0', messageId: '<fits-0@x.test>' }).length;
    const used = Number((await store.db.selectFrom('users').select('used_bytes').where('id', '=', user!).executeTakeFirstOrThrow()).used_bytes);
    await store.db.updateTable('users').set({ quota_bytes: used + size + 10 }).where('id', '=', user!).execute();
    const write = (n: number) =>
      writeMailboxes({ db: store.db, events }, [user!], async (w) => {
        for (let i = 0; i < n; i++) await w.appendMany([{ userId: user!, inputs: [await input(user!, rawMessage({ subject: `fits ${i}`, messageId: `<fits-${i}@x.test>` }))] }], { enforceQuota: true });
      });
    await expect(write(2)).rejects.toMatchObject({ code: 'quota.exceeded', status: 413 });
    await write(1);
    await expect(write(1)).rejects.toMatchObject({ code: 'quota.exceeded' });
  });

  it('completes two concurrent batches that share users, listed in opposite orders (no deadlock)', async () => {
    const shared = users.slice(0, 12);
    const batch = async (userIds: readonly number[], tag: string) =>
      ingestMany({ db: store.db, events }, await Promise.all(userIds.map((userId, u) => input(userId, rawMessage({ subject: `${tag} ${u}`, messageId: `<${tag}-${u}@x.test>` })))));
    for (let round = 0; round < 5; round++) {
      const [one, two] = await Promise.all([batch(shared, `fwd${round}`), batch([...shared].reverse(), `rev${round}`)]);
      expect(one).toHaveLength(12);
      expect(two).toHaveLength(12);
      // Per user, the two batches' modseqs do not overlap.
      shared.forEach((_, i) => expect(one[i]!.modseq).not.toBe(two[11 - i]!.modseq));
    }
  });
});
