import { sql } from 'kysely';
import { type DbOrTx, PREPARED } from '../db/client.js';
import { blobRowsOf } from './blob.repository.js';
import { createSearchIndexRepository } from './search-index.repository.js';
import type { Insertable } from 'kysely';
import type { AddressJson, AttachmentJson, AuthenticationJson, FilterDecisionJson, MessagesTable, SpecialUse } from '../db/schema.js';

/** A message row as the mailbox writer adds it (`insertNew`): every row of one call has the same columns. */
export type NewMessageRow = Insertable<MessagesTable>;

/** One message of a flag change (`storeFlags`). */
export interface StoredFlags {
  id: number;
  mailboxId: number;
  uid: number;
  /** The new modseq when changed, else the message's. */
  modseq: number;
  /** The new flags when changed; else the current ones (`changed` false: the change was empty, refused or in conflict). */
  flags: string[];
  changed: boolean;
  conflict: boolean;
  /** Whether the statement wrote the change (false: nothing changed, or it was refused). */
  written: boolean;
  /** The counts of the message's mailbox after the write, on changed rows. */
  counts: { total: number; unread: number } | null;
}

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

/** A spool row filed before for a user: its message, and where that is now (nulls when deleted since). */
export interface EarlierFiling {
  messageId: number;
  mailboxId: number | null;
  uid: number | null;
  modseq: number | null;
  threadId: number | null;
}

