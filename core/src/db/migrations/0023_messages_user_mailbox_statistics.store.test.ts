import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { useEmptyDatabase } from '../../../../tests/helpers/migration-db.js';
import { migrateToLatest } from '../migrate.js';

const empty = useEmptyDatabase();

/** The planner's estimate of how many rows one user's mailbox holds. */
async function estimatedRows(userId: number, mailboxId: number): Promise<number> {
  const db = empty.db;
  const { rows } = await sql<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>`
    EXPLAIN (FORMAT JSON) SELECT id FROM messages WHERE user_id = ${userId} AND mailbox_id = ${mailboxId}`.execute(db);
  return rows[0]!['QUERY PLAN'][0].Plan['Plan Rows'];
}

describe('migration 0023_messages_user_mailbox_statistics', () => {
  it('plans a read of one mailbox for the rows it holds, not as if its owner were a second, independent condition', async () => {
    const db = empty.db;
    await empty.migrateTo('0022_messages_fillfactor');
    await sql`INSERT INTO domains (name) VALUES ('in.test')`.execute(db);
    // 50 users with an INBOX of 40 messages each.
    await sql`
      WITH u AS (INSERT INTO users (domain_id, address, password_hash) SELECT d.id, 'u' || g || '@in.test', 'x' FROM domains d, generate_series(1, 50) g RETURNING id),
           b AS (INSERT INTO mailboxes (user_id, name, special_use, uidvalidity) SELECT id, 'INBOX', '\\Inbox', 1 FROM u RETURNING id, user_id),
           blob AS (INSERT INTO blobs (hash, size, data) VALUES ('\\x00', 1, '\\x00'))
      INSERT INTO messages (user_id, mailbox_id, uid, modseq, internal_date, size, blob_hash, thread_id)
      SELECT b.user_id, b.id, n, n, now(), 1, '\\x00', n FROM b, generate_series(1, 40) n`.execute(db);
    const { rows } = await sql<{ user_id: string; id: string }>`SELECT user_id::text, id::text FROM mailboxes ORDER BY id LIMIT 1`.execute(db);
    const [userId, mailboxId] = [Number(rows[0]!.user_id), Number(rows[0]!.id)];
    await sql`ANALYZE messages`.execute(db);
    // Before: 40 × 1/50 — about one row.
    expect(await estimatedRows(userId, mailboxId)).toBeLessThan(5);

    expect(await migrateToLatest(db)).toContain('0023_messages_user_mailbox_statistics');
    expect(await estimatedRows(userId, mailboxId)).toBeGreaterThan(30);
  });
});
