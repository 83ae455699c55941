import { CompiledQuery, sql, type Selectable } from 'kysely';
import { type DbOrTx, PREPARED, PREPARED_TEXT } from '../db/client.js';
import type { AuthenticationJson, FilterDecisionJson, SpoolStatus, SpoolTable, SpoolVerdict } from '../db/schema.js';
import { asBase64, blobHash, blobRowsOf, bytesOf } from './blob.repository.js';

export interface SpoolInput {
  raw: Buffer;
  mailFrom: string;
  rcptTo: string[];
  remoteIp: string | null;
  helo: string | null;
  tls: boolean;
  traceHeaders: string;
  /** The MX's SPF/DKIM/DMARC/ARC results; absent when not checked. */
  authentication?: AuthenticationJson | null;
  /** The spam filter's decision (core/src/mail/spam/score.ts); absent when not judged. */
  filter?: FilterDecisionJson | null;
  /** Where the filer puts it; the Inbox when absent. */
  verdict?: SpoolVerdict;
}

export interface SpoolRow {
  id: number;
  blobHash: Buffer;
  mailFrom: string;
  rcptTo: string[];
  remoteIp: string | null;
  traceHeaders: string;
  authentication: AuthenticationJson | null;
  filter: FilterDecisionJson | null;
  verdict: SpoolVerdict;
  status: SpoolStatus;
  attempts: number;
  receivedAt: Date;
}

/** A spool row filed: how many runs it took, and the filer's note (recipients no longer local). */
export interface SpoolDoneMark {
  id: number;
  note: string | null;
  attempts: number;
}

/** A `spool` table row as the filer reads it. */
function spoolRowOf(r: Selectable<SpoolTable>): SpoolRow {
  return {
    id: r.id,
    blobHash: r.blob_hash,
    mailFrom: r.mail_from,
    rcptTo: r.rcpt_to,
    remoteIp: r.remote_ip,
    traceHeaders: r.trace_headers,
    authentication: r.authentication,
    filter: r.filter,
    verdict: r.verdict,
    status: r.status,
    attempts: r.attempts,
    receivedAt: r.received_at,
  };
}

/** The spool columns `insertMany` writes, in the order of its parameters. */
const SPOOL_INSERT_COLUMNS = ['blob_hash', 'mail_from', 'rcpt_to', 'remote_ip', 'helo', 'tls', 'trace_headers', 'authentication', 'filter', 'verdict'] as const;
const spoolInsertTexts = new Map<string, string>();

/**
 * The text of `insertMany`'s one statement for `blobCount` blob rows and `rowCount` spool rows,
 * built once per pair of counts (the MX inserts one message per commit at rest, a few under load)
 * instead of by the query builder on every commit: the blobs in a data-modifying CTE, then the rows.
 */
function spoolInsertText(blobCount: number, rowCount: number): string {
  const key = `${blobCount}:${rowCount}`;
  let text = spoolInsertTexts.get(key);
  if (text) return text;
  let n = 0;
  const tuple = (width: number) => `(${Array.from({ length: width }, () => `$${++n}`).join(', ')})`;
  const blobValues = Array.from({ length: blobCount }, () => tuple(3)).join(', ');
  const rowValues = Array.from({ length: rowCount }, () => tuple(SPOOL_INSERT_COLUMNS.length)).join(', ');
  text =
    `${PREPARED_TEXT}WITH stored_blobs AS (INSERT INTO blobs (hash, size, data) VALUES ${blobValues} ON CONFLICT (hash) DO NOTHING) ` +
    `INSERT INTO spool (${SPOOL_INSERT_COLUMNS.join(', ')}) VALUES ${rowValues} RETURNING id`;
  // Batches are at most the writer's batch size; the bound only keeps a pathological mix of sizes from growing it.
  if (spoolInsertTexts.size >= 512) spoolInsertTexts.clear();
  spoolInsertTexts.set(key, text);
  return text;
}

