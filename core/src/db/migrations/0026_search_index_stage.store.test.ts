import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { seedInbox, useEmptyDatabase } from '../../../../tests/helpers/migration-db.js';
import { migrateToLatest } from '../migrate.js';

const empty = useEmptyDatabase();

describe('migration 0026_search_index_stage', () => {
  it('moves every stored search vector into message_search as it was, drops the column, and deletes a user’s search rows with the user', async () => {
    const db = empty.db;
    await empty.migrateTo('0025_blob_compression');
    const { userId, mailboxId } = await seedInbox(db);
    await sql`
      INSERT INTO messages (user_id, mailbox_id, uid, modseq, internal_date, size, blob_hash, thread_id, subject, from_text, body_text)
      SELECT ${userId}::bigint, ${mailboxId}::bigint, g, g, now(), 1, '\\x00', g, 'Walrus report ' || g, 'Ann <ann@remote.test>', 'the body of message ' || g FROM generate_series(1, 3) g`.execute(db);
    const before = (await sql<{ id: number; v: string }>`SELECT id, search::text AS v FROM messages ORDER BY id`.execute(db)).rows;
    expect(before[0]!.v).toContain("'walrus':1A");

    expect(await migrateToLatest(db)).toContain('0026_search_index_stage');

    const after = (await sql<{ id: number; v: string }>`SELECT message_id AS id, search::text AS v FROM message_search ORDER BY message_id`.execute(db)).rows;
    expect(after).toEqual(before);
    const columns = (await sql<{ n: number }>`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'messages' AND column_name = 'search'`.execute(db)).rows;
    expect(columns[0]!.n).toBe(0);
    // Nothing is queued: every message already had its vector.
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM search_pending`.execute(db)).rows[0]!.n).toBe(0);

    // Deleting the user deletes its search rows too (the mailbox writer deletes a message's own).
    await sql`INSERT INTO search_pending (message_id, user_id) SELECT id, user_id FROM messages WHERE uid = 3`.execute(db);
    await sql`DELETE FROM users`.execute(db);
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM message_search`.execute(db)).rows[0]!.n).toBe(0);
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM search_pending`.execute(db)).rows[0]!.n).toBe(0);
  });
});
