import { sql } from 'kysely';
import type { DbOrTx } from '../db/client.js';
import type { ScheduledSendStatus } from '../db/schema.js';
import { blobHash, createBlobRepository } from './blob.repository.js';

/**
 * Messages held before they go (migration 0010): undo send and scheduled send, and the user's
 * undo delay. Every query is scoped by owner except the dispatcher's, which works by row id under
 * a row lock (`lockPending`) so that a row is sent once whoever races for it.
 */

export interface ScheduledSendRow {
  id: number;
  userId: number;
  blobHash: Buffer;
  /** The fields as composed (DraftInput plus draftId). */
  input: Record<string, unknown>;
  recipients: string[];
  mailFrom: string;
  dkimDomain: string | null;
  draftId: number | null;
  sendAt: Date;
  status: ScheduledSendStatus;
  error: string | null;
  sentMessageId: number | null;
  outboundId: number | null;
}

export interface NewScheduledSend {
  userId: number;
  raw: Buffer;
  input: Record<string, unknown>;
  recipients: string[];
  mailFrom: string;
  dkimDomain: string | null;
  draftId: number | null;
  /** A time, or a hold from now by the database's clock (the one the dispatcher checks). */
  sendAt: Date | { holdSeconds: number };
  /** The client's Idempotency-Key (migration 0027): at most one row per user and key. */
  idempotencyKey?: string | null;
}

const columns = [
  'id',
  'user_id',
  'blob_hash',
  'input',
  'recipients',
  'mail_from',
  'dkim_domain',
  'draft_id',
  'send_at',
  'status',
  'error',
  'sent_message_id',
  'outbound_id',
] as const;

type Row = {
  id: number;
  user_id: number;
  blob_hash: Buffer;
  input: Record<string, unknown>;
  recipients: string[];
  mail_from: string;
  dkim_domain: string | null;
  draft_id: number | null;
  send_at: Date;
  status: ScheduledSendStatus;
  error: string | null;
  sent_message_id: number | null;
  outbound_id: number | null;
};

function toRow(r: Row): ScheduledSendRow {
  return {
    id: r.id,
    userId: r.user_id,
    blobHash: r.blob_hash,
    input: r.input,
    recipients: r.recipients,
    mailFrom: r.mail_from,
    dkimDomain: r.dkim_domain,
    draftId: r.draft_id,
    sendAt: r.send_at,
    status: r.status,
    error: r.error,
    sentMessageId: r.sent_message_id,
    outboundId: r.outbound_id,
  };
}

