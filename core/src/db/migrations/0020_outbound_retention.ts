import { sql, type Kysely } from 'kysely';

/**
 * Outbound retention (core/src/housekeeping/outbound-purge.task.ts).
 *
 * - `outbound_messages.blob_hash` may be NULL: a message whose every recipient was settled more
 *   than OUTBOUND_RETENTION_DAYS ago lets go of its bytes (the blob reclaim then frees them unless
 *   the Sent copy or another message still holds them), while the row, its deliveries and their
 *   log stay: they are the delivery status the Sent view and the admin queue show.
 * - `outbound_messages_unpurged`: the messages still holding bytes, oldest first, for the purge.
 *   Partial, so a purged row leaves it and each run looks only at what may still be purged.
 * - `scheduled_sends_finished`: held sends that are over (sent, cancelled, failed) by when they
 *   ended; the purge deletes those past the retention time (nothing shows them any more).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE outbound_messages ALTER COLUMN blob_hash DROP NOT NULL;
    CREATE INDEX IF NOT EXISTS outbound_messages_unpurged ON outbound_messages (created_at) WHERE blob_hash IS NOT NULL;
    CREATE INDEX IF NOT EXISTS scheduled_sends_finished ON scheduled_sends (updated_at) WHERE status <> 'pending';
  `.execute(db);
}