export function createSpoolRepository(db: DbOrTx) {
  return {
    /**
     * Writes blobs and spool rows for a batch of accepted messages in ONE statement (the blobs in
     * a data-modifying CTE): atomic by itself, so a batch is durable as a whole before any client
     * hears 250, in one round trip and without BEGIN/COMMIT. Returns the ids in the items' order.
     */
    async insertMany(items: SpoolInput[]): Promise<number[]> {
      if (items.length === 0) return [];
      const hashed = items.map((item) => ({ item, hash: blobHash(item.raw) }));
      const blobs = blobRowsOf(hashed.map((h) => ({ hash: h.hash, data: h.item.raw })));
      const params: unknown[] = [];
      for (const b of blobs) params.push(b.hash, b.size, b.data);
      for (const { item, hash } of hashed) {
        params.push(
          hash,
          item.mailFrom,
          item.rcptTo,
          item.remoteIp,
          item.helo,
          item.tls,
          item.traceHeaders,
          item.authentication ? JSON.stringify(item.authentication) : null,
          item.filter ? JSON.stringify(item.filter) : null,
          item.verdict ?? 'inbox',
        );
      }
      // Already compiled: plugins' transformQuery (tests' countingDb) does not see this statement.
      const { rows } = await db.executeQuery<{ id: number }>(CompiledQuery.raw(spoolInsertText(blobs.length, items.length), params));
      // The ids come from a sequence as the VALUES rows are inserted, in order: ascending is the items' order.
      return rows.map((r) => r.id).sort((a, b) => a - b);
    },
    async get(id: number): Promise<SpoolRow | null> {
      const r = await db.selectFrom('spool').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? spoolRowOf(r) : null;
    },
    /**
     * Spool rows with their bytes, in ONE query (the inbound worker loads the rows of the jobs it
     * is running together this way). Rows that do not exist are absent; `raw` is null when the
     * blob is missing.
     */
    async getManyWithBlobs(ids: readonly number[]): Promise<Map<number, SpoolRow & { raw: Buffer | null }>> {
      if (ids.length === 0) return new Map();
      const rows = await db
        .selectFrom('spool')
        .leftJoin('blobs', 'blobs.hash', 'spool.blob_hash')
        .selectAll('spool')
        .select(asBase64('blobs.data').as('data'))
        .where('spool.id', '=', sql<number>`ANY(${[...ids]}::bigint[])`)
        .execute();
      return new Map(rows.map((r) => [r.id, { ...spoolRowOf(r), raw: bytesOf(r.data) }]));
    },
    /**
     * Rows filed, in one statement: `attempts` is how many runs it took (the queue counts them; one
     * write, not one per run), `note` what the filer has to say. The filer runs it inside the
     * transaction that files the rows. Rows already finished are left alone.
     */
    async markDoneMany(rows: readonly SpoolDoneMark[]): Promise<void> {
      if (rows.length === 0) return;
      await sql`${PREPARED}
        UPDATE spool SET status = 'done', processed_at = now(), error = v.note, attempts = v.attempts
        FROM (SELECT unnest(${rows.map((r) => r.id)}::bigint[]) AS id, unnest(${rows.map((r) => r.note)}::text[]) AS note, unnest(${rows.map((r) => r.attempts)}::int[]) AS attempts) AS v
        WHERE spool.id = v.id AND spool.status = 'pending'
      `.execute(db);
    },
    /**
     * The messages filed from a spool row, where each is now (`spool_filings`; those deleted since
     * are left out): what the filer announces again when a job comes back for a row already done.
     */
    async filedMessages(spoolId: number): Promise<Array<{ userId: number; messageId: number; mailboxId: number; uid: number; modseq: number; threadId: number }>> {
      const rows = await db
        .selectFrom('spool_filings as f')
        .innerJoin('messages as m', (join) => join.onRef('m.id', '=', 'f.message_id').onRef('m.user_id', '=', 'f.user_id'))
        .select(['f.user_id', 'm.id', 'm.mailbox_id', 'm.uid', 'm.modseq', 'm.thread_id'])
        .where('f.spool_id', '=', spoolId)
        .orderBy('f.user_id')
        .execute();
      return rows.map((r) => ({ userId: r.user_id, messageId: r.id, mailboxId: r.mailbox_id, uid: r.uid, modseq: r.modseq, threadId: r.thread_id }));
    },
    async markFailed(id: number, error: string, attempts = 1): Promise<void> {
      await db.updateTable('spool').set({ status: 'failed', processed_at: new Date(), error, attempts }).where('id', '=', id).execute();
    },
    /** How many rows are committed but not filed (the backlog /metrics reports). */
    async countPending(): Promise<number> {
      const row = await db.selectFrom('spool').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'pending').executeTakeFirstOrThrow();
      return Number(row.n);
    },
    /**
     * Deletes up to `limit` rows filed (done) before `filedBefore`, oldest first, with their
     * `spool_filings` (cascade): once done, the filer skips a row, so nothing needs them. Pending
     * and failed rows stay. Returns how many went.
     */
    async purgeDone(filedBefore: Date, limit: number): Promise<number> {
      const result = await sql`
        DELETE FROM spool WHERE id IN (
          SELECT id FROM spool WHERE status = 'done' AND processed_at < ${filedBefore} ORDER BY processed_at LIMIT ${limit}
        )`.execute(db);
      return Number(result.numAffectedRows ?? 0);
    },
    /** Rows by status (/metrics). */
    async countByStatus(): Promise<Record<SpoolStatus, number>> {
      const { rows } = await sql<{ status: SpoolStatus; n: string }>`SELECT status, count(*) AS n FROM spool GROUP BY status`.execute(db);
      const counts: Record<SpoolStatus, number> = { pending: 0, done: 0, failed: 0 };
      for (const r of rows) counts[r.status] = Number(r.n);
      return counts;
    },
    /** Pending rows received before `olderThan`: committed but not (yet) filed. */
    async listPending(olderThan: Date, limit: number): Promise<number[]> {
      const rows = await db.selectFrom('spool').select('id').where('status', '=', 'pending').where('received_at', '<', olderThan).orderBy('received_at').limit(limit).execute();
      return rows.map((r) => r.id);
    },
  };
}
export type SpoolRepository = ReturnType<typeof createSpoolRepository>;