export function createScheduledSendRepository(db: DbOrTx) {
  return {
    /**
     * Stores the bytes (a blob) and the row; returns the row. With an idempotency key the user
     * already holds a row for, stores nothing and returns null (read that row with `byIdempotencyKey`).
     */
    async insert(send: NewScheduledSend): Promise<ScheduledSendRow | null> {
      const hash = blobHash(send.raw);
      await createBlobRepository(db).putMany([{ hash, data: send.raw }]);
      const row = await db
        .insertInto('scheduled_sends')
        .values({
          user_id: send.userId,
          blob_hash: hash,
          input: JSON.stringify(send.input),
          recipients: send.recipients,
          mail_from: send.mailFrom,
          dkim_domain: send.dkimDomain,
          draft_id: send.draftId,
          send_at: send.sendAt instanceof Date ? send.sendAt : sql<Date>`now() + make_interval(secs => ${send.sendAt.holdSeconds})`,
          idempotency_key: send.idempotencyKey ?? null,
        })
        .onConflict((oc) => oc.columns(['user_id', 'idempotency_key']).where('idempotency_key', 'is not', null).doNothing())
        .returning(columns)
        .executeTakeFirst();
      return row ? toRow(row) : null;
    },

    /** The user's send made with this Idempotency-Key, if any (until the retention purge deletes it). */
    async byIdempotencyKey(userId: number, key: string): Promise<ScheduledSendRow | null> {
      const row = await db.selectFrom('scheduled_sends').select(columns).where('user_id', '=', userId).where('idempotency_key', '=', key).executeTakeFirst();
      return row ? toRow(row) : null;
    },

    async get(userId: number, id: number): Promise<ScheduledSendRow | null> {
      const row = await db.selectFrom('scheduled_sends').select(columns).where('user_id', '=', userId).where('id', '=', id).executeTakeFirst();
      return row ? toRow(row) : null;
    },

    /** The user's pending sends, soonest first. */
    async listPending(userId: number, limit = 200): Promise<ScheduledSendRow[]> {
      const rows = await db
        .selectFrom('scheduled_sends')
        .select(columns)
        .where('user_id', '=', userId)
        .where('status', '=', 'pending')
        .orderBy('send_at')
        .orderBy('id')
        .limit(limit)
        .execute();
      return rows.map(toRow);
    },

    /** Pending → cancelled; null when the row is not the user's or no longer pending. */
    async cancel(userId: number, id: number): Promise<ScheduledSendRow | null> {
      const row = await db
        .updateTable('scheduled_sends')
        .set({ status: 'cancelled', updated_at: sql`now()` })
        .where('user_id', '=', userId)
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .returning(columns)
        .executeTakeFirst();
      return row ? toRow(row) : null;
    },

    /** The dispatcher's read, by id (the row names its owner), before it locks the row. */
    async getPending(id: number): Promise<ScheduledSendRow | null> {
      const row = await db.selectFrom('scheduled_sends').select(columns).where('id', '=', id).where('status', '=', 'pending').executeTakeFirst();
      return row ? toRow(row) : null;
    },

    /**
     * Inside the dispatcher's transaction: the row, locked, if it is still pending, with whether
     * it is due by the database's clock. A second dispatcher waits here, then finds it sent.
     */
    async lockPending(id: number): Promise<{ row: ScheduledSendRow; due: boolean } | null> {
      const row = await db
        .selectFrom('scheduled_sends')
        .select([...columns, sql<boolean>`send_at <= now()`.as('due')])
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .forUpdate()
        .executeTakeFirst();
      return row ? { row: toRow(row), due: row.due } : null;
    },

    async loadBytes(row: ScheduledSendRow): Promise<Buffer | null> {
      return createBlobRepository(db).get(row.blobHash);
    },

    async markSent(id: number, sentMessageId: number, outboundId: number): Promise<void> {
      await db
        .updateTable('scheduled_sends')
        .set({ status: 'sent', sent_message_id: sentMessageId, outbound_id: outboundId, updated_at: sql`now()` })
        .where('id', '=', id)
        .execute();
    },

    /** Pending → failed with the reason (a recipient vanished meanwhile); false if no longer pending. */
    async markFailed(id: number, error: string): Promise<boolean> {
      const result = await db
        .updateTable('scheduled_sends')
        .set({ status: 'failed', error, updated_at: sql`now()` })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    /** Ids of pending rows due for more than `graceMs` (their job should have run): the reconciler's list. */
    async listOverdue(graceMs: number, limit = 500): Promise<number[]> {
      const rows = await db
        .selectFrom('scheduled_sends')
        .select('id')
        .where('status', '=', 'pending')
        .where('send_at', '<=', sql<Date>`now() - make_interval(secs => ${graceMs / 1000})`)
        .orderBy('send_at')
        .limit(limit)
        .execute();
      return rows.map((r) => r.id);
    },

    /**
     * One batch of the retention purge (core/src/housekeeping/outbound-purge.task.ts): deletes up
     * to `limit` held sends that ended (sent, cancelled, failed) before `endedBefore`, so their
     * bytes can go. Nothing shows an ended send any more (a cancelled one reopened in the compose
     * window when it was cancelled; a sent one's status is its outbound record's). Returns how many.
     */
    async purgeEnded(endedBefore: Date, limit: number): Promise<number> {
      const result = await db
        .deleteFrom('scheduled_sends')
        .where('id', 'in', (eb) =>
          eb.selectFrom('scheduled_sends').select('id').where('status', '<>', 'pending').where('updated_at', '<', endedBefore).orderBy('updated_at').limit(limit),
        )
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    async undoSendSeconds(userId: number): Promise<number> {
      const row = await db.selectFrom('users').select('undo_send_seconds').where('id', '=', userId).executeTakeFirst();
      return row?.undo_send_seconds ?? 0;
    },

    async setUndoSendSeconds(userId: number, seconds: number): Promise<void> {
      await db.updateTable('users').set({ undo_send_seconds: seconds, updated_at: sql`now()` }).where('id', '=', userId).execute();
    },
  };
}
export type ScheduledSendRepository = ReturnType<typeof createScheduledSendRepository>;
