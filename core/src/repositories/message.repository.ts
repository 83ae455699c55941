import { sql } from 'kysely';
import type { DbOrTx } from '../db/client.js';
import type { AddressJson, AttachmentJson } from '../db/schema.js';

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
        .select([...listColumns, 'cc_json', 'in_reply_to', 'references', 'attachments', 'blob_hash', 'trace_headers'])
        .where('user_id', '=', userId)
        .where('id', '=', id)
        .executeTakeFirst();
      if (!r) return null;
      return { ...toListItem(r), cc: r.cc_json, inReplyTo: r.in_reply_to, references: r.references, attachments: r.attachments, blobHash: r.blob_hash, traceHeaders: r.trace_headers };
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
      const { rows } = await sql<{ id: number }>`SELECT nextval('thread_ids') AS id`.execute(db);
      return rows[0]!.id;
    },
  };
}
export type MessageRepository = ReturnType<typeof createMessageRepository>;
