import { sql, type Kysely } from 'kysely';

/**
 * The user's plain-text signature, which the webmail's compose inserts under a `-- ` line in new
 * mail, replies and forwards ('' for none). Their display name (the From name of mail they send)
 * was already `users.display_name`. Capped at 2,000 characters, as the API accepts.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE users ADD COLUMN signature text NOT NULL DEFAULT '' CHECK (char_length(signature) <= 2000)`.execute(db);
}
