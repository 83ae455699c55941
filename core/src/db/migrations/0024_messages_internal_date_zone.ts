import { sql, type Kysely } from 'kysely';

/**
 * Keeps the zone a message's INTERNALDATE was given in (IMAP APPEND's date-time, RFC 3501): minutes
 * east of UTC, 0 for mail received here (the server states its times in UTC). FETCH INTERNALDATE
 * answers in that zone, and SEARCH BEFORE/ON/SINCE compare its calendar day there ("disregarding
 * time and timezone"), as a client that appended the message expects. A constant default: existing
 * rows are not rewritten.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE messages ADD COLUMN internal_date_zone smallint NOT NULL DEFAULT 0 CHECK (internal_date_zone BETWEEN -1439 AND 1439)`.execute(db);
}
