import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { countingDb, createTestStore, type TestStore } from '../../../../tests/helpers/store.js';
import { createAccountsService } from '../../accounts/accounts.service.js';
import type { UserEvent } from '../../contracts/events.js';
import type { SpecialUse } from '../../db/schema.js';
import type { EventPublisher } from '../../events/publisher.js';
import { createMailboxRepository } from '../../repositories/mailbox.repository.js';
import { ingestMessage } from './index.js';
import {
  createMailbox,
  deleteMailbox,
  deleteMessages,
  emptyMailbox,
  moveMessages,
  purgeTrash,
  renameMailbox,
  setFlags,
  copyMessages,
  expungeMessages,
  ingestForUser,
  ingestMany,
  openMailboxWrite,
  writeMailboxes,
  type MessageOpsDeps,
} from './index.js';
import { summarizeMessage } from '../parse.js';
import { testSecrets } from '../../../../tests/helpers/secrets.js';

let store: TestStore;
let deps: MessageOpsDeps;

/**
 * Every published event in the order it was sent (the writer sends a write's events at once, as
 * one Redis connection keeps them in order), with whether its change was already committed then.
 */
const published: Array<{ userId: number; event: UserEvent; committed: boolean }> = [];
const events: EventPublisher = {
  async publish(userId, event) {
    const entry = { userId, event, committed: true };
    published.push(entry);
    if ('modseq' in event) {
      // Read on another pooled connection: only a committed change is visible there.
      const row = await store.db.selectFrom('changes').select('modseq').where('user_id', '=', userId).where('modseq', '=', event.modseq).executeTakeFirst();
      entry.committed = row !== undefined;
    }
  },
};

let alice: number;
let bob: number;
let seq = 0;

async function deliver(userId: number, mailbox: { specialUse: SpecialUse } | { id: number } = { specialUse: '\\Inbox' }, flags: string[] = []) {
  seq++;
  const raw = Buffer.from(`From: s@remote.test\r\nTo: x@a.test\r\nSubject: m${seq}\r\nMessage-ID: <m${seq}@remote.test>\r\n\r\nbody ${seq} ${'x'.repeat(seq % 7)}\r\n`);
  return ingestMessage({ db: store.db, events: { publish: async () => undefined } }, { userId, mailbox, content: { raw }, summary: await summarizeMessage(raw), flags });
}

async function mailboxOf(userId: number, specialUse: SpecialUse) {
  return (await createMailboxRepository(store.db).findSpecial(userId, specialUse))!;
}

async function messageRow(id: number) {
  return store.db.selectFrom('messages').select(['id', 'user_id', 'mailbox_id', 'uid', 'modseq', 'flags', 'moved_at']).where('id', '=', id).executeTakeFirst();
}

/** A fingerprint of everything a user owns: compared before/after a call that must change nothing. */
async function snapshot(userId: number) {
  const [user, mailboxes, messages, changes] = await Promise.all([
    store.db.selectFrom('users').select('modseq').where('id', '=', userId).executeTakeFirstOrThrow(),
    store.db.selectFrom('mailboxes').selectAll().where('user_id', '=', userId).orderBy('id').execute(),
    store.db.selectFrom('messages').select(['id', 'mailbox_id', 'uid', 'modseq', 'flags', 'moved_at']).where('user_id', '=', userId).orderBy('id').execute(),
    store.db.selectFrom('changes').select(['modseq', 'kind']).where('user_id', '=', userId).orderBy('modseq').execute(),
  ]);
  return { user, mailboxes, messages, changes };
}

/**
 * The store's invariants for one user: each mailbox's counters equal a recount of its rows, its
 * highestmodseq and uidnext are above every row's modseq and uid, and the user's modseqs are
 * exactly 1..N, one change-log row each (no modseq taken without a change, none used twice).
 */
async function expectConsistent(userId: number) {
  const boxes = await store.db.selectFrom('mailboxes').selectAll().where('user_id', '=', userId).execute();
  for (const b of boxes) {
    const { rows } = await sql<{ n: number; unseen: number; bytes: number; maxmod: number; maxuid: number }>`
      SELECT count(*) AS n, count(*) FILTER (WHERE NOT ('\\Seen' = ANY(flags))) AS unseen, COALESCE(sum(size), 0)::bigint AS bytes,
             COALESCE(max(modseq), 0) AS maxmod, COALESCE(max(uid), 0) AS maxuid
      FROM messages WHERE mailbox_id = ${b.id}`.execute(store.db);
    const r = rows[0]!;
    expect({ mailbox: b.name, count: b.message_count, unseen: b.unseen_count, bytes: b.total_bytes }).toEqual({ mailbox: b.name, count: r.n, unseen: r.unseen, bytes: r.bytes });
    expect(b.highestmodseq).toBeGreaterThanOrEqual(r.maxmod);
    expect(b.uidnext).toBeGreaterThan(r.maxuid);
  }
  const user = await store.db.selectFrom('users').select('modseq').where('id', '=', userId).executeTakeFirstOrThrow();
  const changes = await store.db.selectFrom('changes').select('modseq').where('user_id', '=', userId).orderBy('modseq').execute();
  expect(changes.map((c) => c.modseq)).toEqual(Array.from({ length: user.modseq }, (_, i) => i + 1));
}

