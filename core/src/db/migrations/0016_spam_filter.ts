import { sql, type Kysely } from 'kysely';

/**
 * Spam filtering (issue 11):
 * - `spool.filter` and `messages.filter`: the filter's decision for a received message (score,
 *   thresholds, engine, the checks that spoke, the override), as the API's `filter`
 *   (core/src/contracts/filters.ts); null for mail that was not judged.
 * - `sender_rules`: each user's allow and block lists, an address or a domain per row, lower case,
 *   one row per (user, pattern).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE spool ADD COLUMN filter jsonb`.execute(db);
  await sql`ALTER TABLE messages ADD COLUMN filter jsonb`.execute(db);
  await sql`
    CREATE TABLE sender_rules (
      id bigserial PRIMARY KEY,
      user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      kind text NOT NULL CHECK (kind IN ('allow', 'block')),
      pattern text NOT NULL CHECK (pattern = lower(pattern) AND length(pattern) BETWEEN 1 AND 320),
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (user_id, pattern)
    )`.execute(db);
}