/** The key of a (user, spool row) pair in `filingsOf`'s answer. */
export const filingKeyOf = (userId: number, spoolId: number): string => `${userId}:${spoolId}`;
/** The key of a (user, Message-ID) pair in `threadsByKeys`'s answer. */
export const threadKeyOf = (userId: number, key: string): string => `${userId}:${key}`;

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
    /**
     * For each (user, normalized subject, since): the thread of the user's newest message with that
     * subject dated after `since`, or null; in input order, in one statement (a batch's replies that
     * no Message-ID ties to a conversation).
     */
    async threadsBySubjects(queries: ReadonlyArray<{ userId: number; normalizedSubject: string; since: Date }>): Promise<Array<number | null>> {
      if (queries.length === 0) return [];
      const { rows } = await sql<{ i: number; thread_id: number | null }>`${PREPARED}
        SELECT v.i, (
          SELECT m.thread_id FROM messages m
          WHERE m.user_id = v.user_id AND m.normalized_subject = v.subject AND m.internal_date > v.since
          ORDER BY m.internal_date DESC LIMIT 1
        ) AS thread_id
        FROM unnest(${queries.map((_, i) => i)}::int[], ${queries.map((q) => q.userId)}::bigint[], ${queries.map((q) => q.normalizedSubject)}::text[],
          ${queries.map((q) => q.since.toISOString())}::timestamptz[]) AS v(i, user_id, subject, since)`.execute(db);
      const out: Array<number | null> = queries.map(() => null);
      for (const r of rows) out[r.i] = r.thread_id;
      return out;
    },
    /**
     * The thread each of these (user, Message-ID) pairs is already mapped to (pairs not mapped are
     * absent; keyed by `threadKeyOf`), and `fresh` new thread ids, in ONE statement: a batch asks
     * for as many as it has messages, the most it can need, and the ids it does not use are gaps
     * in the sequence (one round trip fewer for every APPEND and filing).
     */
    async threadsByKeys(pairs: ReadonlyArray<{ userId: number; key: string }>, fresh = 0): Promise<{ known: Map<string, number>; fresh: number[] }> {
      if (pairs.length === 0 && fresh === 0) return { known: new Map(), fresh: [] };
      const { rows } = await sql<{ user_id: number | null; message_id_ref: string | null; thread_id: number }>`${PREPARED}
        SELECT t.user_id, t.message_id_ref, t.thread_id
        FROM unnest(${pairs.map((p) => p.userId)}::bigint[], ${pairs.map((p) => p.key)}::text[]) AS v(user_id, key)
        JOIN thread_keys t ON t.user_id = v.user_id AND t.message_id_ref = v.key
        UNION ALL
        SELECT NULL, NULL, nextval('thread_ids') FROM generate_series(1, ${fresh}::int)`.execute(db);
      const known = new Map<string, number>();
      const ids: number[] = [];
      for (const r of rows) {
        if (r.user_id === null) ids.push(Number(r.thread_id));
        else known.set(threadKeyOf(r.user_id, r.message_id_ref!), r.thread_id);
      }
      return { known, fresh: ids };
    },
    // --- Writes: only the mailbox writer (core/src/mail/mailbox-writer) calls these, behind the user lock.

    /** Locks the user's messages with these ids, in id order; ids that are not theirs are missing. */
    async lockForWrite(userId: number, ids: readonly number[]): Promise<LockedMessage[]> {
      if (ids.length === 0) return [];
      const { rows } = await sql<{ id: number; mailbox_id: number; uid: number; modseq: number; size: number; flags: string[]; thread_id: number; special_use: SpecialUse | null }>`${PREPARED}
        SELECT m.id, m.mailbox_id, m.uid, m.modseq, m.size, m.flags, m.thread_id, b.special_use
        FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
        WHERE m.user_id = ${userId} AND m.id = ANY(${[...ids]}::bigint[])
        ORDER BY m.id
        FOR UPDATE OF m`.execute(db);
      return rows.map((r) => ({ id: r.id, mailboxId: r.mailbox_id, uid: r.uid, modseq: r.modseq, size: r.size, flags: r.flags, threadId: r.thread_id, specialUse: r.special_use }));
    },
    /**
     * Adds new messages (of any users) with everything that goes with them, in ONE statement per
     * 200 rows: the blobs they reference that are not stored yet and the (user, Message-ID) →
     * thread pairs not mapped yet (both with the first rows; existing ones are left as they are),
     * and for each message its search-index queue entry (migration 0026), its change-log entry (the
     * `message.new` row toChangeRow makes) and, when it comes from the spool, its filing. Five
     * round trips became one: an APPEND waits for each. Foreign keys are checked when the
     * statement ends, so a message may reference a blob its own statement stores. Returns the ids
     * in the order given.
     */
    async insertNew(rows: ReadonlyArray<NewMessageRow>, also: { blobs: ReadonlyArray<{ hash: Buffer; data: Buffer }>; threadKeys: ReadonlyArray<{ userId: number; key: string; threadId: number }> }): Promise<number[]> {
      const ids: number[] = [];
      let first = true;
      for (const part of chunks(rows, 200)) {
        const columns = Object.keys(part[0]!) as Array<keyof NewMessageRow>;
        const blobs = first ? blobRowsOf(also.blobs) : [];
        const keys = first ? also.threadKeys : [];
        first = false;
        const { rows: inserted } = await sql<{ id: number; mailbox_id: number; uid: number }>`
          WITH ${blobs.length === 0 ? sql`` : sql`stored AS (
            INSERT INTO blobs (hash, size, data) VALUES ${sql.join(blobs.map((b) => sql`(${b.hash}, ${b.size}, ${b.data})`))}
            ON CONFLICT (hash) DO NOTHING
          ),`}
          ${keys.length === 0 ? sql`` : sql`keyed AS (
            INSERT INTO thread_keys (user_id, message_id_ref, thread_id)
            SELECT * FROM unnest(${keys.map((k) => k.userId)}::bigint[], ${keys.map((k) => k.key)}::text[], ${keys.map((k) => k.threadId)}::bigint[])
            ON CONFLICT (user_id, message_id_ref) DO NOTHING
          ),`}
          added AS (
            INSERT INTO messages (${sql.join(columns.map((c) => sql.ref(c)))})
            VALUES ${sql.join(part.map((r) => sql`(${sql.join(columns.map((c) => r[c]))})`))}
            RETURNING id, user_id, mailbox_id, uid, modseq, thread_id, spool_id
          ),
          queued AS (INSERT INTO search_pending (message_id, user_id) SELECT id, user_id FROM added),
          logged AS (
            INSERT INTO changes (user_id, modseq, kind, mailbox_id, message_id, uid, payload)
            SELECT user_id, modseq, 'message.new', mailbox_id, id, uid, jsonb_build_object('threadId', thread_id) FROM added
          ),
          filed AS (INSERT INTO spool_filings (spool_id, user_id, message_id) SELECT spool_id, user_id, id FROM added WHERE spool_id IS NOT NULL)
          SELECT id, mailbox_id, uid FROM added`.execute(db);
        // (mailbox_id, uid) is unique: map the returned ids back onto the input order.
        const byKey = new Map(inserted.map((r) => [`${r.mailbox_id}:${r.uid}`, Number(r.id)]));
        for (const r of part) ids.push(byKey.get(`${r.mailbox_id}:${r.uid}`)!);
      }
      return ids;
    },
    /** Copies of the user's messages into another mailbox: same bytes and summary, new id, uid, modseq, flags. */
    async copyRows(userId: number, copies: ReadonlyArray<{ sourceId: number; mailboxId: number; uid: number; modseq: number; flags: string[] }>): Promise<number[]> {
      const ids: number[] = [];
      for (const part of chunks(copies)) {
        // Queued for the search index stage in the same statement, as insertMany does.
        const { rows } = await sql<{ id: number; mailbox_id: number; uid: number }>`${PREPARED}
          WITH added AS (
            INSERT INTO messages (user_id, mailbox_id, uid, modseq, flags, internal_date, internal_date_zone, size, blob_hash, trace_headers, thread_id,
              message_id_header, in_reply_to, "references", subject, normalized_subject, from_json, to_json, cc_json, from_text,
              to_text, cc_text, sent_date, snippet, body_text, has_attachments, attachments, attachment_names, authentication, filter)
            SELECT m.user_id, v.mailbox_id, v.uid, v.modseq, v.flags, m.internal_date, m.internal_date_zone, m.size, m.blob_hash, m.trace_headers, m.thread_id,
              m.message_id_header, m.in_reply_to, m."references", m.subject, m.normalized_subject, m.from_json, m.to_json, m.cc_json, m.from_text,
              m.to_text, m.cc_text, m.sent_date, m.snippet, m.body_text, m.has_attachments, m.attachments, m.attachment_names, m.authentication, m.filter
            FROM (VALUES ${sql.join(part.map((c) => sql`(${c.sourceId}::bigint, ${c.mailboxId}::bigint, ${c.uid}::bigint, ${c.modseq}::bigint, ${c.flags}::text[])`))})
                 AS v(source_id, mailbox_id, uid, modseq, flags)
            JOIN messages m ON m.id = v.source_id AND m.user_id = ${userId}
            RETURNING id, user_id, mailbox_id, uid
        ), queued AS (INSERT INTO search_pending (message_id, user_id) SELECT id, user_id FROM added)
        SELECT id, mailbox_id, uid FROM added`.execute(db);
        const byKey = new Map(rows.map((r) => [`${r.mailbox_id}:${r.uid}`, r.id]));
        for (const c of part) ids.push(byKey.get(`${c.mailboxId}:${c.uid}`)!);
      }
      return ids;
    },
    /**
     * A flag change (IMAP STORE, the API's flags) as ONE statement outside any transaction, so one
     * round trip. In order, as every mailbox writer does: it locks the user's row (the writers'
     * lock: ModseqClock), then the messages (by id), computes each one's flags (`replace`, or the
     * current ones without `remove`, then `add` in its order), and, when anything changes, gives
     * each changed message the next modseq (in id order), writes the flags, the change-log rows
     * and the mailboxes' unseen counts and highestmodseq. It writes NOTHING (and `written` is
     * false) when no flags change, when a message is not the user's (fewer rows than ids), or when
     * a message would carry more than `maxFlags`. Messages changed after `unchangedSince` are left
     * alone (`conflict`). Rows in id order; the mailbox counts are set on changed rows.
     */
    async storeFlags(
      userId: number,
      ids: readonly number[],
      change: { add: readonly string[]; remove: readonly string[]; replace: readonly string[] | null; unchangedSince: number | null },
      maxFlags: number,
    ): Promise<StoredFlags[]> {
      if (ids.length === 0) return [];
      const { rows } = await sql<{ id: number; mailbox_id: number; uid: number; modseq: number; flags: string[]; changed: boolean; conflict: boolean; written: boolean; message_count: number | null; unseen_count: number | null }>`${PREPARED}
        WITH locked_user AS MATERIALIZED (SELECT id, modseq FROM users WHERE id = ${userId} FOR UPDATE),
        current AS MATERIALIZED (
          SELECT m.id, m.mailbox_id, m.uid, m.modseq, m.flags FROM messages m
          WHERE m.user_id = (SELECT id FROM locked_user) AND m.id = ANY(${[...ids]}::bigint[])
          ORDER BY m.id FOR UPDATE
        ),
        planned AS MATERIALIZED (
          SELECT c.*, n.flags AS next_flags, (${change.unchangedSince}::bigint IS NOT NULL AND c.modseq > ${change.unchangedSince}::bigint) AS conflict
          FROM current c CROSS JOIN LATERAL (
            SELECT CASE WHEN ${change.replace === null ? null : [...change.replace]}::text[] IS NOT NULL THEN ${change.replace === null ? null : [...change.replace]}::text[]
              ELSE ARRAY(SELECT f FROM unnest(c.flags) WITH ORDINALITY AS t(f, o) WHERE f <> ALL(${[...change.remove]}::text[]) ORDER BY o)
                || ARRAY(SELECT f FROM unnest(${[...change.add]}::text[]) WITH ORDINALITY AS t(f, o) WHERE f <> ALL(c.flags) ORDER BY o)
            END AS flags
          ) n
        ),
        changing AS MATERIALIZED (
          SELECT p.id, p.mailbox_id, p.uid, p.next_flags,
            (SELECT modseq FROM locked_user) + row_number() OVER (ORDER BY p.id) AS modseq,
            (CASE WHEN ${'\\Seen'}::text = ANY(p.next_flags) THEN 0 ELSE 1 END) - (CASE WHEN ${'\\Seen'}::text = ANY(p.flags) THEN 0 ELSE 1 END) AS unseen
          FROM planned p WHERE NOT p.conflict AND NOT (p.next_flags @> p.flags AND p.flags @> p.next_flags)
        ),
        go AS MATERIALIZED (
          SELECT EXISTS (SELECT 1 FROM changing) AND (SELECT count(*) FROM current) = ${ids.length}
            AND NOT EXISTS (SELECT 1 FROM changing WHERE cardinality(next_flags) > ${maxFlags}) AS ok
        ),
        clock AS (
          UPDATE users u SET modseq = u.modseq + (SELECT count(*) FROM changing) WHERE u.id = ${userId} AND (SELECT ok FROM go) RETURNING u.id
        ),
        flagged AS (
          UPDATE messages m SET flags = c.next_flags, modseq = c.modseq FROM changing c WHERE m.id = c.id AND m.user_id = ${userId} AND (SELECT ok FROM go) RETURNING m.id
        ),
        logged AS (
          INSERT INTO changes (user_id, modseq, kind, mailbox_id, message_id, uid, payload)
          SELECT ${userId}, c.modseq, 'message.flags', c.mailbox_id, c.id, c.uid, jsonb_build_object('flags', to_jsonb(c.next_flags))
          FROM changing c WHERE (SELECT ok FROM go)
          RETURNING modseq
        ),
        counted AS (
          UPDATE mailboxes b SET unseen_count = b.unseen_count + d.unseen, highestmodseq = GREATEST(b.highestmodseq, d.modseq)
          FROM (SELECT mailbox_id, sum(unseen)::int AS unseen, max(modseq) AS modseq FROM changing GROUP BY mailbox_id) d
          WHERE b.id = d.mailbox_id AND b.user_id = ${userId} AND (SELECT ok FROM go)
          RETURNING b.id, b.message_count, b.unseen_count
        )
        SELECT p.id, p.mailbox_id, p.uid, coalesce(c.modseq, p.modseq) AS modseq, CASE WHEN c.id IS NULL THEN p.flags ELSE p.next_flags END AS flags,
          c.id IS NOT NULL AS changed, p.conflict, (SELECT ok FROM go) AS written, k.message_count, k.unseen_count
        FROM planned p LEFT JOIN changing c ON c.id = p.id LEFT JOIN counted k ON k.id = p.mailbox_id AND c.id IS NOT NULL
        ORDER BY p.id`.execute(db);
      return rows.map((r) => ({
        id: Number(r.id),
        mailboxId: Number(r.mailbox_id),
        uid: Number(r.uid),
        modseq: Number(r.modseq),
        flags: r.flags,
        changed: r.changed,
        conflict: r.conflict,
        written: r.written,
        counts: r.message_count === null || r.unseen_count === null ? null : { total: r.message_count, unread: r.unseen_count },
      }));
    },
    /** Moves the user's messages into a mailbox with their new UIDs and modseqs (moved_at = now). */
    async relocate(userId: number, mailboxId: number, moved: ReadonlyArray<{ id: number; uid: number; modseq: number }>): Promise<void> {
      for (const part of chunks(moved)) {
        await sql`${PREPARED}
          UPDATE messages AS m SET mailbox_id = ${mailboxId}, uid = v.uid, modseq = v.modseq, moved_at = now()
          FROM unnest(${part.map((m) => m.id)}::bigint[], ${part.map((m) => m.uid)}::bigint[], ${part.map((m) => m.modseq)}::bigint[]) AS v(id, uid, modseq)
          WHERE m.id = v.id AND m.user_id = ${userId}`.execute(db);
        const search = createSearchIndexRepository(db);
        await search.holdQueued(part.map((m) => m.id));
        await search.moved(userId, mailboxId, part.map((m) => m.id));
      }
    },
    /**
     * Deletes the user's messages that match the filter, with their search rows (indexed or queued,
     * migration 0026); returns what was removed. Run it in a transaction (the mailbox writer's).
     */
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
      const search = createSearchIndexRepository(db);
      await search.holdQueued(rows.map((r) => r.id));
      await search.removed(rows.map((r) => r.id));
      return rows.map((r) => ({ id: r.id, mailboxId: r.mailbox_id, uid: r.uid, size: r.size, flags: r.flags }));
    },
    /**
     * Earlier filings of these (user, spool row) pairs (a retried job), in one statement, keyed by
     * `filingKeyOf`. A message deleted since has null fields.
     */
    async filingsOf(pairs: ReadonlyArray<{ userId: number; spoolId: number }>): Promise<Map<string, EarlierFiling>> {
      if (pairs.length === 0) return new Map();
      const { rows } = await sql<{ user_id: number; spool_id: number; message_id: number; mailbox_id: number | null; uid: number | null; modseq: number | null; thread_id: number | null }>`${PREPARED}
        SELECT f.user_id, f.spool_id, f.message_id, m.mailbox_id, m.uid, m.modseq, m.thread_id
        FROM unnest(${pairs.map((p) => p.spoolId)}::bigint[], ${pairs.map((p) => p.userId)}::bigint[]) AS v(spool_id, user_id)
        JOIN spool_filings f ON f.spool_id = v.spool_id AND f.user_id = v.user_id
        LEFT JOIN messages m ON m.id = f.message_id`.execute(db);
      return new Map(rows.map((r) => [filingKeyOf(r.user_id, r.spool_id), { messageId: r.message_id, mailboxId: r.mailbox_id, uid: r.uid, modseq: r.modseq, threadId: r.thread_id }]));
    },
  };
}
export type MessageRepository = ReturnType<typeof createMessageRepository>;