beforeAll(async () => {
  store = await createTestStore();
  deps = { db: store.db, events };
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('a.test');
  alice = (await accounts.addUser({ address: 'alice@a.test', password: 'correct horse' })).id;
  bob = (await accounts.addUser({ address: 'bob@a.test', password: 'correct horse' })).id;
});
afterAll(async () => {
  await store.drop();
});
beforeEach(() => {
  published.length = 0;
});

describe('setFlags', () => {
  it('updates flags and unseen counts, with one change-log entry and one event per changed message, after commit', async () => {
    const a = await deliver(alice);
    const b = await deliver(alice);
    const c = await deliver(alice, undefined, ['\\Seen']);
    const before = await snapshot(alice);
    const result = await setFlags(deps, alice, [a.messageId, b.messageId, c.messageId], { add: ['\\Seen', '$Work'] });
    expect(result.map((m) => m.changed)).toEqual([true, true, true]);
    const again = await setFlags(deps, alice, [c.messageId], { add: ['$Work'] });
    expect(again[0]!.changed).toBe(false);

    const changes = await store.db.selectFrom('changes').selectAll().where('user_id', '=', alice).where('modseq', '>', before.user.modseq).orderBy('modseq').execute();
    expect(changes.map((ch) => [ch.kind, ch.message_id, ch.modseq])).toEqual([
      ['message.flags', a.messageId, before.user.modseq + 1],
      ['message.flags', b.messageId, before.user.modseq + 2],
      ['message.flags', c.messageId, before.user.modseq + 3],
    ]);
    expect(changes[2]!.payload).toEqual({ flags: ['\\Seen', '$Work'] });
    expect((await messageRow(a.messageId))!.modseq).toBe(before.user.modseq + 1);

    const inbox = await mailboxOf(alice, '\\Inbox');
    expect(inbox.highestmodseq).toBe(before.user.modseq + 3);
    expect(published.every((p) => p.committed && p.userId === alice)).toBe(true);
    expect(published.map((p) => p.event)).toEqual([
      { type: 'message.flags', modseq: before.user.modseq + 1, mailboxId: a.mailboxId, messageId: a.messageId, uid: a.uid, flags: ['\\Seen', '$Work'] },
      { type: 'message.flags', modseq: before.user.modseq + 2, mailboxId: b.mailboxId, messageId: b.messageId, uid: b.uid, flags: ['\\Seen', '$Work'] },
      { type: 'message.flags', modseq: before.user.modseq + 3, mailboxId: c.mailboxId, messageId: c.messageId, uid: c.uid, flags: ['\\Seen', '$Work'] },
      { type: 'mailbox.counts', mailboxId: inbox.id, total: inbox.messageCount, unread: inbox.unseenCount },
    ]);
    await expectConsistent(alice);
  });

  it('leaves no trace (no modseq, no change, no event) when nothing changes', async () => {
    const a = await deliver(alice, undefined, ['\\Flagged']);
    const before = await snapshot(alice);
    published.length = 0;
    await setFlags(deps, alice, [a.messageId], { add: ['\\Flagged'], remove: ['\\Seen'] });
    expect(await snapshot(alice)).toEqual(before);
    expect(published).toEqual([]);
  });

  it('stores system flags in canonical case and rejects flags IMAP cannot carry', async () => {
    const a = await deliver(alice);
    await setFlags(deps, alice, [a.messageId], { add: ['\\seen', '\\FLAGGED'] });
    expect((await messageRow(a.messageId))!.flags).toEqual(['\\Seen', '\\Flagged']);
    const before = await snapshot(alice);
    for (const bad of ['\\Recent', '\\Bogus', 'two words', 'paren(', '', 'x'.repeat(101), 'quote"', 'star*', 'ctl\u0001']) {
      await expect(setFlags(deps, alice, [a.messageId], { add: [bad] }), bad).rejects.toMatchObject({ code: 'flags.invalid', status: 400 });
    }
    await expect(setFlags(deps, alice, [a.messageId], { add: ['$x'], remove: ['$x'] })).rejects.toMatchObject({ code: 'flags.invalid' });
    expect(await snapshot(alice)).toEqual(before);
  });

  it('changes messages in ONE statement outside a transaction: user lock, message locks and the write together', async () => {
    const a = await deliver(alice);
    const b = await deliver(alice, undefined, ['\\Seen']);
    const counting = countingDb(store.db);
    const [flagged] = await setFlags({ ...deps, db: counting.db }, alice, [a.messageId], { add: ['\\Seen', '$Work'] });
    expect(counting.count()).toBe(1);
    expect(flagged).toMatchObject({ id: a.messageId, flags: ['\\Seen', '$Work'], changed: true });
    // Two messages in two mailboxes: still one statement.
    const archive = await mailboxOf(alice, '\\Archive');
    await moveMessages(deps, alice, [b.messageId], archive.id);
    counting.reset();
    await setFlags({ ...deps, db: counting.db }, alice, [a.messageId, b.messageId], { remove: ['\\Seen'] });
    expect(counting.count()).toBe(1);
    expect((await mailboxOf(alice, '\\Archive')).unseenCount).toBe(1);
    await expectConsistent(alice);
    // A message the user does not have: the statement writes nothing (not even the user's modseq).
    const before = await snapshot(alice);
    counting.reset();
    await expect(setFlags({ ...deps, db: counting.db }, alice, [a.messageId, 999_999_999], { add: ['$Gone'] })).rejects.toMatchObject({ code: 'message.not_found' });
    expect(counting.count()).toBe(1);
    expect(await snapshot(alice)).toEqual(before);
  });

  it('refuses a change that would leave a message with too many flags, and writes nothing', async () => {
    const a = await deliver(alice, undefined, Array.from({ length: 100 }, (_, i) => `$f${i}`));
    const before = await snapshot(alice);
    await expect(setFlags(deps, alice, [a.messageId], { add: ['$one-more'] })).rejects.toMatchObject({ code: 'flags.too_many', status: 400 });
    expect(await snapshot(alice)).toEqual(before);
    expect((await messageRow(a.messageId))!.flags).toHaveLength(100);
  });

  it('replaces the whole set when asked (IMAP STORE FLAGS)', async () => {
    const a = await deliver(alice, undefined, ['\\Seen', '$Old']);
    await setFlags(deps, alice, [a.messageId], { replace: ['\\Answered'] });
    expect((await messageRow(a.messageId))!.flags).toEqual(['\\Answered']);
    await expectConsistent(alice);
  });
});

