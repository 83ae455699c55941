import { sql, type Kysely } from 'kysely';

/** When a message entered its mailbox (trash purge, "moved" ordering), and per-user contacts. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE messages ADD COLUMN moved_at timestamptz NOT NULL DEFAULT now();
    CREATE INDEX messages_mailbox_moved ON messages (mailbox_id, moved_at);

    -- People a user writes to and hears from: recipient suggestions ranked by both counts.
    CREATE TABLE contacts (
      user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      address text NOT NULL,
      name text NOT NULL DEFAULT '',
      sent_count integer NOT NULL DEFAULT 0,
      received_count integer NOT NULL DEFAULT 0,
      last_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (user_id, address)
    );
  `.execute(db);
}
