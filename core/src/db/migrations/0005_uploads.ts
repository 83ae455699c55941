import { sql, type Kysely } from 'kysely';

/**
 * Uploads: files a user sends ahead of composing (draft attachments). The bytes live on disk as
 * `<DATA_DIR>/uploads/<id>` (a random name, never the user's filename); this row says whose they are.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE uploads (
      id text PRIMARY KEY,
      user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      filename text NOT NULL,
      content_type text NOT NULL,
      size bigint NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX uploads_user ON uploads (user_id, created_at);
  `.execute(db);
}