describe('moveMessages', () => {
  it('keeps the row id, gives UIDs above every UID the target ever gave out, and moves the counters', async () => {
    const archive = await mailboxOf(alice, '\\Archive');
    // The target's highest UIDs were given to messages that have since left it.
    const gone = await deliver(alice, { id: archive.id });
    await deleteMessages(deps, alice, [gone.messageId]);
    const uidnextBefore = (await mailboxOf(alice, '\\Archive')).uidnext;
    expect(uidnextBefore).toBe(gone.uid + 1);

    const a = await deliver(alice);
    const b = await deliver(alice, undefined, ['\\Seen']);
    const junk = await deliver(alice, { specialUse: '\\Junk' });
    await store.db.updateTable('messages').set({ moved_at: new Date('2000-01-01T00:00:00Z') }).where('id', '=', a.messageId).execute();
    const before = await snapshot(alice);
    published.length = 0;
    const result = await moveMessages(deps, alice, [junk.messageId, b.messageId, a.messageId], archive.id);

    expect(result.target).toEqual({ id: archive.id, uidvalidity: archive.uidvalidity });
    expect(result.moved.map((m) => m.id).sort()).toEqual([a.messageId, b.messageId, junk.messageId].sort());
    for (const m of result.moved) expect(m.uid).toBeGreaterThan(gone.uid);
    expect(result.moved.map((m) => m.uid)).toEqual([uidnextBefore, uidnextBefore + 1, uidnextBefore + 2]);
    expect(result.moved.map((m) => m.modseq)).toEqual([before.user.modseq + 1, before.user.modseq + 2, before.user.modseq + 3]);

    const rowA = (await messageRow(a.messageId))!;
    expect(rowA.mailbox_id).toBe(archive.id);
    expect(rowA.uid).toBe(result.moved.find((m) => m.id === a.messageId)!.uid);
    expect(rowA.moved_at.getTime()).toBeGreaterThan(Date.now() - 60_000);

    const changes = await store.db.selectFrom('changes').selectAll().where('user_id', '=', alice).where('modseq', '>', before.user.modseq).orderBy('modseq').execute();
    expect(changes.map((c) => c.kind)).toEqual(['message.moved', 'message.moved', 'message.moved']);
    const changeA = changes.find((c) => c.message_id === a.messageId)!;
    expect(changeA).toMatchObject({ mailbox_id: archive.id, uid: rowA.uid, payload: { fromMailboxId: a.mailboxId, fromUid: a.uid } });

    const moved = published.filter((p) => p.event.type === 'message.moved');
    expect(moved).toHaveLength(3);
    expect(moved.every((p) => p.committed)).toBe(true);
    expect(moved.find((p) => p.event.type === 'message.moved' && p.event.messageId === a.messageId)!.event).toEqual({
      type: 'message.moved', modseq: changeA.modseq, messageId: a.messageId, fromMailboxId: a.mailboxId, fromUid: a.uid, mailboxId: archive.id, uid: rowA.uid,
    });
    const countEvents = published.filter((p) => p.event.type === 'mailbox.counts').map((p) => p.event.type === 'mailbox.counts' && p.event.mailboxId);
    expect(new Set(countEvents)).toEqual(new Set([a.mailboxId, junk.mailboxId, archive.id]));
    await expectConsistent(alice);
  });

  it('leaves messages already in the target alone and refuses a source outside onlyFrom', async () => {
    const a = await deliver(alice);
    const before = await snapshot(alice);
    const result = await moveMessages(deps, alice, [a.messageId], { specialUse: '\\Inbox' });
    expect(result.moved).toEqual([]);
    expect(result.unchanged.map((m) => m.id)).toEqual([a.messageId]);
    await expect(moveMessages(deps, alice, [a.messageId], { specialUse: '\\Inbox' }, { onlyFrom: ['\\Trash'] })).rejects.toMatchObject({ code: 'message.not_in_trash', status: 409 });
    expect(await snapshot(alice)).toEqual(before);
  });
});

