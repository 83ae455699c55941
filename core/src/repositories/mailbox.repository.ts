import { sql } from 'kysely';
import { type DbOrTx, PREPARED } from '../db/client.js';
import type { SpecialUse } from '../db/schema.js';

export interface MailboxRow {
  id: number;
  userId: number;
  name: string;
  specialUse: SpecialUse | null;
  uidvalidity: number;
  uidnext: number;
  highestmodseq: number;
  messageCount: number;
  unseenCount: number;
  totalBytes: number;
}

/** The folders every new account gets, in display order. */
export const DEFAULT_MAILBOXES: ReadonlyArray<{ name: string; specialUse: SpecialUse }> = [
  { name: 'INBOX', specialUse: '\\Inbox' },
  { name: 'Drafts', specialUse: '\\Drafts' },
  { name: 'Sent', specialUse: '\\Sent' },
  { name: 'Archive', specialUse: '\\Archive' },
  { name: 'Junk', specialUse: '\\Junk' },
  { name: 'Trash', specialUse: '\\Trash' },
];

const columns = ['id', 'user_id', 'name', 'special_use', 'uidvalidity', 'uidnext', 'highestmodseq', 'message_count', 'unseen_count', 'total_bytes'] as const;

type Row = { id: number; user_id: number; name: string; special_use: SpecialUse | null; uidvalidity: number; uidnext: number; highestmodseq: number; message_count: number; unseen_count: number; total_bytes: number };

function toMailbox(r: Row): MailboxRow {
  return {
    id: r.id,
    userId: r.user_id,
    name: r.name,
    specialUse: r.special_use,
    uidvalidity: r.uidvalidity,
    uidnext: r.uidnext,
    highestmodseq: r.highestmodseq,
    messageCount: r.message_count,
    unseenCount: r.unseen_count,
    totalBytes: r.total_bytes,
  };
}

export interface LockedMailbox {
  id: number;
  name: string;
  uidvalidity: number;
  specialUse: SpecialUse | null;
}

/** A change to a mailbox's counters (all relative), and how many UIDs to take from its uidnext. */
export interface MailboxDelta {
  count: number;
  unseen: number;
  bytes: number;
  /** The mailbox's highestmodseq becomes at least this. */
  highestmodseq: number;
  uids: number;
}

export interface MailboxCounts {
  total: number;
  unread: number;
  /** The first of the UIDs the change took (uidnext before it). */
  firstUid: number;
}

/** UIDVALIDITY: seconds since epoch at creation, as IMAP servers conventionally pick it. */
function newUidValidity(): number {
  return Math.floor(Date.now() / 1000);
}

