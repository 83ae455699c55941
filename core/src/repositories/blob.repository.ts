import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { DbOrTx } from '../db/client.js';

export function blobHash(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

/**
 * Message bytes (`bytea`) selected as base64 text: `asBase64('blobs.data').as('data')`, or
 * `encode(b.data, 'base64')` in raw SQL, then `bytesOf`. node-postgres receives a bytea as hex
 * text, twice the bytes, and turns it into a string and then into bytes, slowly; base64 is a third
 * shorter and decodes several times faster (node-postgres' CPU for a 38 KB message 487 → 198 µs,
 * 270 KB 2,854 → 1,702; PostgreSQL's 5–10 % lower too: bench/README.md, "Session 18"). Every
 * read of message bytes goes this way; writes send bytes as they are (binary parameters).
 */
export function asBase64(column: string) {
  return sql<string>`encode(${sql.ref(column)}, 'base64')`;
}

/** The bytes of an `asBase64` column (PostgreSQL's line breaks are skipped by the decoder). */
export function bytesOf(base64: string): Buffer;
export function bytesOf(base64: string | null): Buffer | null;
export function bytesOf(base64: string | null): Buffer | null {
  return base64 === null ? null : Buffer.from(base64, 'base64');
}

/**
 * The `blobs` rows for a set of blobs: one per hash, in a fixed order (by hash) so that two
 * writers inserting overlapping sets cannot deadlock. Also used by the spool's one-statement insert.
 */
export function blobRowsOf(blobs: ReadonlyArray<{ hash: Buffer; data: Buffer }>): Array<{ hash: Buffer; size: number; data: Buffer }> {
  const unique = new Map(blobs.map((b) => [b.hash.toString('hex'), b]));
  return [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, b]) => ({ hash: b.hash, size: b.data.length, data: b.data }));
}

/** Raw message bytes, stored once per content hash. */
export function createBlobRepository(db: DbOrTx) {
  return {
    /** Stores every blob not yet present, in one statement. */
    async putMany(blobs: Array<{ hash: Buffer; data: Buffer }>): Promise<void> {
      if (blobs.length === 0) return;
      await db
        .insertInto('blobs')
        .values(blobRowsOf(blobs))
        .onConflict((oc) => oc.column('hash').doNothing())
        .execute();
    },
    async get(hash: Buffer): Promise<Buffer | null> {
      const row = await db.selectFrom('blobs').select(asBase64('data').as('data')).where('hash', '=', hash).executeTakeFirst();
      return row ? bytesOf(row.data) : null;
    },
    /**
     * One step of the reclaim walk (core/src/housekeeping/blob-reclaim.task.ts): takes the next
     * `limit` blobs by hash after `after` and deletes those created before `createdBefore` that no
     * message, spool row, outbound message or held send references. The NOT EXISTS are part of the
     * DELETE, and the foreign keys check again when it ends (a reference committed meanwhile makes
     * it fail with 23503, deleting nothing). `last` is where the next step starts, null at the end.
     */
    async reclaimStep(after: Buffer, createdBefore: Date, limit: number): Promise<{ last: Buffer | null; deleted: number; bytes: number }> {
      const { rows } = await sql<{ last: Buffer | null; deleted: string; bytes: string }>`
        WITH chunk AS (
          SELECT hash FROM blobs WHERE hash > ${after} ORDER BY hash LIMIT ${limit}
        ), gone AS (
          DELETE FROM blobs b USING chunk
          WHERE b.hash = chunk.hash AND b.created_at < ${createdBefore}
            AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob_hash = b.hash)
            AND NOT EXISTS (SELECT 1 FROM spool s WHERE s.blob_hash = b.hash)
            AND NOT EXISTS (SELECT 1 FROM outbound_messages o WHERE o.blob_hash = b.hash)
            AND NOT EXISTS (SELECT 1 FROM scheduled_sends h WHERE h.blob_hash = b.hash)
          RETURNING b.size
        )
        SELECT (SELECT max(hash) FROM chunk) AS last, (SELECT count(*) FROM gone) AS deleted, (SELECT coalesce(sum(size), 0) FROM gone) AS bytes`.execute(db);
      const row = rows[0]!;
      return { last: row.last, deleted: Number(row.deleted), bytes: Number(row.bytes) };
    },
    /** How many blobs are stored and their bytes (a scan of the table: the reclaim task reports it). */
    async totals(): Promise<{ blobs: number; bytes: number }> {
      const { rows } = await sql<{ blobs: string; bytes: string }>`SELECT count(*) AS blobs, coalesce(sum(size), 0) AS bytes FROM blobs`.execute(db);
      return { blobs: Number(rows[0]!.blobs), bytes: Number(rows[0]!.bytes) };
    },
  };
}
export type BlobRepository = ReturnType<typeof createBlobRepository>;