describe('deleteMessages and emptyMailbox', () => {
  it('deletes rows forever, keeps the shared blob, and logs one message.deleted per message', async () => {
    const a = await deliver(alice, { specialUse: '\\Trash' });
    const b = await deliver(alice, { specialUse: '\\Trash' }, ['\\Seen']);
    const blob = (await store.db.selectFrom('messages').select('blob_hash').where('id', '=', a.messageId).executeTakeFirstOrThrow()).blob_hash;
    const before = await snapshot(alice);
    published.length = 0;
    const deleted = await deleteMessages(deps, alice, [a.messageId, b.messageId], { onlyFrom: ['\\Trash', '\\Junk'] });
    expect(deleted.map((d) => d.modseq)).toEqual([before.user.modseq + 1, before.user.modseq + 2]);
    expect(await messageRow(a.messageId)).toBeUndefined();
    expect(await store.db.selectFrom('blobs').select('hash').where('hash', '=', blob).executeTakeFirst()).toBeDefined();
    const changes = await store.db.selectFrom('changes').selectAll().where('user_id', '=', alice).where('modseq', '>', before.user.modseq).orderBy('modseq').execute();
    expect(changes.map((c) => [c.kind, c.message_id, c.uid])).toEqual([['message.deleted', a.messageId, a.uid], ['message.deleted', b.messageId, b.uid]]);
    expect(published.map((p) => p.event.type)).toEqual(['message.deleted', 'message.deleted', 'mailbox.counts']);
    expect(published.every((p) => p.committed)).toBe(true);
    await expectConsistent(alice);
  });

  it('refuses to delete forever a message outside Trash/Junk when asked to, changing nothing', async () => {
    const t = await deliver(alice, { specialUse: '\\Trash' });
    const i = await deliver(alice);
    const before = await snapshot(alice);
    await expect(deleteMessages(deps, alice, [t.messageId, i.messageId], { onlyFrom: ['\\Trash', '\\Junk'] })).rejects.toMatchObject({ code: 'message.not_in_trash', status: 409 });
    expect(await snapshot(alice)).toEqual(before);
  });

  it('empties Trash and Junk only', async () => {
    await deliver(alice, { specialUse: '\\Junk' });
    await deliver(alice, { specialUse: '\\Junk' }, ['\\Seen']);
    const junk = await mailboxOf(alice, '\\Junk');
    const deleted = await emptyMailbox(deps, alice, junk.id);
    expect(deleted.length).toBe(junk.messageCount);
    expect(await mailboxOf(alice, '\\Junk')).toMatchObject({ messageCount: 0, unseenCount: 0, totalBytes: 0 });
    const inbox = await mailboxOf(alice, '\\Inbox');
    const before = await snapshot(alice);
    await expect(emptyMailbox(deps, alice, inbox.id)).rejects.toMatchObject({ code: 'mailbox.not_emptyable', status: 409 });
    expect(await snapshot(alice)).toEqual(before);
    await expectConsistent(alice);
  });
});

