import { sql, type Kysely } from 'kysely';

/**
 * Mail is visible first and searchable a moment later (issue #14): the free-text search vector
 * moves out of `messages` into a table of its own, filled by a second stage.
 *
 * Until now `messages.search` was a GENERATED column: every filing ran PostgreSQL's text parser
 * over the message's subject, addresses, attachment names and up to 200,000 characters of body
 * inside the filing transaction, a quarter of PostgreSQL's CPU while mail arrives (bench/README.md,
 * "Searchable a moment later"). Now:
 * - `message_search` holds each message's vector (same expression, same weights) with the columns a
 *   search walks by (user, folder, date), so a ranked search reads only this table until it has its
 *   candidates;
 * - `search_pending` lists the messages not indexed yet. The mailbox writer adds a row for every
 *   message it inserts (core/src/repositories/message.repository.ts); the search index stage
 *   (core/src/repositories/search-index.repository.ts) turns them into `message_search` rows: the
 *   inbound worker does it beside filing (core/src/search/search-indexer.ts), and a search first indexes what its user still has pending,
 *   so a search never misses a message that is already in a mailbox.
 * The mailbox writer deletes a message's rows in both with the message (MessageRepository
 * .removeWhere), and deleting a user deletes theirs. No foreign key points from `message_search`:
 * its check would lock the referenced row for every vector written (to `messages`: each message
 * row again; to `users`: the indexer would wait for every filing of that user and hold up the
 * next), so a trigger on `users` deletes a user's vectors. `search_pending` references the user
 * (ON DELETE CASCADE): it is written by mailbox writers, which hold the user's lock already.
 *
 * Existing vectors are copied over (no text is parsed again), then the column and its GIN index
 * are dropped. DROP COLUMN only marks the column dropped: the space of old rows is reused as they
 * are rewritten, or at once with VACUUM FULL messages.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE message_search (
      message_id bigint PRIMARY KEY,
      user_id bigint NOT NULL,
      mailbox_id bigint NOT NULL,
      internal_date timestamptz NOT NULL,
      search tsvector NOT NULL
    )`.execute(db);
  // Kept in the row (compressed), as migration 0009 did for the column: a search walk reads the
  // vector of every row it tests, and fetching it from TOAST cost about twice the rest of the row.
  await sql`ALTER TABLE message_search ALTER COLUMN search SET STORAGE MAIN`.execute(db);
  await sql`INSERT INTO message_search (message_id, user_id, mailbox_id, internal_date, search) SELECT id, user_id, mailbox_id, internal_date, search FROM messages`.execute(db);
  // The date orders a search walks in: all of a user's folders, or one folder.
  await sql`CREATE INDEX message_search_user_date ON message_search (user_id, internal_date DESC, message_id DESC)`.execute(db);
  await sql`CREATE INDEX message_search_mailbox_date ON message_search (mailbox_id, internal_date DESC, message_id DESC)`.execute(db);
  await sql`CREATE INDEX message_search_vector ON message_search USING gin (search)`.execute(db);
  await sql`
    CREATE FUNCTION message_search_user_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM message_search WHERE user_id = OLD.id;
      RETURN OLD;
    END $$;
    CREATE TRIGGER users_message_search_deleted AFTER DELETE ON users FOR EACH ROW EXECUTE FUNCTION message_search_user_deleted();
  `.execute(db);

  await sql`
    CREATE TABLE search_pending (
      message_id bigint PRIMARY KEY,
      user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE
    )`.execute(db);
  await sql`CREATE INDEX search_pending_user ON search_pending (user_id, message_id)`.execute(db);

  await sql`ALTER TABLE messages DROP COLUMN search`.execute(db);
}
