import { sql, type Kysely } from 'kysely';

/**
 * `messages` pages keep a fifth of their room free (fillfactor 80), so that a flag change (IMAP
 * STORE, the webmail's read/star, the busiest write there is) can be a HOT update.
 *
 * A flag change writes a new version of the message row (flags, modseq). No indexed column
 * changes, so PostgreSQL may write it as a HOT update (no new index entries) — but only when the
 * new version fits on the row's own page. With full pages (the default, fillfactor 100) it goes to
 * another page and every index of the table gets a new entry for it, the GIN indexes included
 * (one entry per word of the search vector). Measured with 2,000 rows of ~900 bytes (a short
 * message; bench/README.md "What one `messages` row costs PostgreSQL"), 1,000 flag changes: WAL per
 * change 749 → 204 bytes, every change HOT. The price: ~14 % more heap pages for such rows.
 * A row that fills a page by itself (long mail: its search vector is kept in the row) gains nothing
 * and costs nothing: a page always takes one row.
 *
 * Only pages written from now on are affected; nothing is rewritten.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE messages SET (fillfactor = 80)`.execute(db);
}
