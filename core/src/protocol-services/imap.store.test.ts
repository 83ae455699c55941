import { randomInt } from 'node:crypto';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { allocateRedisUrl } from '../../../tests/helpers/redis.js';
import { countingDb, createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { createRateLimiter } from '../auth/rate-limit.js';
import { createRedisEventPublisher } from '../events/publisher.js';
import { createUserEventHub, type UserEventHub } from '../events/user-event-hub.js';
import { createSubscriberRedis } from '../queue/redis.js';
import { silentLogger } from '../log/logger.js';
import { ingestMessage } from '../mail/mailbox-writer/index.js';
import { summarizeMessage } from '../mail/parse.js';
import { createImapServices, type ImapAppendInput, type ImapServices } from './imap.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';
import { eventually } from '../../../tests/helpers/services.js';
import { KeyedBatcher } from '../util/keyed-batcher.js';
import { createImapRepository } from '../repositories/imap.repository.js';

/** core's IMAP services on the real store, Redis publisher and event hub. */

let store: TestStore;
let redis: Redis;
let redisUrl: string;
let flushRedis: () => Promise<void>;
let hub: UserEventHub;
let services: ImapServices;
let alice: number;
let bob: number;
const log = silentLogger();

const raw = (n: number, subject = `Report ${n}`) => Buffer.from([`From: Carol <carol@c.test>`, 'To: alice@imap.test', `Subject: ${subject}`, `Message-ID: <r${n}@c.test>`, 'Date: Mon, 23 Nov 2026 09:00:00 +0000', '', `Quarterly numbers ${n}`, ''].join('\r\n'));

beforeAll(async () => {
  store = await createTestStore();
  // Redis pub/sub ignores the database index: user ids unique to this file on the shared Redis.
  await sql`ALTER SEQUENCE users_id_seq RESTART WITH ${sql.lit(randomInt(1_000_000, 2 ** 40))}`.execute(store.db);
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('imap.test');
  alice = (await accounts.addUser({ address: 'alice@imap.test', password: 'alice password' })).id;
  bob = (await accounts.addUser({ address: 'bob@imap.test', password: 'bob password' })).id;
  ({ url: redisUrl, flush: flushRedis } = await allocateRedisUrl());
  redis = new Redis(redisUrl);
  hub = createUserEventHub({ createSubscriber: () => createSubscriberRedis(redisUrl), log });
  services = createImapServices({ db: store.db, events: createRedisEventPublisher(redis), limiter: createRateLimiter(redis), hub, log });
});

afterAll(async () => {
  hub?.close();
  await flushRedis?.();
  redis?.disconnect();
  await store?.drop();
});

async function inbox(userId: number) {
  return (await services.mailboxes.find(userId, 'inbox'))!;
}

/** One APPEND: the service takes a list (MULTIAPPEND); this gives back the one result. */
async function appendOne(userId: number, mailboxId: number, input: ImapAppendInput): Promise<{ uid: number; uidvalidity: number; duplicate: boolean }> {
  const { uidvalidity, appended } = await services.messages.append(userId, mailboxId, [input]);
  return { uidvalidity, ...appended[0]! };
}

/**
 * APPENDs of new users (one a name), one session each, arriving while the first user's write
 * waits for that user's row lock (held by the test): the others queue for the next group commit.
 * Each APPEND after the first has two messages (MULTIAPPEND). Counts the writer transactions.
 */
async function concurrentAppends(names: string[], quotaBytes: Map<string, number> = new Map()) {
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  const users: Array<{ id: number; inbox: number }> = [];
  for (const name of names) {
    const id = (await accounts.addUser({ address: `${name}@imap.test`, password: `${name} password` })).id;
    if (quotaBytes.has(name)) await store.db.updateTable('users').set({ quota_bytes: quotaBytes.get(name)! }).where('id', '=', id).execute();
    users.push({ id, inbox: (await inbox(id)).id });
  }
  let transactions = 0;
  const db = new Proxy(store.db, {
    get(target, key) {
      if (key === 'transaction') transactions++;
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const counted = createImapServices({ db, events: createRedisEventPublisher(redis), limiter: createRateLimiter(redis), hub, log });
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const holder = store.db.transaction().execute(async (tx) => {
    await tx.selectFrom('users').select('id').where('id', '=', users[0]!.id).forUpdate().execute();
    locked();
    await released;
  });
  const adds = vi.spyOn(KeyedBatcher.prototype, 'add');
  try {
    await isLocked;
    const first = counted.messages.append(users[0]!.id, users[0]!.inbox, [{ raw: raw(300), flags: [] }]);
    await eventually(async () => adds.mock.calls.length === 1, { timeoutMs: 10_000, intervalMs: 5 });
    const others = users.slice(1).map((u, n) => counted.messages.append(u.id, u.inbox, [{ raw: raw(301 + n), flags: [] }, { raw: raw(321 + n), flags: ['\\Seen'] }]));
    await eventually(async () => adds.mock.calls.length === users.length, { timeoutMs: 10_000, intervalMs: 5, describe: () => `${adds.mock.calls.length} of ${users.length} APPENDs queued` });
    release();
    await holder;
    const results = await Promise.allSettled([first, ...others]);
    return { users, results, transactions };
  } finally {
    release();
    adds.mockRestore();
    await holder;
  }
}

describe('IMAP services on the real store', () => {
  it('signs in through authenticateClient on the imap channel', async () => {
    expect(await services.auth.authenticate({ username: 'alice@imap.test', password: 'alice password', ip: '192.0.2.1' })).toMatchObject({ kind: 'ok', user: { userId: alice } });
    expect(await services.auth.authenticate({ username: 'alice@imap.test', password: 'wrong', ip: '192.0.2.1' })).toEqual({ kind: 'invalid' });
  });

  it('appends, lists by UID, loads bytes, sets flags and searches text, scoped to the user', async () => {
    const box = await inbox(alice);
    const first = await appendOne(alice, box.id, { raw: raw(1), flags: ['\\Seen'], internalDate: new Date('2026-11-24T09:00:00Z') });
    const second = await appendOne(alice, box.id, { raw: raw(2, 'Holiday plans'), flags: [] });
    expect([first.uid, second.uid]).toEqual([1, 2]);
    expect(first.uidvalidity).toBe(box.uidvalidity);
    const rows = await services.messages.list(alice, box.id);
    expect(rows.map((r) => [r.uid, r.flags])).toEqual([
      [1, ['\\Seen']],
      [2, []],
    ]);
    expect(rows[0]!.internalDate.toISOString()).toBe('2026-11-24T09:00:00.000Z');
    expect((await services.messages.list(alice, box.id, 1)).map((r) => r.uid)).toEqual([2]);
    expect(await services.messages.content(alice, rows[1]!.id)).toEqual(raw(2, 'Holiday plans'));
    await expect(services.messages.content(bob, rows[1]!.id)).rejects.toMatchObject({ code: 'message.not_found' });
    // Several at once, as FETCH of a range loads them: the same bytes, only the owner's, unknown ids absent.
    const many = await services.messages.contents(alice, [rows[0]!.id, rows[1]!.id, 999_999_999]);
    expect([...many.keys()].sort()).toEqual([rows[0]!.id, rows[1]!.id].sort());
    expect(many.get(rows[1]!.id)).toEqual(await services.messages.content(alice, rows[1]!.id));
    expect((await services.messages.contents(bob, [rows[0]!.id, rows[1]!.id])).size).toBe(0);
    expect(await services.messages.list(bob, box.id)).toEqual([]);

    const flagged = await services.messages.setFlags(alice, [rows[1]!.id], { add: ['\\Flagged'] });
    expect(flagged[0]).toMatchObject({ uid: 2, flags: ['\\Flagged'], changed: true });
    expect(await services.messages.searchText(alice, box.id, 'subject', 'holiday')).toEqual([2]);
    expect(await services.messages.searchText(alice, box.id, 'body', 'quarterly numbers')).toEqual([1, 2]);
    expect(await services.messages.searchText(alice, box.id, 'text', '100%_')).toEqual([]);
    expect(await services.messages.searchText(bob, box.id, 'subject', 'holiday')).toEqual([]);
    const status = await inbox(alice);
    expect([status.messages, status.unseen, status.uidnext]).toEqual([2, 1, 3]);
  });

  it('remembers a text search up to the UID the session knows, and later reads only the messages that arrived since', async () => {
    const erin = (await createAccountsService({ db: store.db, secrets: testSecrets }).addUser({ address: 'searcher@imap.test', password: 'searcher password' })).id;
    const box = await inbox(erin);
    for (const n of [401, 402]) await appendOne(erin, box.id, { raw: raw(n), flags: [] });
    expect(await services.messages.searchText(erin, box.id, 'from', 'CAROL@c.test', 2)).toEqual([1, 2]);
    // What a UID names never changes in the product; changing it here shows which rows a search reads.
    await sql`UPDATE messages SET from_text = 'someone else' WHERE user_id = ${erin} AND uid = 1`.execute(store.db);
    await appendOne(erin, box.id, { raw: raw(403), flags: [] });
    expect(await services.messages.searchText(erin, box.id, 'from', 'CAROL@c.test', 3)).toEqual([1, 2, 3]);
    expect(await services.messages.searchText(erin, box.id, 'from', 'CAROL@c.test', 2)).toEqual([1, 2]);
    // Without a UID to go up to, the store is read as it is; another field or text is its own search.
    expect(await services.messages.searchText(erin, box.id, 'from', 'CAROL@c.test')).toEqual([2, 3]);
    expect(await services.messages.searchText(erin, box.id, 'from', 'carol@c.test', 3)).toEqual([2, 3]);
    expect(await services.messages.searchText(erin, box.id, 'to', 'alice@imap.test', 1)).toEqual([1]);
    // Another user's mailbox id is another search, scoped to that user.
    expect(await services.messages.searchText(bob, box.id, 'from', 'CAROL@c.test', 3)).toEqual([]);
  });

  it('lists a mailbox and claims its \\Recent messages in one statement, for one session each, never moving the claim down', async () => {
    const dave = (await createAccountsService({ db: store.db, secrets: testSecrets }).addUser({ address: 'dave@imap.test', password: 'dave password' })).id;
    const counting = countingDb(store.db);
    const countingServices = createImapServices({ db: counting.db, events: createRedisEventPublisher(redis), limiter: createRateLimiter(redis), hub, log });
    const box = await inbox(dave);
    const a = await appendOne(dave, box.id, { raw: raw(301), flags: [] });
    const b = await appendOne(dave, box.id, { raw: raw(302), flags: ['\\Seen'] });
    counting.reset();
    const first = await countingServices.messages.listClaimingRecent(dave, box.id);
    expect(counting.count()).toBe(1);
    expect(first.rows.map((r) => [r.uid, r.flags])).toEqual([
      [a.uid, []],
      [b.uid, ['\\Seen']],
    ]);
    expect(first.firstRecent).toBeLessThanOrEqual(a.uid);
    // Another session finds them claimed, and the row is not written when there is nothing to claim.
    const version = async () => (await sql<{ v: string }>`SELECT xmin::text AS v FROM mailboxes WHERE id = ${box.id}`.execute(store.db)).rows[0]!.v;
    const before = await version();
    expect((await services.messages.listClaimingRecent(dave, box.id)).firstRecent).toBe(b.uid + 1);
    expect(await version()).toBe(before);
    // A new message is recent for the session that lists it first; listing from the start does not move the claim down.
    const c = await appendOne(dave, box.id, { raw: raw(303), flags: [] });
    const next = await services.messages.listClaimingRecent(dave, box.id, b.uid);
    expect({ uids: next.rows.map((r) => r.uid), firstRecent: next.firstRecent }).toEqual({ uids: [c.uid], firstRecent: b.uid + 1 });
    expect((await services.messages.listClaimingRecent(dave, box.id, 0)).firstRecent).toBe(c.uid + 1);
    expect(await services.messages.recent(dave, box.id)).toEqual({ firstUid: c.uid + 1, count: 0 });
    // Not the user's mailbox: nothing, and nothing claimed.
    expect(await services.messages.listClaimingRecent(bob, box.id)).toEqual({ rows: [], firstRecent: null });
  });

  it('answers the existing UID when a message with the same Message-ID is appended to Sent', async () => {
    const sent = (await services.mailboxes.list(alice)).find((m) => m.specialUse === '\\Sent')!;
    const once = await appendOne(alice, sent.id, { raw: raw(50), flags: ['\\Seen'] });
    const again = await appendOne(alice, sent.id, { raw: raw(50), flags: ['\\Seen'] });
    expect(again).toEqual({ uidvalidity: once.uidvalidity, uid: once.uid, duplicate: true }); // no row: nothing was written
    expect(await services.messages.list(alice, sent.id)).toHaveLength(1);
    // Elsewhere than Sent, a copy is a copy.
    const drafts = (await services.mailboxes.list(alice)).find((m) => m.specialUse === '\\Drafts')!;
    await appendOne(alice, drafts.id, { raw: raw(50), flags: [] });
    expect((await appendOne(alice, drafts.id, { raw: raw(50), flags: [] })).duplicate).toBe(false);
  });

  it('writes an APPEND given the mailbox as read in four statements: the lock, the counters, the thread lookup with new ids, and one insert of the row with its blob, thread key, search queue entry and change-log entry', async () => {
    const box = await inbox(alice);
    const counting = countingDb(store.db);
    const counted = createImapServices({ db: counting.db, events: createRedisEventPublisher(redis), limiter: createRateLimiter(redis), hub, log });
    const { appended } = await counted.messages.append(alice, box, [{ raw: raw(61, 'Four statements'), flags: [] }]);
    expect(counting.count()).toBe(4);
    const row = await store.db.selectFrom('messages').select(['id', 'blob_hash', 'thread_id', 'modseq']).where('user_id', '=', alice).where('mailbox_id', '=', box.id).where('uid', '=', appended[0]!.uid).executeTakeFirstOrThrow();
    expect(await store.db.selectFrom('blobs').select('size').where('hash', '=', row.blob_hash).executeTakeFirst()).toEqual({ size: raw(61, 'Four statements').length });
    expect(await store.db.selectFrom('thread_keys').select('thread_id').where('user_id', '=', alice).where('message_id_ref', '=', '<r61@c.test>').executeTakeFirst()).toEqual({ thread_id: row.thread_id });
    expect(await store.db.selectFrom('search_pending').select('user_id').where('message_id', '=', row.id).executeTakeFirst()).toEqual({ user_id: alice });
    expect(await store.db.selectFrom('changes').select(['kind', 'mailbox_id', 'message_id', 'uid', 'payload']).where('user_id', '=', alice).where('modseq', '=', row.modseq).execute()).toEqual([
      { kind: 'message.new', mailbox_id: box.id, message_id: row.id, uid: appended[0]!.uid, payload: { threadId: row.thread_id } },
    ]);
    // A reply joins that conversation (its Message-ID is mapped); a mailbox given by id costs its lookup.
    counting.reset();
    const reply = Buffer.from(raw(62, 'Re: Four statements').toString().replace('Message-ID: <r62@c.test>', 'Message-ID: <r62@c.test>\r\nIn-Reply-To: <r61@c.test>'));
    const [again] = (await counted.messages.append(alice, box.id, [{ raw: reply, flags: [] }])).appended;
    expect(counting.count()).toBe(5);
    expect(await store.db.selectFrom('messages').select('thread_id').where('user_id', '=', alice).where('mailbox_id', '=', box.id).where('uid', '=', again!.uid).executeTakeFirst()).toEqual({ thread_id: row.thread_id });
  });

  it('reads a mailbox for SELECT in one statement, then from a view only what changed, from the change log: UIDs gone, rows new or changed', async () => {
    const selma = (await createAccountsService({ db: store.db, secrets: testSecrets }).addUser({ address: 'selma@imap.test', password: 'selma password' })).id;
    const counting = countingDb(store.db);
    const countingServices = createImapServices({ db: counting.db, events: createRedisEventPublisher(redis), limiter: createRateLimiter(redis), hub, log });
    const box = await inbox(selma);
    const archive = (await services.mailboxes.find(selma, 'Archive'))!;
    const added = [];
    for (const n of [401, 402, 403, 404]) added.push(await appendOne(selma, box.id, { raw: raw(n), flags: [] }));
    counting.reset();
    const first = await countingServices.messages.sync(selma, box.id, { claimRecent: true });
    expect(counting.count()).toBe(1);
    expect({ uids: first.rows.map((r) => r.uid), gone: first.gone, total: first.total, firstRecent: first.firstRecent }).toEqual({ uids: added.map((a) => a.uid), gone: null, total: 4, firstRecent: added[0]!.uid });
    expect(first.modseq).toBe(Math.max(...first.rows.map((r) => r.modseq)));
    const since = { lastUid: added[3]!.uid, modseq: first.modseq };
    // Elsewhere: a flag, an expunge, a move out, a new message, and a flag in another folder.
    const [one, two, three] = first.rows;
    await services.messages.setFlags(selma, [two!.id], { add: ['\\Flagged'] });
    await services.messages.setFlags(selma, [one!.id], { add: ['\\Deleted'] });
    await services.messages.expunge(selma, box.id);
    await services.messages.move(selma, [three!.id], archive.id);
    await services.messages.setFlags(selma, [three!.id], { add: ['\\Seen'] });
    const fifth = await appendOne(selma, box.id, { raw: raw(405), flags: ['\\Seen'] });
    counting.reset();
    const next = await countingServices.messages.sync(selma, box.id, { since, claimRecent: true });
    expect(counting.count()).toBe(1);
    expect({ gone: next.gone, total: next.total }).toEqual({ gone: [one!.uid, three!.uid], total: 3 });
    expect(next.rows.map((r) => [r.uid, r.flags])).toEqual([
      [added[1]!.uid, ['\\Flagged']],
      [fifth.uid, ['\\Seen']],
    ]);
    expect(next.modseq).toBe(next.rows.at(-1)!.modseq);
    // The earlier read claimed up to the fourth; the new one is recent for this session, and claimed.
    expect(next.firstRecent).toBe(added[3]!.uid + 1);
    expect((await services.messages.recent(selma, box.id)).firstUid).toBe(fifth.uid + 1);
    // Nothing changed: no rows; EXAMINE (no claim) reads \Recent as it is.
    const quiet = await services.messages.sync(selma, box.id, { since: { lastUid: fifth.uid, modseq: next.modseq }, claimRecent: false });
    expect(quiet).toEqual({ rows: [], gone: [], total: 3, modseq: next.modseq, firstRecent: fifth.uid + 1 });
    // More changes than the refresh reads: it cannot say what left.
    const capped = await createImapRepository(store.db).refreshView(selma, box.id, { afterUid: since.lastUid, changedSince: since.modseq, claimRecent: false, maxChanges: 3 });
    expect(capped.gone).toBeNull();
    // Not the user's mailbox: nothing.
    expect(await services.messages.sync(bob, box.id, { since, claimRecent: true })).toMatchObject({ rows: [], gone: [], total: 0, firstRecent: null });
  });

  it('refreshes a view by reading the rows of what changed, not every row of the mailbox, with the plan a prepared statement settles on', async () => {
    const rita = (await createAccountsService({ db: store.db, secrets: testSecrets }).addUser({ address: 'rita@imap.test', password: 'rita password' })).id;
    const box = await inbox(rita);
    for (let n = 0; n < 40; n++) await appendOne(rita, box.id, { raw: raw(600 + n), flags: [] });
    const view = await services.messages.sync(rita, box.id, { claimRecent: false });
    await services.messages.setFlags(rita, [view.rows[7]!.id], { add: ['\\Flagged'] });
    // Other users' mail around hers (60 users with a copy of her mailbox each), as on a server with many users:
    // with few rows per user expected, a generic plan may well read her whole mailbox.
    await sql`WITH u AS (INSERT INTO users (domain_id, address, password_hash)
                 SELECT domain_id, 'n' || g || '.' || address, password_hash FROM users, generate_series(1, 60) g WHERE id = ${rita} RETURNING id),
               b AS (INSERT INTO mailboxes (user_id, name, uidvalidity) SELECT id, 'INBOX', 1 FROM u RETURNING id, user_id)
      INSERT INTO messages (user_id, mailbox_id, uid, modseq, flags, internal_date, size, blob_hash, thread_id, subject, from_text, body_text)
      SELECT b.user_id, b.id, m.uid, 1, m.flags, m.internal_date, m.size, m.blob_hash, m.thread_id, m.subject, m.from_text, m.body_text
      FROM b, messages m WHERE m.mailbox_id = ${box.id}`.execute(store.db);
    await sql`ANALYZE messages`.execute(store.db);
    await store.db.transaction().execute(async (tx) => {
      // After five runs a prepared statement may keep a generic plan (no values known): that is the plan to test.
      await sql`SET LOCAL plan_cache_mode = force_generic_plan`.execute(tx);
      // Index entries read and heap rows fetched, per index of `messages` and by sequential scans, in this backend.
      const reads = async () =>
        (
          await sql<{ name: string; n: string }>`SELECT c.relname AS name, (pg_stat_get_xact_tuples_returned(c.oid) + pg_stat_get_xact_tuples_fetched(c.oid))::text AS n
            FROM pg_class c WHERE c.oid = 'messages'::regclass OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'messages'::regclass)`.execute(tx)
        ).rows;
      const before = new Map((await reads()).map((r) => [r.name, Number(r.n)]));
      const refreshed = await createImapRepository(tx).refreshView(rita, box.id, { afterUid: view.rows.at(-1)!.uid, changedSince: view.modseq, claimRecent: false, maxChanges: 2000 });
      expect(refreshed.rows.map((r) => [r.uid, r.flags])).toEqual([[view.rows[7]!.uid, ['\\Flagged']]]);
      const read = (await reads()).map((r) => ({ name: r.name, n: Number(r.n) - before.get(r.name)! })).filter((r) => r.n !== 0);
      // The changed message by its primary key (an entry and a row); not the 40 rows of her mailbox.
      expect(read.reduce((sum, r) => sum + r.n, 0), JSON.stringify(read)).toBeLessThanOrEqual(4);
    });
  });

  it('neither locks nor writes the mailbox row for a SELECT with nothing to claim as \\Recent', async () => {
    const fred = (await createAccountsService({ db: store.db, secrets: testSecrets }).addUser({ address: 'fred@imap.test', password: 'fred password' })).id;
    const box = await inbox(fred);
    await appendOne(fred, box.id, { raw: raw(501), flags: [] });
    await services.messages.sync(fred, box.id, { claimRecent: true });
    // xmin changes when the row is written, xmax when it is locked (FOR UPDATE): neither may.
    const version = async () => (await sql<{ v: string }>`SELECT xmin::text || '/' || xmax::text AS v FROM mailboxes WHERE id = ${box.id}`.execute(store.db)).rows[0]!.v;
    const before = await version();
    await services.messages.sync(fred, box.id, { claimRecent: true });
    await services.messages.listClaimingRecent(fred, box.id);
    expect(await version()).toBe(before);
  });

  it('creates, renames and deletes folders through the writer, and copies, moves and expunges', async () => {
    await services.mailboxes.create(alice, 'Projects/2026');
    await expect(services.mailboxes.create(alice, 'Projects/2026')).rejects.toMatchObject({ code: 'mailbox.exists' });
    const folder = (await services.mailboxes.find(alice, 'Projects/2026'))!;
    await services.mailboxes.rename(alice, folder.id, 'Projects/2027');
    expect(await services.mailboxes.find(alice, 'Projects/2027')).toMatchObject({ id: folder.id });
    await expect(services.mailboxes.rename(alice, (await inbox(alice)).id, 'X')).rejects.toMatchObject({ code: 'mailbox.protected' });

    const box = await inbox(alice);
    const rows = await services.messages.list(alice, box.id);
    const copied = await services.messages.copy(alice, [rows[0]!.id], folder.id);
    expect(copied.copied.map((c) => [c.sourceUid, c.uid])).toEqual([[1, 1]]);
    const moved = await services.messages.move(alice, [rows[1]!.id], folder.id);
    expect(moved.moved.map((m) => [m.fromUid, m.uid])).toEqual([[2, 2]]);
    await services.messages.setFlags(alice, [copied.copied[0]!.id], { add: ['\\Deleted'] });
    expect((await services.messages.expunge(alice, folder.id)).map((d) => d.uid)).toEqual([1]);
    expect((await services.messages.list(alice, folder.id)).map((r) => r.uid)).toEqual([2]);
    await services.mailboxes.remove(alice, folder.id);
    expect(await services.mailboxes.find(alice, 'Projects/2027')).toBeNull();
  });

  it('renames a folder with its subfolders in one write, and keeps subscriptions by name', async () => {
    const defaults = await services.mailboxes.subscriptions(bob);
    expect(defaults).toEqual(expect.arrayContaining(['INBOX', 'Sent', 'Trash']));
    for (const name of ['Clients', 'Clients/Acme', 'Clients/Acme/2026', 'Clientsville']) await services.mailboxes.create(bob, name);
    // CREATE leaves subscribing to the IMAP client.
    expect(await services.mailboxes.subscriptions(bob)).toEqual(defaults);
    await services.mailboxes.subscribe(bob, 'Clients/Acme');
    const clients = (await services.mailboxes.find(bob, 'Clients'))!;
    await services.mailboxes.rename(bob, clients.id, 'Customers');
    const names = (await services.mailboxes.list(bob)).map((m) => m.name);
    expect(names).toEqual(expect.arrayContaining(['Customers', 'Customers/Acme', 'Customers/Acme/2026', 'Clientsville']));
    expect(names.filter((n) => n.startsWith('Clients/'))).toEqual([]);
    expect(await services.mailboxes.subscriptions(bob)).toContain('Customers/Acme');
    expect(await services.mailboxes.subscriptions(bob)).not.toContain('Clients/Acme');
    // Into its own subfolder, or onto a name in use: refused, nothing renamed.
    const customers = (await services.mailboxes.find(bob, 'Customers'))!;
    await expect(services.mailboxes.rename(bob, customers.id, 'Customers/Acme/Inner')).rejects.toMatchObject({ code: 'mailbox.name_invalid' });
    await expect(services.mailboxes.rename(bob, customers.id, 'Clientsville')).rejects.toMatchObject({ code: 'mailbox.exists' });
    expect((await services.mailboxes.find(bob, 'Customers/Acme/2026'))?.name).toBe('Customers/Acme/2026');
    expect(await services.mailboxes.unsubscribe(bob, 'Customers/Acme')).toBe(true);
    expect(await services.mailboxes.subscriptions(alice)).not.toContain('Customers/Acme');
  });

  it('moves a message into its own mailbox under a new UID, flags kept (RFC 6851)', async () => {
    const box = await inbox(bob);
    const added = await appendOne(bob, box.id, { raw: raw(81), flags: ['\\Flagged'] });
    const [row] = await services.messages.list(bob, box.id, added.uid - 1);
    const result = await services.messages.move(bob, [row!.id], box.id);
    expect(result.unchanged).toEqual([]);
    expect(result.moved).toEqual([expect.objectContaining({ fromUid: added.uid, mailboxId: box.id, flags: ['\\Flagged'] })]);
    const after = await services.messages.list(bob, box.id, added.uid - 1);
    expect(after.map((r) => [r.uid, r.flags])).toEqual([[result.moved[0]!.uid, ['\\Flagged']]]);
    expect(result.moved[0]!.uid).toBeGreaterThan(added.uid);
    expect((await inbox(bob)).messages).toBe(box.messages + 1);
  });

  it('answers each APPENDed message with its row exactly as the store lists it (the session shows its own APPEND without reading it back)', async () => {
    const box = await inbox(alice);
    const { appended } = await services.messages.append(alice, box.id, [
      { raw: raw(71), flags: ['\\Flagged', 'Work', '\\Flagged'], internalDate: new Date('2026-12-01T10:20:30.456Z'), internalDateZone: 90 },
      { raw: Buffer.from('Subject: no date\r\n\r\nbody\r\n'), flags: [] },
    ]);
    const listed = await services.messages.list(alice, box.id, appended[0]!.uid - 1);
    expect(appended.map((a) => a.row)).toEqual(listed);
    expect(listed[0]).toMatchObject({ flags: ['\\Flagged', 'Work'], internalDateZone: 90, sentDate: new Date('2026-11-23T09:00:00Z') });
    expect(listed[1]!.sentDate).toBeNull();
  });

  it('keeps the zone an APPEND gave its date in, through a SELECT, a refresh and a COPY', async () => {
    const zoe = (await createAccountsService({ db: store.db, secrets: testSecrets }).addUser({ address: 'zoe@imap.test', password: 'zoe password' })).id;
    const box = await inbox(zoe);
    const archive = (await services.mailboxes.find(zoe, 'Archive'))!;
    const view = await services.messages.sync(zoe, box.id, { claimRecent: false });
    const added = await appendOne(zoe, box.id, { raw: raw(91), flags: [], internalDate: new Date('2026-12-02T04:30:00Z'), internalDateZone: -300 });
    const [row] = await services.messages.list(zoe, box.id, added.uid - 1);
    expect(row).toMatchObject({ internalDate: new Date('2026-12-02T04:30:00Z'), internalDateZone: -300 });
    const refreshed = await services.messages.sync(zoe, box.id, { since: { lastUid: view.rows.at(-1)?.uid ?? 0, modseq: view.modseq }, claimRecent: false });
    expect(refreshed.rows.find((r) => r.uid === added.uid)?.internalDateZone).toBe(-300);
    const copied = await services.messages.copy(zoe, [row!.id], archive.id);
    const [copy] = await services.messages.list(zoe, archive.id, copied.copied[0]!.uid - 1);
    expect(copy).toMatchObject({ internalDate: new Date('2026-12-02T04:30:00Z'), internalDateZone: -300 });
    // No date given (or mail received here): the zone is UTC.
    expect((await appendOne(zoe, box.id, { raw: raw(92), flags: [] })).uid).toBeGreaterThan(added.uid);
    expect((await services.messages.list(zoe, box.id, added.uid)).map((r) => r.internalDateZone)).toEqual([0]);
  });

  it('names the UIDs that left a mailbox since a modseq from the change log (QRESYNC)', async () => {
    const box = await inbox(bob);
    const first = await appendOne(bob, box.id, { raw: raw(71), flags: [] });
    const second = await appendOne(bob, box.id, { raw: raw(72), flags: [] });
    const since = (await inbox(bob)).highestmodseq;
    const rows = await services.messages.list(bob, box.id, second.uid - 1);
    const archive = (await services.mailboxes.find(bob, 'Archive'))!;
    await services.messages.move(bob, [(await services.messages.list(bob, box.id, first.uid - 1))[0]!.id], archive.id);
    await services.messages.setFlags(bob, [rows[0]!.id], { add: ['\\Deleted'] });
    await services.messages.expunge(bob, box.id, [second.uid]);
    expect((await services.changes.vanishedSince(bob, box.id, since))?.sort((a, b) => a - b)).toEqual([first.uid, second.uid]);
    expect(await services.changes.vanishedSince(bob, archive.id, since)).toEqual([]);
    expect(await services.changes.vanishedSince(bob, box.id, (await inbox(bob)).highestmodseq)).toEqual([]);
    expect(await services.changes.vanishedSince(alice, box.id, since)).toEqual([]);
  });

  it('appends several messages in one transaction (MULTIAPPEND): consecutive UIDs, or none when they do not all fit', async () => {
    const box = (await services.mailboxes.list(bob)).find((m) => m.specialUse === '\\Drafts')!;
    const { uidvalidity, appended } = await services.messages.append(bob, box.id, [
      { raw: raw(91), flags: [] },
      { raw: raw(92), flags: ['\\Seen'] },
      { raw: raw(93), flags: [] },
    ]);
    expect(uidvalidity).toBe(box.uidvalidity);
    expect(appended.map((a) => a.uid)).toEqual([box.uidnext, box.uidnext + 1, box.uidnext + 2]);
    const used = (await store.db.selectFrom('users').select('used_bytes').where('id', '=', bob).executeTakeFirstOrThrow()).used_bytes;
    await store.db.updateTable('users').set({ quota_bytes: Number(used) + raw(94).length + 10 }).where('id', '=', bob).execute();
    try {
      await expect(services.messages.append(bob, box.id, [{ raw: raw(94), flags: [] }, { raw: raw(95), flags: [] }])).rejects.toMatchObject({ code: 'quota.exceeded' });
      expect((await services.messages.list(bob, box.id)).map((r) => r.uid)).toEqual(appended.map((a) => a.uid));
    } finally {
      await store.db.updateTable('users').set({ quota_bytes: null }).where('id', '=', bob).execute();
    }
  });

  it('writes the APPENDs of concurrent sessions in one transaction, each with its own UIDs', async () => {
    const { users, results, transactions } = await concurrentAppends(['dan', 'erin', 'fay', 'gus']);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value.appended.map((a) => a.uid) : r.reason))).toEqual([[1], [1, 2], [1, 2], [1, 2]]);
    // The first alone (it was waiting for its lock), then the three that queued meanwhile together.
    expect(transactions).toBe(2);
    for (const u of users.slice(1)) expect((await services.messages.list(u.id, u.inbox)).map((r) => [r.uid, r.flags])).toEqual([[1, []], [2, ['\\Seen']]]);
  });

  it('refuses only the APPEND that does not fit in its quota when concurrent APPENDs are written together', async () => {
    const { users, results } = await concurrentAppends(['hal', 'ida', 'joe', 'kim'], new Map([['joe', 10]]));
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value.appended.map((a) => a.uid) : (r.reason as { code: string }).code))).toEqual([[1], [1, 2], 'quota.exceeded', [1, 2]]);
    expect(await services.messages.list(users[2]!.id, users[2]!.inbox)).toEqual([]);
    expect((await services.messages.list(users[3]!.id, users[3]!.inbox)).map((r) => r.uid)).toEqual([1, 2]);
  });

  it('writes a large APPEND at once, not behind the small ones waiting for the group commit', async () => {
    const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
    const [lea, max] = await Promise.all(['lea', 'max'].map(async (name) => (await accounts.addUser({ address: `${name}@imap.test`, password: `${name} password` })).id));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = store.db.transaction().execute(async (tx) => {
      await tx.selectFrom('users').select('id').where('id', '=', lea!).forUpdate().execute();
      locked();
      await released;
    });
    const adds = vi.spyOn(KeyedBatcher.prototype, 'add');
    try {
      await isLocked;
      const small = services.messages.append(lea!, (await inbox(lea!)).id, [{ raw: raw(400), flags: [] }]);
      await eventually(async () => adds.mock.calls.length === 1, { timeoutMs: 10_000, intervalMs: 5 });
      const big = Buffer.concat([raw(401), Buffer.from(`${'x'.repeat(76)}\r\n`.repeat(1000))]);
      // Written while the small one still waits for its user's lock (it would wait behind it if batched).
      expect((await services.messages.append(max!, (await inbox(max!)).id, [{ raw: big, flags: [] }])).appended).toMatchObject([{ uid: 1, duplicate: false }]);
      release();
      expect((await small).appended).toMatchObject([{ uid: 1, duplicate: false }]);
    } finally {
      release();
      adds.mockRestore();
      await holder;
    }
  });

  it('feeds the user\'s changes live, wherever they come from', async () => {
    const feed = await services.changes.open(alice);
    try {
      const box = await inbox(alice);
      const added = await ingestMessage({ db: store.db, events: createRedisEventPublisher(redis) }, { userId: alice, mailbox: { id: box.id }, content: { raw: raw(99) }, summary: await summarizeMessage(raw(99)) });
      const item = await feed.next();
      expect(item).toMatchObject({ type: 'event', event: { type: 'message.new', mailboxId: box.id, uid: added.uid } });
    } finally {
      feed.close();
    }
  });
});
