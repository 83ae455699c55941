import { sql } from 'kysely';
import type { DbOrTx } from '../db/client.js';
import type { Insertable } from 'kysely';
import type { AddressJson, AttachmentJson, AuthenticationJson, FilterDecisionJson, MessagesTable, SpecialUse } from '../db/schema.js';

export interface MessageListItem {
  id: number;
  mailboxId: number;
  uid: number;
  modseq: number;
  flags: string[];
  internalDate: Date;
  size: number;
  threadId: number;
  messageId: string | null;
  subject: string;
  from: AddressJson[];
  to: AddressJson[];
  snippet: string;
  hasAttachments: boolean;
}

export interface MessageDetail extends MessageListItem {
  cc: AddressJson[];
  inReplyTo: string | null;
  references: string[];
  attachments: AttachmentJson[];
  blobHash: Buffer;
  traceHeaders: string;
  /** SPF/DKIM/DMARC/ARC as checked on arrival; null when it was not checked. */
  authentication: AuthenticationJson | null;
  /** The spam filter's decision on arrival; null when it was not judged. */
  filter: FilterDecisionJson | null;
}

/** Columns of a list item, and their mapping: shared by every query that returns list items. */
export const listColumns = ['id', 'mailbox_id', 'uid', 'modseq', 'flags', 'internal_date', 'size', 'thread_id', 'message_id_header', 'subject', 'from_json', 'to_json', 'snippet', 'has_attachments'] as const;

export type ListRow = {
  id: number; mailbox_id: number; uid: number; modseq: number; flags: string[]; internal_date: Date; size: number; thread_id: number;
  message_id_header: string | null; subject: string; from_json: AddressJson[]; to_json: AddressJson[]; snippet: string; has_attachments: boolean;
};

export function toListItem(r: ListRow): MessageListItem {
  return {
    id: r.id, mailboxId: r.mailbox_id, uid: r.uid, modseq: r.modseq, flags: r.flags, internalDate: r.internal_date, size: r.size,
    threadId: r.thread_id, messageId: r.message_id_header, subject: r.subject, from: r.from_json, to: r.to_json, snippet: r.snippet, hasAttachments: r.has_attachments,
  };
}

/** A message row locked for a change, with the special use of the mailbox it is in. */
export interface LockedMessage {
  id: number;
  mailboxId: number;
  uid: number;
  modseq: number;
  size: number;
  flags: string[];
  threadId: number;
  specialUse: SpecialUse | null;
}

/** A message row as a writer removed it. */
export interface RemovedMessage {
  id: number;
  mailboxId: number;
  uid: number;
  size: number;
  flags: string[];
}

/** Which of the user's messages `removeWhere` deletes (at most `limit`, lowest ids first, when given). */
export type RemovalFilter =
  | { ids: readonly number[] }
  | { mailboxId: number; movedBefore?: Date; deletedFlag?: boolean; uids?: readonly number[]; limit?: number };