describe('ownership', () => {
  it('treats another user\'s message and mailbox ids as not found, and changes nothing for either user', async () => {
    const mine = await deliver(alice);
    const theirs = await deliver(bob);
    const bobArchive = await mailboxOf(bob, '\\Archive');
    const bobInbox = await mailboxOf(bob, '\\Inbox');
    const beforeAlice = await snapshot(alice);
    const beforeBob = await snapshot(bob);
    published.length = 0;
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['message.not_found', () => setFlags(deps, alice, [mine.messageId, theirs.messageId], { add: ['\\Seen'] })],
      ['message.not_found', () => moveMessages(deps, alice, [mine.messageId, theirs.messageId], { specialUse: '\\Archive' })],
      ['mailbox.not_found', () => moveMessages(deps, alice, [mine.messageId], bobArchive.id)],
      ['message.not_found', () => deleteMessages(deps, alice, [theirs.messageId])],
      ['mailbox.not_found', () => emptyMailbox(deps, alice, (bobArchive.id))],
      ['mailbox.not_found', () => renameMailbox(deps, alice, bobInbox.id, 'Mine now')],
      ['mailbox.not_found', () => deleteMailbox(deps, alice, bobArchive.id)],
      ['message.not_found', () => setFlags(deps, alice, [999_999_999], { add: ['\\Seen'] })],
    ];
    for (const [code, call] of calls) await expect(call(), code).rejects.toMatchObject({ code, status: 404 });
    expect(await snapshot(alice)).toEqual(beforeAlice);
    expect(await snapshot(bob)).toEqual(beforeBob);
    expect(published).toEqual([]);
  });
});

describe('concurrency', () => {
  it('runs concurrent flag changes, moves, deletes and deliveries on the same messages without deadlock, ending consistent', async () => {
    const ids = await Promise.all(Array.from({ length: 12 }, () => deliver(alice))).then((rs) => rs.map((r) => r.messageId));
    const archive = await mailboxOf(alice, '\\Archive');
    const trash = await mailboxOf(alice, '\\Trash');
    const custom = await createMailbox(deps, alice, 'Busy');
    const targets = [archive.id, trash.id, custom.id];
    const reversed = [...ids].reverse();
    const ops: Array<Promise<unknown>> = [];
    for (let i = 0; i < 30; i++) {
      const some = i % 2 === 0 ? ids : reversed;
      const slice = some.slice(i % 4, (i % 4) + 8);
      if (i % 3 === 0) ops.push(setFlags(deps, alice, slice, { add: i % 2 ? ['\\Seen'] : ['\\Flagged'], remove: i % 2 ? ['\\Flagged'] : ['\\Seen'] }));
      else if (i % 3 === 1) ops.push(moveMessages(deps, alice, slice, targets[i % targets.length]!));
      else ops.push(deliver(alice, { id: targets[i % targets.length]! }));
    }
    ops.push(deleteMessages(deps, alice, [ids[0]!]));
    const results = await Promise.allSettled(ops);
    // Only the operations that raced with the delete of ids[0] may fail, and only as not found.
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'message.not_found' });
    expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThan(20);
    await expectConsistent(alice);
    const { rows } = await sql<{ dupes: number }>`SELECT count(*) AS dupes FROM (SELECT mailbox_id, uid FROM messages WHERE user_id = ${alice} GROUP BY 1, 2 HAVING count(*) > 1) d`.execute(store.db);
    expect(rows[0]!.dupes).toBe(0);
  });
});

