import { sql, type Kysely } from 'kysely';

/**
 * The rows filing writes per message stop checking their user's row (issue #14).
 *
 * A foreign key makes PostgreSQL run `SELECT 1 FROM users WHERE id = $1 FOR KEY SHARE` for every
 * row inserted: ~6 a filed message (the message, its change-log row, its thread keys, its search
 * queue row, its spool filing), the costliest statement of a filing after the INSERTs themselves
 * (bench/README.md, "What is left (issue #14)"). They prove nothing a writer does not know already:
 * every writer of these tables is a mailbox writer, and a mailbox writer first locks its users'
 * rows (`lockAndTake`, FOR UPDATE) and writes only for the users it found; a user's deletion waits
 * for that lock, and a writer that comes after the deletion finds no user and writes nothing.
 *
 * What the keys did on a user's deletion (ON DELETE CASCADE) a trigger does now, as it has done for
 * `message_search` since 0026. `messages` keeps its key to `mailboxes` (a user's mailboxes go with
 * the user, and their messages with them), to `blobs` (storage reclaim's safety net) and
 * `spool_filings` its key to `spool`. Tables written outside the mailbox writer's lock keep their
 * key to `users` (contacts, sessions, uploads, outbound mail…).
 */
const TABLES = ['messages', 'changes', 'thread_keys', 'search_pending', 'spool_filings'] as const;

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const table of TABLES) {
    await sql`ALTER TABLE ${sql.table(table)} DROP CONSTRAINT ${sql.id(`${table}_user_id_fkey`)}`.execute(db);
  }
  // One trigger for everything keyed by user without a foreign key (replaces 0026's, which deleted only the search rows).
  await sql`
    DROP TRIGGER users_message_search_deleted ON users;
    DROP FUNCTION message_search_user_deleted();
    CREATE FUNCTION user_mail_rows_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM messages WHERE user_id = OLD.id;
      DELETE FROM message_search WHERE user_id = OLD.id;
      DELETE FROM search_pending WHERE user_id = OLD.id;
      DELETE FROM changes WHERE user_id = OLD.id;
      DELETE FROM thread_keys WHERE user_id = OLD.id;
      DELETE FROM spool_filings WHERE user_id = OLD.id;
      RETURN OLD;
    END $$;
    CREATE TRIGGER users_mail_rows_deleted AFTER DELETE ON users FOR EACH ROW EXECUTE FUNCTION user_mail_rows_deleted();
  `.execute(db);
}
