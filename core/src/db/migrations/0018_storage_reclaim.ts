import { sql, type Kysely } from 'kysely';

/**
 * Storage reclaim (core/src/housekeeping/blob-reclaim.task.ts, spool-purge.task.ts).
 *
 * - An index on `blob_hash` in every table that references `blobs(hash)`. Deleting a blob makes
 *   PostgreSQL check each foreign key (the safety net: a referenced blob can never go), and the
 *   reclaim's own NOT EXISTS asks the same; without these each deleted blob would scan `messages`.
 *   The price: one more B-tree entry per message and per spool row written.
 * - `spool_finished`: filed rows by when they were filed, for the purge. Partial: a pending row
 *   (every row as the MX inserts it) has no entry; it gets one when it is marked done, an update
 *   that already rewrites the row's index entries (the status is in `spool_pending`'s predicate).
 * - `messages.spool_id` stops being a foreign key: it stays as provenance (which accepted message a
 *   row was filed from) after the spool row is purged. As `ON DELETE SET NULL` it would make every
 *   purge rewrite each message filed from the purged rows (a new row version in every index of
 *   `messages`, search indexes included) and would need a further index on `messages` to find them.
 *   Nothing reads it as a reference: exactly-once filing is `spool_filings`.
 *
 * Plain CREATE INDEX, not CONCURRENTLY: migrations run in one transaction (CONCURRENTLY cannot),
 * before the services start (compose's `migrate` runs first), so the write lock the build holds
 * blocks nobody. On a large store an operator may build them beforehand, online, with
 * `CREATE INDEX CONCURRENTLY IF NOT EXISTS` under these names; this migration then skips them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE INDEX IF NOT EXISTS messages_blob_hash ON messages (blob_hash);
    CREATE INDEX IF NOT EXISTS spool_blob_hash ON spool (blob_hash);
    CREATE INDEX IF NOT EXISTS outbound_messages_blob_hash ON outbound_messages (blob_hash);
    CREATE INDEX IF NOT EXISTS scheduled_sends_blob_hash ON scheduled_sends (blob_hash);
    CREATE INDEX IF NOT EXISTS spool_finished ON spool (processed_at) WHERE status = 'done';
    ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_spool_id_fkey;
  `.execute(db);
}