describe('purgeTrash', () => {
  it('deletes only messages that entered Trash before the cutoff, for every user', async () => {
    const a = await deliver(alice);
    const b = await deliver(alice);
    const c = await deliver(bob);
    const fresh = await deliver(bob);
    await moveMessages(deps, alice, [a.messageId, b.messageId], { specialUse: '\\Trash' });
    await moveMessages(deps, bob, [c.messageId, fresh.messageId], { specialUse: '\\Trash' });
    const old = new Date(Date.now() - 31 * 24 * 3600 * 1000);
    await store.db.updateTable('messages').set({ moved_at: old }).where('id', 'in', [a.messageId, c.messageId]).execute();
    // Old, but not in Trash: never purged.
    const inInbox = await deliver(alice);
    await store.db.updateTable('messages').set({ moved_at: old }).where('id', '=', inInbox.messageId).execute();

    published.length = 0;
    const result = await purgeTrash(deps);
    expect(result.messages).toBeGreaterThanOrEqual(2);
    expect(await messageRow(a.messageId)).toBeUndefined();
    expect(await messageRow(c.messageId)).toBeUndefined();
    expect(await messageRow(b.messageId)).toBeDefined();
    expect(await messageRow(fresh.messageId)).toBeDefined();
    expect(await messageRow(inInbox.messageId)).toBeDefined();
    expect(published.filter((p) => p.event.type === 'message.deleted').map((p) => [p.userId, p.event.type === 'message.deleted' && p.event.messageId])).toEqual(
      expect.arrayContaining([[alice, a.messageId], [bob, c.messageId]]),
    );
    await expectConsistent(alice);
    await expectConsistent(bob);
  });
});

describe('custom mailboxes', () => {
  it('creates, renames and deletes a custom folder, deleting its messages, with change-log entries', async () => {
    const before = await snapshot(alice);
    const box = await createMailbox(deps, alice, '  Projects/2026  ');
    expect(box).toMatchObject({ name: 'Projects/2026', specialUse: null, messageCount: 0, uidnext: 1 });
    const m = await deliver(alice, { id: box.id });
    const renamed = await renameMailbox(deps, alice, box.id, 'Projects/Done');
    expect(renamed).toMatchObject({ id: box.id, name: 'Projects/Done', uidvalidity: box.uidvalidity });
    const result = await deleteMailbox(deps, alice, box.id);
    expect(result).toEqual({ deletedMessages: 1 });
    expect(await messageRow(m.messageId)).toBeUndefined();
    expect(await store.db.selectFrom('mailboxes').select('id').where('id', '=', box.id).executeTakeFirst()).toBeUndefined();
    const kinds = await store.db.selectFrom('changes').select(['kind', 'mailbox_id']).where('user_id', '=', alice).where('modseq', '>', before.user.modseq).orderBy('modseq').execute();
    expect(kinds.map((k) => k.kind)).toEqual(['mailbox.created', 'message.new', 'mailbox.renamed', 'message.deleted', 'mailbox.deleted']);
    // Live clients hear about the folder list too, after each commit, with the change's modseq.
    const folderEvents = published.filter((p) => p.event.type.startsWith('mailbox.') && p.event.type !== 'mailbox.counts');
    expect(folderEvents.map((p) => p.event)).toEqual([
      { type: 'mailbox.created', modseq: expect.any(Number), mailboxId: box.id, name: 'Projects/2026', uidvalidity: box.uidvalidity },
      { type: 'mailbox.renamed', modseq: expect.any(Number), mailboxId: box.id, name: 'Projects/Done', from: 'Projects/2026' },
      { type: 'mailbox.deleted', modseq: expect.any(Number), mailboxId: box.id, name: 'Projects/Done', uidvalidity: box.uidvalidity },
    ]);
    expect(folderEvents.every((p) => p.committed && p.userId === alice)).toBe(true);
    await expectConsistent(alice);
  });

  it('gives a re-created folder a new UIDVALIDITY, even within the same second', async () => {
    const first = await createMailbox(deps, alice, 'Again');
    await deleteMailbox(deps, alice, first.id);
    const second = await createMailbox(deps, alice, 'Again');
    expect(second.uidvalidity).not.toBe(first.uidvalidity);
    await deleteMailbox(deps, alice, second.id);
  });

  it('protects system folders (403) and validates names (400) and uniqueness (409), changing nothing', async () => {
    const inbox = await mailboxOf(alice, '\\Inbox');
    const trash = await mailboxOf(alice, '\\Trash');
    const taken = await createMailbox(deps, alice, 'Taken');
    const other = await createMailbox(deps, alice, 'Other');
    const before = await snapshot(alice);
    await expect(renameMailbox(deps, alice, inbox.id, 'Box')).rejects.toMatchObject({ code: 'mailbox.protected', status: 403 });
    await expect(deleteMailbox(deps, alice, trash.id)).rejects.toMatchObject({ code: 'mailbox.protected', status: 403 });
    for (const bad of ['', '   ', 'x'.repeat(201), 'tab\there', 'nul\u0000', 'new\nline', 'wild*', 'wild%']) {
      await expect(createMailbox(deps, alice, bad), JSON.stringify(bad)).rejects.toMatchObject({ code: 'mailbox.name_invalid', status: 400 });
    }
    await expect(createMailbox(deps, alice, 'Taken')).rejects.toMatchObject({ code: 'mailbox.exists', status: 409 });
    await expect(createMailbox(deps, alice, 'inbox')).rejects.toMatchObject({ code: 'mailbox.exists', status: 409 });
    await expect(createMailbox(deps, alice, 'Trash')).rejects.toMatchObject({ code: 'mailbox.exists', status: 409 });
    await expect(renameMailbox(deps, alice, other.id, 'Taken')).rejects.toMatchObject({ code: 'mailbox.exists', status: 409 });
    expect(await snapshot(alice)).toEqual(before);
    // Another user may use the same name.
    await expect(createMailbox(deps, bob, 'Taken')).resolves.toMatchObject({ name: 'Taken' });
    expect(taken.name).toBe('Taken');
    await expect(createMailbox(deps, alice, 'é'.repeat(200))).resolves.toMatchObject({ name: 'é'.repeat(200) });
  });
});

