import { sql } from 'kysely';
import { type DbOrTx, PREPARED } from '../db/client.js';
import type { AddressJson } from '../db/schema.js';
import { bytesOf } from './blob.repository.js';

/**
 * What only IMAP needs (SQL here, scoped by user_id like every repository): a mailbox's messages
 * in UID order (a session's seq↔uid map), the Sent copy with a given Message-ID (APPEND to Sent
 * answers with it), the text criteria of SEARCH, the user's subscriptions (folder names, in
 * `mailbox_subscriptions`; migration 0012's triggers subscribe new folders and follow renames),
 * and \Recent (`mailboxes.imap_first_recent_uid`).
 * Message and folder writes go through the mailbox writer.
 */

export interface ImapMessageRow {
  id: number;
  uid: number;
  modseq: number;
  flags: string[];
  internalDate: Date;
  /** The zone INTERNALDATE is given in, minutes east of UTC. */
  internalDateZone: number;
  size: number;
  sentDate: Date | null;
}

/** What IMAP SORT and THREAD (RFC 5256, 5957) order by, besides dates and sizes: the subject, the first address of each field, and the message ids. */
export interface ImapSortFields {
  uid: number;
  subject: string;
  from: AddressJson | null;
  to: AddressJson | null;
  cc: AddressJson | null;
  messageId: string | null;
  inReplyTo: string | null;
  references: string[];
}

/** The stored columns IMAP SEARCH text criteria look in. */
export type ImapTextField = 'from' | 'to' | 'cc' | 'subject' | 'body' | 'text';

const textColumn: Record<Exclude<ImapTextField, 'text'>, string> = { from: 'from_text', to: 'to_text', cc: 'cc_text', subject: 'subject', body: 'body_text' };