export function createMailboxRepository(db: DbOrTx) {
  return {
    async createDefaults(userId: number): Promise<void> {
      const uidvalidity = newUidValidity();
      await db
        .insertInto('mailboxes')
        .values(DEFAULT_MAILBOXES.map((m) => ({ user_id: userId, name: m.name, special_use: m.specialUse, uidvalidity })))
        .execute();
    },
    async list(userId: number): Promise<MailboxRow[]> {
      const rows = await db.selectFrom('mailboxes').select(columns).where('user_id', '=', userId).orderBy('id').execute();
      return rows.map(toMailbox);
    },
    async get(userId: number, id: number): Promise<MailboxRow | null> {
      const row = await db.selectFrom('mailboxes').select(columns).where('user_id', '=', userId).where('id', '=', id).executeTakeFirst();
      return row ? toMailbox(row) : null;
    },
    async findByName(userId: number, name: string): Promise<MailboxRow | null> {
      // IMAP: INBOX is case-insensitive, every other name is exact.
      const row = await db
        .selectFrom('mailboxes')
        .select(columns)
        .where('user_id', '=', userId)
        .where((eb) => (name.toUpperCase() === 'INBOX' ? eb('special_use', '=', '\\Inbox') : eb('name', '=', name)))
        .executeTakeFirst();
      return row ? toMailbox(row) : null;
    },
    async findSpecial(userId: number, specialUse: SpecialUse): Promise<MailboxRow | null> {
      const row = await db.selectFrom('mailboxes').select(columns).where('user_id', '=', userId).where('special_use', '=', specialUse).executeTakeFirst();
      return row ? toMailbox(row) : null;
    },
    /** The mailbox with each of these special uses of each of these users, in one statement (pairs with none are missing). */
    async findSpecialMany(wanted: ReadonlyArray<{ userId: number; specialUse: SpecialUse }>): Promise<Array<{ userId: number; specialUse: SpecialUse; id: number }>> {
      if (wanted.length === 0) return [];
      const { rows } = await sql<{ id: number; user_id: number; special_use: SpecialUse }>`${PREPARED}
        SELECT b.id, b.user_id, b.special_use
        FROM unnest(${wanted.map((w) => w.userId)}::bigint[], ${wanted.map((w) => w.specialUse)}::text[]) AS v(user_id, special_use)
        JOIN mailboxes b ON b.user_id = v.user_id AND b.special_use = v.special_use AND b.special_use IS NOT NULL`.execute(db);
      return rows.map((r) => ({ userId: r.user_id, specialUse: r.special_use, id: r.id }));
    },
    /** Locks one of the user's mailboxes (by id or special use) for a write; null when they have none such. */
    async lockForWrite(userId: number, target: number | { specialUse: SpecialUse }): Promise<LockedMailbox | null> {
      let query = db.selectFrom('mailboxes').select(['id', 'name', 'uidvalidity', 'special_use']).where('user_id', '=', userId);
      query = typeof target === 'number' ? query.where('id', '=', target) : query.where('special_use', '=', target.specialUse);
      const row = await query.forUpdate().executeTakeFirst();
      return row ? { id: row.id, name: row.name, uidvalidity: row.uidvalidity, specialUse: row.special_use } : null;
    },
    /**
     * Applies counter changes to mailboxes of any number of users in ONE statement, and takes `uids`
     * new UIDs from each one's uidnext; in that same statement the owners' quota usage
     * (`users.used_bytes`, see core/src/mail/quota.ts) moves by their mailboxes' byte deltas (the
     * callers hold the users' row locks already). Returns each mailbox's counts after the change and
     * the first UID it gave out; a mailbox that is not its user's is missing from the result.
     */
    async applyDeltas(changes: ReadonlyArray<{ userId: number; mailboxId: number; delta: MailboxDelta }>): Promise<Map<number, MailboxCounts>> {
      if (changes.length === 0) return new Map();
      const c = [...changes].sort((a, b) => a.mailboxId - b.mailboxId);
      const column = (pick: (d: MailboxDelta) => number) => c.map((x) => pick(x.delta));
      const { rows } = await sql<{ id: number; message_count: number; unseen_count: number; first_uid: number }>`${PREPARED}
        WITH v AS (
          SELECT * FROM unnest(${c.map((x) => x.mailboxId)}::bigint[], ${c.map((x) => x.userId)}::bigint[], ${column((d) => d.uids)}::bigint[],
            ${column((d) => d.count)}::bigint[], ${column((d) => d.unseen)}::bigint[], ${column((d) => d.bytes)}::bigint[], ${column((d) => d.highestmodseq)}::bigint[])
            AS v(id, user_id, uids, count, unseen, bytes, highestmodseq)
        ), usage AS (
          UPDATE users u SET used_bytes = u.used_bytes + q.bytes
          FROM (SELECT user_id, sum(bytes)::bigint AS bytes FROM v GROUP BY user_id HAVING sum(bytes) <> 0) q
          WHERE u.id = q.user_id
        )
        UPDATE mailboxes m SET
          uidnext = m.uidnext + v.uids,
          message_count = m.message_count + v.count,
          unseen_count = m.unseen_count + v.unseen,
          total_bytes = m.total_bytes + v.bytes,
          highestmodseq = GREATEST(m.highestmodseq, v.highestmodseq)
        FROM v
        WHERE m.id = v.id AND m.user_id = v.user_id
        RETURNING m.id, m.message_count, m.unseen_count, m.uidnext - v.uids AS first_uid`.execute(db);
      return new Map(rows.map((r) => [r.id, { total: r.message_count, unread: r.unseen_count, firstUid: r.first_uid }]));
    },
    async nameTaken(userId: number, name: string): Promise<boolean> {
      return (await db.selectFrom('mailboxes').select('id').where('user_id', '=', userId).where('name', '=', name).executeTakeFirst()) !== undefined;
    },
    /**
     * A new custom folder. Its UIDVALIDITY is above every one this user has (or had under this name,
     * as the change log remembers), so an IMAP client that cached a deleted folder of the same name
     * cannot mistake the new one for it.
     */
    async insertFolder(userId: number, name: string): Promise<{ id: number; uidvalidity: number }> {
      const { rows } = await sql<{ v: number }>`
        SELECT GREATEST(
          extract(epoch FROM now())::bigint,
          COALESCE((SELECT max(uidvalidity) FROM mailboxes WHERE user_id = ${userId}), 0) + 1,
          COALESCE((SELECT max((payload->>'uidvalidity')::bigint) FROM changes WHERE user_id = ${userId} AND kind = 'mailbox.deleted' AND payload->>'name' = ${name}), 0) + 1
        ) AS v`.execute(db);
      const uidvalidity = rows[0]!.v;
      const inserted = await db.insertInto('mailboxes').values({ user_id: userId, name, special_use: null, uidvalidity }).returning('id').executeTakeFirstOrThrow();
      return { id: inserted.id, uidvalidity };
    },
    async rename(userId: number, id: number, name: string): Promise<void> {
      await db.updateTable('mailboxes').set({ name }).where('id', '=', id).where('user_id', '=', userId).execute();
    },
    async remove(userId: number, id: number): Promise<void> {
      await db.deleteFrom('mailboxes').where('id', '=', id).where('user_id', '=', userId).execute();
    },
    /** Every user's Trash that holds a message moved there before `olderThan` (the Trash purge's work list). */
    async trashesWithMailBefore(olderThan: Date): Promise<Array<{ id: number; userId: number }>> {
      const { rows } = await sql<{ id: number; user_id: number }>`
        SELECT b.id, b.user_id FROM mailboxes b
        WHERE b.special_use = ${'\\Trash'}
          AND EXISTS (SELECT 1 FROM messages m WHERE m.mailbox_id = b.id AND m.moved_at < ${olderThan})
        ORDER BY b.user_id`.execute(db);
      return rows.map((r) => ({ id: r.id, userId: r.user_id }));
    },
  };
}
export type MailboxRepository = ReturnType<typeof createMailboxRepository>;
