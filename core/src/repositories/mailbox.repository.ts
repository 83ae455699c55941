import { sql } from 'kysely';
import type { DbOrTx } from '../db/client.js';
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
    /**
     * Takes the next UID of a mailbox and records the new modseq and counters, in the caller's
     * transaction. The row lock this update holds orders concurrent appends: UIDs come out
     * strictly increasing, and a rolled-back append never leaves its UID visible to anyone.
     */
    async allocateUid(userId: number, mailboxId: number, change: { modseq: number; size: number; unseen: boolean }): Promise<number | null> {
      const row = await db
        .updateTable('mailboxes')
        .set({
          uidnext: sql`uidnext + 1`,
          highestmodseq: change.modseq,
          message_count: sql`message_count + 1`,
          unseen_count: sql`unseen_count + ${change.unseen ? 1 : 0}`,
          total_bytes: sql`total_bytes + ${change.size}`,
        })
        .where('id', '=', mailboxId)
        .where('user_id', '=', userId)
        .returning(sql<number>`uidnext - 1`.as('uid'))
        .executeTakeFirst();
      return row?.uid ?? null;
    },
  };
}
export type MailboxRepository = ReturnType<typeof createMailboxRepository>;