/** Rows per multi-row statement: keeps every statement far below PostgreSQL's 65535 parameters. */
const CHUNK = 1000;

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Messages, always read through their owner: every query filters on user_id. */
export function createMessageRepository(db: DbOrTx) {
  return {
    async listInMailbox(userId: number, mailboxId: number, options: { limit?: number } = {}): Promise<MessageListItem[]> {
      return this.listPage(userId, mailboxId, { limit: options.limit ?? 1000 });
    },
    /**
     * One page of a mailbox, newest first, keyset-paginated on (internal_date, id): stable under
     * equal dates and under concurrent arrivals (new mail lands before the cursor, never inside).
     */
    async listPage(userId: number, mailboxId: number, options: { limit: number; before?: { date: Date; id: number } }): Promise<MessageListItem[]> {
      let query = db
        .selectFrom('messages')
        .select(listColumns)
        .where('user_id', '=', userId)
        .where('mailbox_id', '=', mailboxId)
        .orderBy('internal_date', 'desc')
        .orderBy('id', 'desc')
        .limit(options.limit);
      if (options.before) {
        const { date, id } = options.before;
        query = query.where((eb) => eb(eb.refTuple('internal_date', 'id'), '<', eb.tuple(date, id)));
      }
      return (await query.execute()).map(toListItem);
    },
    /** Every message of the user's conversation, in any mailbox, oldest first. */
    async listThread(userId: number, threadId: number, options: { limit?: number } = {}): Promise<MessageListItem[]> {
      const rows = await db
        .selectFrom('messages')
        .select(listColumns)
        .where('user_id', '=', userId)
        .where('thread_id', '=', threadId)
        .orderBy('internal_date', 'asc')
        .orderBy('id', 'asc')
        .limit(options.limit ?? 1000)
        .execute();
      return rows.map(toListItem);
    },
    async get(userId: number, id: number): Promise<MessageDetail | null> {
      const r = await db
        .selectFrom('messages')
        .select([...listColumns, 'cc_json', 'in_reply_to', 'references', 'attachments', 'blob_hash', 'trace_headers', 'authentication', 'filter'])
        .where('user_id', '=', userId)
        .where('id', '=', id)
        .executeTakeFirst();
      if (!r) return null;
      return { ...toListItem(r), cc: r.cc_json, inReplyTo: r.in_reply_to, references: r.references, attachments: r.attachments, blobHash: r.blob_hash, traceHeaders: r.trace_headers, authentication: r.authentication, filter: r.filter };
    },
    /** The thread that any of these Message-IDs (own id, References, In-Reply-To) already belongs to. */
    async findThreadByKeys(userId: number, ids: string[]): Promise<number | null> {
      if (ids.length === 0) return null;
      const row = await db.selectFrom('thread_keys').select('thread_id').where('user_id', '=', userId).where('message_id_ref', 'in', ids).limit(1).executeTakeFirst();
      return row?.thread_id ?? null;
    },
    /** Maps these Message-IDs onto a thread; ids already mapped keep their thread. */
    async addThreadKeys(userId: number, ids: string[], threadId: number): Promise<void> {
      if (ids.length === 0) return;
      await db
        .insertInto('thread_keys')
        .values(ids.map((id) => ({ user_id: userId, message_id_ref: id, thread_id: threadId })))
        .onConflict((oc) => oc.columns(['user_id', 'message_id_ref']).doNothing())
        .execute();
    },
    async findThreadBySubject(userId: number, normalizedSubject: string, since: Date): Promise<number | null> {
      if (normalizedSubject === '') return null;
      const row = await db
        .selectFrom('messages')
        .select('thread_id')
        .where('user_id', '=', userId)
        .where('normalized_subject', '=', normalizedSubject)
        .where('internal_date', '>', since)
        .orderBy('internal_date', 'desc')
        .limit(1)
        .executeTakeFirst();
      return row?.thread_id ?? null;
    },
    async newThreadId(): Promise<number> {
      return (await this.newThreadIds(1))[0]!;
    },
    /** `n` new thread ids, in one round trip. */
    async newThreadIds(n: number): Promise<number[]> {
      if (n <= 0) return [];
      const { rows } = await sql<{ id: number }>`SELECT nextval('thread_ids') AS id FROM generate_series(1, ${n})`.execute(db);
      return rows.map((r) => r.id);
    },
    /** The thread each of these Message-IDs is already mapped to (ids not mapped are absent). */
    async threadsByKeys(userId: number, ids: readonly string[]): Promise<Map<string, number>> {
      if (ids.length === 0) return new Map();
      const rows = await db.selectFrom('thread_keys').select(['message_id_ref', 'thread_id']).where('user_id', '=', userId).where('message_id_ref', 'in', [...ids]).execute();
      return new Map(rows.map((r) => [r.message_id_ref, r.thread_id]));
    },
    /** Maps Message-IDs onto threads in one statement; ids already mapped keep their thread. */
    async addThreadKeyPairs(userId: number, pairs: ReadonlyArray<{ key: string; threadId: number }>): Promise<void> {
      for (const part of chunks(pairs)) {
        await db
          .insertInto('thread_keys')
          .values(part.map((p) => ({ user_id: userId, message_id_ref: p.key, thread_id: p.threadId })))
          .onConflict((oc) => oc.columns(['user_id', 'message_id_ref']).doNothing())
          .execute();
      }
    },

    // --- Writes: only the mailbox writer (core/src/mail/mailbox-writer) calls these, behind the user lock.

    /** Locks the user's messages with these ids, in id order; ids that are not theirs are missing. */
    async lockForWrite(userId: number, ids: readonly number[]): Promise<LockedMessage[]> {
      if (ids.length === 0) return [];
      const { rows } = await sql<{ id: number; mailbox_id: number; uid: number; modseq: number; size: number; flags: string[]; thread_id: number; special_use: SpecialUse | null }>`
        SELECT m.id, m.mailbox_id, m.uid, m.modseq, m.size, m.flags, m.thread_id, b.special_use
        FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
        WHERE m.user_id = ${userId} AND m.id = ANY(${[...ids]}::bigint[])
        ORDER BY m.id
        FOR UPDATE OF m`.execute(db);
      return rows.map((r) => ({ id: r.id, mailboxId: r.mailbox_id, uid: r.uid, modseq: r.modseq, size: r.size, flags: r.flags, threadId: r.thread_id, specialUse: r.special_use }));
    },
    /** Inserts message rows (all of one user); returns their ids in the order given. */
    async insertMany(rows: ReadonlyArray<Insertable<MessagesTable>>): Promise<number[]> {
      const ids: number[] = [];
      for (const part of chunks(rows, 200)) {
        const inserted = await db.insertInto('messages').values(part).returning(['id', 'mailbox_id', 'uid']).execute();
        // (mailbox_id, uid) is unique: map the returned ids back onto the input order.
        const byKey = new Map(inserted.map((r) => [`${r.mailbox_id}:${r.uid}`, r.id]));
        for (const r of part) ids.push(byKey.get(`${r.mailbox_id}:${r.uid}`)!);
      }
      return ids;
    },
    /** Copies of the user's messages into another mailbox: same bytes and summary, new id, uid, modseq, flags. */
    async copyRows(userId: number, copies: ReadonlyArray<{ sourceId: number; mailboxId: number; uid: number; modseq: number; flags: string[] }>): Promise<number[]> {
      const ids: number[] = [];
      for (const part of chunks(copies)) {
        const { rows } = await sql<{ id: number; mailbox_id: number; uid: number }>`
          INSERT INTO messages (user_id, mailbox_id, uid, modseq, flags, internal_date, size, blob_hash, trace_headers, thread_id,
            message_id_header, in_reply_to, "references", subject, normalized_subject, from_json, to_json, cc_json, from_text,
            to_text, cc_text, sent_date, snippet, body_text, has_attachments, attachments, attachment_names, authentication, filter)
          SELECT m.user_id, v.mailbox_id, v.uid, v.modseq, v.flags, m.internal_date, m.size, m.blob_hash, m.trace_headers, m.thread_id,
            m.message_id_header, m.in_reply_to, m."references", m.subject, m.normalized_subject, m.from_json, m.to_json, m.cc_json, m.from_text,
            m.to_text, m.cc_text, m.sent_date, m.snippet, m.body_text, m.has_attachments, m.attachments, m.attachment_names, m.authentication, m.filter
          FROM (VALUES ${sql.join(part.map((c) => sql`(${c.sourceId}::bigint, ${c.mailboxId}::bigint, ${c.uid}::bigint, ${c.modseq}::bigint, ${c.flags}::text[])`))})
               AS v(source_id, mailbox_id, uid, modseq, flags)
          JOIN messages m ON m.id = v.source_id AND m.user_id = ${userId}
          RETURNING id, mailbox_id, uid`.execute(db);
        const byKey = new Map(rows.map((r) => [`${r.mailbox_id}:${r.uid}`, r.id]));
        for (const c of part) ids.push(byKey.get(`${c.mailboxId}:${c.uid}`)!);
      }
      return ids;
    },
    /** Sets new flags and modseqs on the user's messages. */
    async updateFlags(userId: number, changes: ReadonlyArray<{ id: number; modseq: number; flags: string[] }>): Promise<void> {
      for (const part of chunks(changes)) {
        const values = sql.join(part.map((c) => sql`(${c.id}::bigint, ${c.modseq}::bigint, ${c.flags}::text[])`));
        await sql`UPDATE messages AS m SET flags = v.flags, modseq = v.modseq FROM (VALUES ${values}) AS v(id, modseq, flags) WHERE m.id = v.id AND m.user_id = ${userId}`.execute(db);
      }
    },
    /** Moves the user's messages into a mailbox with their new UIDs and modseqs (moved_at = now). */
    async relocate(userId: number, mailboxId: number, moved: ReadonlyArray<{ id: number; uid: number; modseq: number }>): Promise<void> {
      for (const part of chunks(moved)) {
        await sql`
          UPDATE messages AS m SET mailbox_id = ${mailboxId}, uid = v.uid, modseq = v.modseq, moved_at = now()
          FROM unnest(${part.map((m) => m.id)}::bigint[], ${part.map((m) => m.uid)}::bigint[], ${part.map((m) => m.modseq)}::bigint[]) AS v(id, uid, modseq)
          WHERE m.id = v.id AND m.user_id = ${userId}`.execute(db);
      }
    },
    /** Deletes the user's messages that match the filter; returns what was removed. */
    async removeWhere(userId: number, filter: RemovalFilter): Promise<RemovedMessage[]> {
      let query = db.deleteFrom('messages').where('user_id', '=', userId);
      if ('ids' in filter) {
        if (filter.ids.length === 0) return [];
        query = query.where('id', '=', sql<number>`ANY(${[...filter.ids]}::bigint[])`);
      } else {
        query = query.where('mailbox_id', '=', filter.mailboxId);
        if (filter.deletedFlag) query = query.where(sql<boolean>`flags @> ARRAY['\\Deleted']::text[]`);
        if (filter.uids) query = query.where('uid', '=', sql<number>`ANY(${[...filter.uids]}::bigint[])`);
        if (filter.movedBefore) query = query.where('moved_at', '<', filter.movedBefore);
        if (filter.limit !== undefined) {
          const { mailboxId, movedBefore, limit } = filter;
          query = query.where('id', 'in', (eb) => {
            let inner = eb.selectFrom('messages').select('id').where('user_id', '=', userId).where('mailbox_id', '=', mailboxId);
            if (movedBefore) inner = inner.where('moved_at', '<', movedBefore);
            return inner.orderBy('id').limit(limit);
          });
        }
      }
      const rows = await query.returning(['id', 'mailbox_id', 'uid', 'size', 'flags']).execute();
      return rows.map((r) => ({ id: r.id, mailboxId: r.mailbox_id, uid: r.uid, size: r.size, flags: r.flags }));
    },
    /** Earlier filings of these spool rows for this user (a retried job), keyed by spool id. A message deleted since has null fields. */
    async filingsOf(userId: number, spoolIds: readonly number[]) {
      if (spoolIds.length === 0) return new Map<number, { messageId: number; mailboxId: number | null; uid: number | null; modseq: number | null; threadId: number | null }>();
      const rows = await db
        .selectFrom('spool_filings')
        .leftJoin('messages', 'messages.id', 'spool_filings.message_id')
        .select(['spool_filings.spool_id', 'spool_filings.message_id', 'messages.mailbox_id', 'messages.uid', 'messages.modseq', 'messages.thread_id'])
        .where('spool_filings.spool_id', 'in', [...spoolIds])
        .where('spool_filings.user_id', '=', userId)
        .execute();
      return new Map(rows.map((r) => [r.spool_id, { messageId: r.message_id, mailboxId: r.mailbox_id, uid: r.uid, modseq: r.modseq, threadId: r.thread_id }]));
    },
    async recordFilings(userId: number, filings: ReadonlyArray<{ spoolId: number; messageId: number }>): Promise<void> {
      for (const part of chunks(filings)) {
        await db.insertInto('spool_filings').values(part.map((f) => ({ spool_id: f.spoolId, user_id: userId, message_id: f.messageId }))).execute();
      }
    },
  };
}
export type MessageRepository = ReturnType<typeof createMessageRepository>;