describe('copy, expunge and conditional STORE (what IMAP needs)', () => {
  it('copies messages into another mailbox with new ids and UIDs, the same flags, bytes and thread', async () => {
    const a = await deliver(bob, undefined, ['\\Seen', '$Work']);
    const b = await deliver(bob);
    const archive = await mailboxOf(bob, '\\Archive');
    const result = await copyMessages(deps, bob, [b.messageId, a.messageId], { specialUse: '\\Archive' });
    expect(result.target).toEqual({ id: archive.id, uidvalidity: archive.uidvalidity });
    expect(result.copied.map((c) => c.sourceId)).toEqual([a.messageId, b.messageId]);
    expect(result.copied.map((c) => c.uid)).toEqual([archive.uidnext, archive.uidnext + 1]);
    const copyOfA = await store.db.selectFrom('messages').select(['flags', 'thread_id', 'blob_hash', 'mailbox_id']).where('id', '=', result.copied[0]!.id).executeTakeFirstOrThrow();
    const original = await store.db.selectFrom('messages').select(['flags', 'thread_id', 'blob_hash']).where('id', '=', a.messageId).executeTakeFirstOrThrow();
    expect(copyOfA).toEqual({ ...original, mailbox_id: archive.id });
    // The originals stay where they were.
    expect((await messageRow(a.messageId))!.mailbox_id).toBe(a.mailboxId);
    expect(published.filter((p) => p.event.type === 'message.new').map((p) => p.event.type === 'message.new' && p.event.messageId)).toEqual(result.copied.map((c) => c.id));
    await expectConsistent(bob);
  });

  it('refuses to copy another user\'s message, and changes nothing', async () => {
    const theirs = await deliver(alice);
    const before = await snapshot(bob);
    await expect(copyMessages(deps, bob, [theirs.messageId], { specialUse: '\\Archive' })).rejects.toMatchObject({ code: 'message.not_found' });
    expect(await snapshot(bob)).toEqual(before);
  });

  it('expunges only the \\Deleted messages of a mailbox, and only the UIDs given', async () => {
    const box = await createMailbox(deps, bob, `expunge ${seq}`);
    const [a, b, c] = [await deliver(bob, { id: box.id }, ['\\Deleted']), await deliver(bob, { id: box.id }, ['\\Deleted']), await deliver(bob, { id: box.id })];
    expect((await expungeMessages(deps, bob, box.id, [a.uid, c.uid])).map((d) => d.uid)).toEqual([a.uid]);
    expect((await expungeMessages(deps, bob, box.id)).map((d) => d.uid)).toEqual([b.uid]);
    expect(await messageRow(c.messageId)).toBeDefined();
    await expectConsistent(bob);
  });

  it('leaves messages changed since UNCHANGEDSINCE alone and reports them as conflicts', async () => {
    const a = await deliver(bob);
    const b = await deliver(bob);
    await setFlags(deps, bob, [b.messageId], { add: ['\\Flagged'] });
    const result = await setFlags(deps, bob, [a.messageId, b.messageId], { add: ['\\Seen'], unchangedSince: b.modseq });
    expect(result.map((r) => [r.id, r.changed, r.conflict ?? false])).toEqual([
      [a.messageId, true, false],
      [b.messageId, false, true],
    ]);
    expect((await messageRow(b.messageId))!.flags).toEqual(['\\Flagged']);
    await expectConsistent(bob);
  });
});

