import { sql, type Kysely } from 'kysely';

/**
 * Newest-first across all of a user's folders (search without free text, filters like
 * is:unread or has:attachment): without this index PostgreSQL read and sorted all of the user's
 * mail to return 50 rows (bench/README.md, "API").
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX IF NOT EXISTS messages_user_date ON messages (user_id, internal_date DESC, id DESC)`.execute(db);
}