/** `%`, `_` and `\` taken literally in an ILIKE pattern. */
function likeLiteral(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export function createImapRepository(db: DbOrTx) {
  return {
    /** The messages in the user's mailbox above a UID (0: all), by ascending UID. */
    async listMessages(userId: number, mailboxId: number, afterUid = 0): Promise<ImapMessageRow[]> {
      const rows = await db
        .selectFrom('messages')
        .select(['id', 'uid', 'modseq', 'flags', 'internal_date', 'internal_date_zone', 'size', 'sent_date'])
        .where('user_id', '=', userId)
        .where('mailbox_id', '=', mailboxId)
        .where('uid', '>', afterUid)
        .orderBy('uid')
        .execute();
      return rows.map((r) => ({ id: r.id, uid: r.uid, modseq: r.modseq, flags: r.flags, internalDate: new Date(r.internal_date), internalDateZone: r.internal_date_zone, size: r.size, sentDate: r.sent_date }));
    },
    /**
     * The bytes as served (this server's trace headers, then the stored blob) of several of the
     * user's messages in one query (FETCH of a range); a message that is gone or not the user's is absent.
     */
    async messageBytes(userId: number, messageIds: readonly number[]): Promise<Map<number, Buffer>> {
      if (messageIds.length === 0) return new Map();
      const { rows } = await sql<{ id: number; trace_headers: string; data: string }>`${PREPARED}
        SELECT m.id, m.trace_headers, encode(b.data, 'base64') AS data FROM messages m JOIN blobs b ON b.hash = m.blob_hash
        WHERE m.user_id = ${userId} AND m.id = ANY(${[...messageIds]}::bigint[])`.execute(db);
      return new Map(rows.map((r) => [Number(r.id), r.trace_headers.length > 0 ? Buffer.concat([Buffer.from(r.trace_headers), bytesOf(r.data)]) : bytesOf(r.data)]));
    },
    /** The SORT/THREAD fields of every message of the mailbox, in UID order: one query, the stored columns, no message bytes. */
    async sortFields(userId: number, mailboxId: number): Promise<ImapSortFields[]> {
      const { rows } = await sql<{ uid: number; subject: string; from: AddressJson | null; to: AddressJson | null; cc: AddressJson | null; message_id_header: string | null; in_reply_to: string | null; references: string[] }>`
        SELECT uid, subject, from_json -> 0 AS "from", to_json -> 0 AS "to", cc_json -> 0 AS "cc", message_id_header, in_reply_to, "references"
        FROM messages WHERE user_id = ${userId} AND mailbox_id = ${mailboxId} ORDER BY uid`.execute(db);
      return rows.map((r) => ({ uid: r.uid, subject: r.subject, from: r.from, to: r.to, cc: r.cc, messageId: r.message_id_header, inReplyTo: r.in_reply_to, references: r.references }));
    },
    /** The user's message in this mailbox with this Message-ID header, if any (the lowest UID). */
    async findByMessageIdHeader(userId: number, mailboxId: number, messageIdHeader: string): Promise<{ id: number; uid: number } | null> {
      const row = await db
        .selectFrom('messages')
        .select(['id', 'uid'])
        .where('user_id', '=', userId)
        .where('mailbox_id', '=', mailboxId)
        .where('message_id_header', '=', messageIdHeader)
        .orderBy('uid')
        .limit(1)
        .executeTakeFirst();
      return row ?? null;
    },
    /** The folder names the user is subscribed to, sorted. */
    async listSubscriptions(userId: number): Promise<string[]> {
      const { rows } = await sql<{ name: string }>`SELECT name FROM mailbox_subscriptions WHERE user_id = ${userId} ORDER BY name`.execute(db);
      return rows.map((r) => r.name);
    },
    async subscribe(userId: number, name: string): Promise<void> {
      await sql`INSERT INTO mailbox_subscriptions (user_id, name) VALUES (${userId}, ${name}) ON CONFLICT DO NOTHING`.execute(db);
    },
    /** False when the name was not subscribed. */
    async unsubscribe(userId: number, name: string): Promise<boolean> {
      const result = await sql`DELETE FROM mailbox_subscriptions WHERE user_id = ${userId} AND name = ${name}`.execute(db);
      return Number(result.numAffectedRows ?? 0) > 0;
    },
    /**
     * Claims the mailbox's recent messages below `upToUid` for one session: returns the first
     * recent UID as it was, and moves it up to `upToUid` (never down), under the row's lock.
     */
    async claimRecent(userId: number, mailboxId: number, upToUid: number): Promise<number> {
      const { rows } = await sql<{ first: string }>`${PREPARED}
        WITH old AS (SELECT id, imap_first_recent_uid AS first FROM mailboxes WHERE user_id = ${userId} AND id = ${mailboxId} FOR UPDATE)
        UPDATE mailboxes m SET imap_first_recent_uid = GREATEST(old.first, ${upToUid}) FROM old WHERE m.id = old.id
        RETURNING old.first`.execute(db);
      return rows[0] ? Number(rows[0].first) : upToUid;
    },
    /**
     * `listMessages` and `claimRecent` in ONE statement (the report of new messages to a read-write
     * IMAP4rev1 session): the messages above `afterUid`, and the first recent UID as it was, moved
     * up to just above the last of them. A mailbox that is not the user's has no messages and
     * `firstRecent` null.
     */
    async listClaimingRecent(userId: number, mailboxId: number, afterUid = 0): Promise<{ rows: ImapMessageRow[]; firstRecent: number | null }> {
      const { rows, firstRecent } = await this.syncMessages(userId, mailboxId, { afterUid, claimRecent: true });
      return { rows, firstRecent };
    },
    /**
     * What a session needs to (re)build its view of a mailbox, in ONE statement (SELECT, EXAMINE).
     * From nothing (`afterUid` 0, no `changedSince`): every message. Only `afterUid`: the messages
     * above it. From a view that has every change up to modseq `changedSince` and UIDs up to
     * `afterUid` (`refreshView`): what changed since, read from the change log, not from every row.
     * `modseq`: every change up to it is in the answer (the user's change counter as the statement
     * saw it: a user's writes take modseqs under the user's row lock until they commit, so a change
     * not yet committed has a modseq above every committed one).
     * `firstRecent`: the first \Recent UID as it was; with `claimRecent` (a read-write IMAP4rev1
     * SELECT) the session claims what is recent up to the last UID: the mailbox row is locked and
     * written only when there is something to claim (so a SELECT with nothing new writes nothing).
     * null when the mailbox is not the user's.
     */
    async syncMessages(userId: number, mailboxId: number, options: { afterUid?: number; claimRecent: boolean }): Promise<{ rows: ImapMessageRow[]; modseq: number; firstRecent: number | null }> {
      const afterUid = options.afterUid ?? 0;
      const { rows } = await sql<SyncRow>`${PREPARED}
        WITH listed AS (SELECT id, uid, modseq, flags, internal_date, internal_date_zone, size, sent_date FROM messages WHERE user_id = ${userId} AND mailbox_id = ${mailboxId} AND uid > ${afterUid}),
        ${recentClaim(userId, mailboxId, afterUid, options.claimRecent)}
        SELECT (SELECT first_recent FROM recent) AS first_recent, (SELECT modseq FROM users WHERE id = ${userId}) AS synced, listed.*
        FROM (SELECT 1) one LEFT JOIN listed ON true ORDER BY listed.uid`.execute(db);
      return { rows: syncedRows(rows), modseq: Number(rows[0]?.synced ?? 0), firstRecent: firstRecentOf(rows) };
    },
    /**
     * A view's refresh, in ONE statement: from the user's change log after `changedSince` (at most
     * `maxChanges` entries), the UIDs up to `afterUid` that left the mailbox (`gone`: expunged or
     * moved out), and the rows of the messages that came in or changed, with those above `afterUid`;
     * `total`: how many messages the mailbox has, read in the same snapshot (the refreshed view must
     * have as many). `gone` is null when more than `maxChanges` changes were made since: read the
     * whole mailbox instead. It costs what changed, not what the mailbox holds. `modseq`,
     * `firstRecent` and `claimRecent` as in `syncMessages`.
     */
    async refreshView(
      userId: number,
      mailboxId: number,
      options: { afterUid: number; changedSince: number; claimRecent: boolean; maxChanges: number },
    ): Promise<{ rows: ImapMessageRow[]; gone: number[] | null; total: number; modseq: number; firstRecent: number | null }> {
      const { afterUid, changedSince } = options;
      const { rows } = await sql<SyncRow & { gone: string | null; overflow: boolean; total: string | null }>`${PREPARED}
        WITH log AS MATERIALIZED (
          SELECT kind, mailbox_id, message_id, uid, payload FROM changes
          WHERE user_id = ${userId} AND modseq > ${changedSince} ORDER BY modseq LIMIT ${options.maxChanges + 1}
        ),
        gone AS (
          SELECT uid FROM log WHERE kind = 'message.deleted' AND mailbox_id = ${mailboxId} AND uid <= ${afterUid}
          UNION
          SELECT (payload->>'fromUid')::bigint FROM log
          WHERE kind = 'message.moved' AND (payload->>'fromMailboxId')::bigint = ${mailboxId} AND (payload->>'fromUid')::bigint <= ${afterUid}
        ),
        listed AS (
          SELECT id, uid, modseq, flags, internal_date, internal_date_zone, size, sent_date FROM messages WHERE user_id = ${userId} AND mailbox_id = ${mailboxId} AND uid > ${afterUid}
          UNION
          SELECT id, uid, modseq, flags, internal_date, internal_date_zone, size, sent_date FROM messages
          WHERE user_id = ${userId} AND mailbox_id = ${mailboxId}
            AND id IN (SELECT message_id FROM log WHERE mailbox_id = ${mailboxId} AND kind IN ('message.new', 'message.flags', 'message.moved'))
        ),
        ${recentClaim(userId, mailboxId, afterUid, options.claimRecent)}
        SELECT
          (SELECT first_recent FROM recent) AS first_recent,
          (SELECT modseq FROM users WHERE id = ${userId}) AS synced,
          (SELECT string_agg(uid::text, ',' ORDER BY uid) FROM gone) AS gone,
          (SELECT count(*) FROM log) > ${options.maxChanges} AS overflow,
          (SELECT message_count FROM mailboxes WHERE user_id = ${userId} AND id = ${mailboxId}) AS total,
          listed.*
        FROM (SELECT 1) one LEFT JOIN listed ON true ORDER BY listed.uid`.execute(db);
      const first = rows[0];
      return {
        rows: syncedRows(rows),
        gone: first?.overflow ? null : first?.gone ? first.gone.split(',').map(Number) : [],
        total: Number(first?.total ?? 0),
        modseq: Number(first?.synced ?? 0),
        firstRecent: firstRecentOf(rows),
      };
    },
    /** The first recent UID and how many messages are at or above it. */
    async recent(userId: number, mailboxId: number): Promise<{ firstUid: number; count: number }> {
      const { rows } = await sql<{ first: string; count: string }>`${PREPARED}
        SELECT b.imap_first_recent_uid AS first,
               (SELECT count(*) FROM messages m WHERE m.user_id = b.user_id AND m.mailbox_id = b.id AND m.uid >= b.imap_first_recent_uid) AS count
        FROM mailboxes b WHERE b.user_id = ${userId} AND b.id = ${mailboxId}`.execute(db);
      return rows[0] ? { firstUid: Number(rows[0].first), count: Number(rows[0].count) } : { firstUid: 1, count: 0 };
    },
    /**
     * UIDs of the user's messages in this mailbox whose `field` contains `text` (case-insensitive),
     * in order; with `uids`, only those above `after` and up to `upTo`.
     */
    async uidsMatchingText(userId: number, mailboxId: number, field: ImapTextField, text: string, uids?: { after: number; upTo: number }): Promise<number[]> {
      const pattern = likeLiteral(text);
      const columns = field === 'text' ? ['from_text', 'to_text', 'cc_text', 'subject', 'body_text'] : [textColumn[field]];
      const { rows } = await sql<{ uid: number }>`${PREPARED}
        SELECT uid FROM messages
        WHERE user_id = ${userId} AND mailbox_id = ${mailboxId} AND uid > ${uids?.after ?? 0} AND uid <= ${uids?.upTo ?? 2 ** 53}::bigint
          AND (${sql.join(columns.map((c) => sql`${sql.ref(c)} ILIKE ${pattern}`), sql` OR `)})
        ORDER BY uid`.execute(db);
      return rows.map((r) => Number(r.uid));
    },
  };
}
export type ImapRepository = ReturnType<typeof createImapRepository>;

/** A row of the SELECT statements: the view's columns (null on the one row of an empty answer) and the values on every row. */
type SyncRow = { first_recent: string | null; synced: string | null; id: number | null; uid: number; modseq: number; flags: string[]; internal_date: Date; internal_date_zone: number; size: number; sent_date: Date | null };

function syncedRows(rows: readonly SyncRow[]): ImapMessageRow[] {
  return rows.flatMap((r) => (r.id === null ? [] : [{ id: r.id, uid: r.uid, modseq: r.modseq, flags: r.flags, internalDate: new Date(r.internal_date), internalDateZone: r.internal_date_zone, size: r.size, sentDate: r.sent_date }]));
}

function firstRecentOf(rows: readonly SyncRow[]): number | null {
  const first = rows[0]?.first_recent;
  return first === null || first === undefined ? null : Number(first);
}

/**
 * The \Recent part of the SELECT statements, after a `listed` CTE (the rows the session is given):
 * `recent.first_recent`, the first recent UID as it was. With `claim`, the session claims what is
 * recent up to just above the last UID it knows (`listed`'s or `afterUid`): the mailbox row is
 * locked and written only when there is something to claim. Without, the value is only read.
 */
function recentClaim(userId: number, mailboxId: number, afterUid: number, claim: boolean) {
  return sql`
        box AS (SELECT id, imap_first_recent_uid AS first FROM mailboxes WHERE user_id = ${userId} AND id = ${mailboxId}),
        up AS (SELECT GREATEST(COALESCE(max(uid), 0), ${afterUid}) + 1 AS to FROM listed),
        old AS (
          SELECT b.id, b.imap_first_recent_uid AS first FROM mailboxes b
          WHERE ${claim} AND b.user_id = ${userId} AND b.id = ${mailboxId} AND b.imap_first_recent_uid < (SELECT up.to FROM up)
          FOR UPDATE
        ),
        claimed AS (UPDATE mailboxes b SET imap_first_recent_uid = up.to FROM old, up WHERE b.id = old.id AND old.first < up.to),
        -- Claimed: the value under the lock. Else, when claiming, nothing below up.to is recent for this session any more.
        recent AS (SELECT COALESCE((SELECT first FROM old), CASE WHEN ${claim} THEN GREATEST(box.first, up.to) ELSE box.first END) AS first_recent FROM box, up)`;
}
