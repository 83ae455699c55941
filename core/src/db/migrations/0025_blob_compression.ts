import { sql, type Kysely } from 'kysely';

/**
 * How a message's bytes are stored (`blobs.data`). PostgreSQL compresses a value over ~2 KB with
 * pglz by default: slow, and mostly wasted on mail, whose bytes are mostly attachments in base64
 * (pglz tries, rarely saves the 25 % it needs to keep the result, and the try costs ~15 ms of CPU
 * per MB at every insert: bench/README.md, "Message bytes: lz4 or as they came"). So:
 * - lz4 where the server has it (compose's postgres image): compresses text several times faster
 *   than pglz and gives up on base64 at once;
 * - otherwise (the embedded PostgreSQL of `npm start` is built without lz4) stored as they came,
 *   out of line and uncompressed, as a Maildir keeps them.
 * Only how new values are written changes: stored bytes stay as they are and read the same.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    DO $$
    BEGIN
      ALTER TABLE blobs ALTER COLUMN data SET COMPRESSION lz4;
    EXCEPTION WHEN feature_not_supported THEN
      ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL;
    END $$`.execute(db);
}