describe('writes that span users and callers\' transactions', () => {
  it('rolls back every user\'s part, and publishes nothing, when the caller\'s transaction fails', async () => {
    const before = [await snapshot(alice), await snapshot(bob)];
    const raw = Buffer.from('From: a@a.test\r\nTo: b@a.test\r\nSubject: both\r\nMessage-ID: <both@a.test>\r\n\r\nhi\r\n');
    const summary = await summarizeMessage(raw);
    await expect(
      store.db.transaction().execute(async (tx) => {
        const write = await openMailboxWrite(tx, [bob, alice]);
        await write.append(alice, [{ mailbox: { specialUse: '\\Sent' }, content: { raw }, summary }]);
        await write.append(bob, [{ mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary }]);
        await write.finish();
        throw new Error('the caller failed after the writes');
      }),
    ).rejects.toThrow(/caller failed/);
    expect([await snapshot(alice), await snapshot(bob)]).toEqual(before);
    expect(published).toEqual([]);
  });

  it('publishes each user\'s events in modseq order; a failed publish for one user stops neither the rest nor the others', async () => {
    const seen: Array<{ userId: number; event: UserEvent }> = [];
    const failing: EventPublisher = {
      async publish(userId, event) {
        if (userId === bob && event.type === 'message.new' && !seen.some((s) => s.userId === bob)) {
          seen.push({ userId, event });
          throw new Error('redis is down for bob');
        }
        seen.push({ userId, event });
      },
    };
    const raws = [1, 2, 3].map((i) => Buffer.from(`From: p@remote.test\r\nSubject: pub ${i}\r\nMessage-ID: <pub${i}@remote.test>\r\n\r\nhi\r\n`));
    const inputs = await Promise.all(
      [alice, bob, alice, bob].map(async (userId, i) => ({ userId, mailbox: { specialUse: '\\Inbox' as const }, content: { raw: raws[i % 3]! }, summary: await summarizeMessage(raws[i % 3]!) })),
    );
    const results = await ingestMany({ ...deps, events: failing }, inputs);
    const mine = (userId: number) => seen.filter((s) => s.userId === userId).map((s) => s.event);
    // Alice: her two message.new in modseq order, then her Inbox counts.
    expect(mine(alice).map((e) => e.type)).toEqual(['message.new', 'message.new', 'mailbox.counts']);
    expect(mine(alice).flatMap((e) => ('modseq' in e ? [e.modseq] : []))).toEqual([results[0]!.modseq, results[2]!.modseq]);
    // Bob: his first publish failed; the rest were sent all the same (a subscriber that missed one
    // reads the change log, which has them all).
    expect(mine(bob).map((e) => e.type)).toEqual(['message.new', 'message.new', 'mailbox.counts']);
    expect(await store.db.selectFrom('changes').select('modseq').where('user_id', '=', bob).where('modseq', '>=', results[1]!.modseq).execute()).toHaveLength(2);
  });

  it('refuses a write for a user it did not lock', async () => {
    await expect(writeMailboxes(deps, [alice], (w) => w.copy(bob, [1], { specialUse: '\\Archive' }))).rejects.toThrow(/not locked/);
  });

  it('threads a reply filed in the same batch as its parent into the parent\'s conversation', async () => {
    const parent = Buffer.from('From: x@remote.test\r\nSubject: plan\r\nMessage-ID: <p@batch.test>\r\n\r\nfirst\r\n');
    const reply = Buffer.from('From: y@remote.test\r\nSubject: Re: plan\r\nMessage-ID: <r@batch.test>\r\nIn-Reply-To: <p@batch.test>\r\n\r\nsecond\r\n');
    const other = Buffer.from('From: z@remote.test\r\nSubject: other\r\nMessage-ID: <o@batch.test>\r\n\r\nthird\r\n');
    const inputs = await Promise.all([parent, reply, other].map(async (raw) => ({ userId: bob, mailbox: { specialUse: '\\Inbox' as const }, content: { raw }, summary: await summarizeMessage(raw) })));
    const [p, r, o] = await ingestForUser(deps, bob, inputs);
    expect(r!.threadId).toBe(p!.threadId);
    expect(o!.threadId).not.toBe(p!.threadId);
    const mapped = await store.db.selectFrom('thread_keys').select(['message_id_ref', 'thread_id']).where('user_id', '=', bob).where('message_id_ref', 'like', '%@batch.test>').orderBy('message_id_ref').execute();
    expect(mapped).toEqual([
      { message_id_ref: '<o@batch.test>', thread_id: o!.threadId },
      { message_id_ref: '<p@batch.test>', thread_id: p!.threadId },
      { message_id_ref: '<r@batch.test>', thread_id: p!.threadId },
    ]);
  });
});
