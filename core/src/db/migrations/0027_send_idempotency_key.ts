import { sql, type Kysely } from 'kysely';

/**
 * A send's idempotency key (the `Idempotency-Key` header of POST /api/messages/send): a client
 * that got no answer, or a 5xx, sends again with the same key and gets the message it already
 * sent instead of a second copy. That happens when the row's commit reached the disk but its answer
 * did not reach the backend (PostgreSQL killed at that moment): the backend answered 503 for a
 * message that was stored and is sent. One key per user; a key lives as long as its row (the
 * outbound retention purge deletes ended rows).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE scheduled_sends ADD COLUMN idempotency_key text CHECK (char_length(idempotency_key) BETWEEN 1 AND 255)`.execute(db);
  await sql`CREATE UNIQUE INDEX scheduled_sends_user_idempotency_key ON scheduled_sends (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL`.execute(db);
}
