import { sql, type Kysely } from 'kysely';

/**
 * Threading by Message-ID through one indexed lookup table instead of an array search over all
 * messages (`references @> ARRAY[...]` made PostgreSQL scan every user's mail once the table
 * grew). Every filed message maps its own Message-ID and the ids it refers to onto its thread.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE thread_keys (
      user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      message_id_ref text NOT NULL,
      thread_id bigint NOT NULL,
      PRIMARY KEY (user_id, message_id_ref)
    );
    INSERT INTO thread_keys (user_id, message_id_ref, thread_id)
      SELECT user_id, ref, min(thread_id) FROM (
        SELECT user_id, message_id_header AS ref, thread_id FROM messages WHERE message_id_header IS NOT NULL
        UNION ALL
        SELECT user_id, unnest("references"), thread_id FROM messages
      ) keys
      GROUP BY user_id, ref;
    DROP INDEX IF EXISTS messages_references;
  `.execute(db);
}
