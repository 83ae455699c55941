import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { useEmptyDatabase } from '../../../../tests/helpers/migration-db.js';
import type { Db } from '../client.js';
import { migrateToLatest } from '../migrate.js';

const empty = useEmptyDatabase();
let db: Db;
beforeAll(() => {
  db = empty.db;
});

describe('migration 0018_storage_reclaim', () => {
  it('indexes every reference to a blob, keeps those foreign keys, and lets a spool row go while its message keeps the id', async () => {
    await empty.migrateTo('0016_spam_filter');
    await sql`INSERT INTO domains (name) VALUES ('old.test')`.execute(db);
    const { rows: users } = await sql<{ id: number }>`INSERT INTO users (domain_id, address, password_hash) SELECT id, 'a@old.test', 'x' FROM domains RETURNING id`.execute(db);
    const userId = users[0]!.id;
    await sql`INSERT INTO mailboxes (user_id, name, uidvalidity) VALUES (${userId}, 'INBOX', 1)`.execute(db);
    await sql`INSERT INTO blobs (hash, size, data) VALUES ('\\x01', 1, 'x')`.execute(db);
    const { rows: spool } = await sql<{ id: number }>`
      INSERT INTO spool (blob_hash, mail_from, rcpt_to, status, processed_at) VALUES ('\\x01', 's@b.test', '{a@old.test}', 'done', now()) RETURNING id`.execute(db);
    const spoolId = spool[0]!.id;
    await sql`
      INSERT INTO messages (user_id, mailbox_id, uid, modseq, internal_date, size, blob_hash, thread_id, spool_id)
      SELECT user_id, id, 1, 1, now(), 1, '\\x01', 1, ${spoolId}::bigint FROM mailboxes`.execute(db);

    expect(await migrateToLatest(db)).toContain('0018_storage_reclaim');

    const { rows: indexes } = await sql<{ indexname: string }>`SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname`.execute(db);
    expect(indexes.map((i) => i.indexname)).toEqual(expect.arrayContaining(['messages_blob_hash', 'spool_blob_hash', 'outbound_messages_blob_hash', 'scheduled_sends_blob_hash', 'spool_finished']));
    await sql`DELETE FROM spool WHERE id = ${spoolId}`.execute(db);
    const { rows: kept } = await sql<{ spool_id: string }>`SELECT spool_id FROM messages`.execute(db);
    expect(kept.map((r) => Number(r.spool_id))).toEqual([Number(spoolId)]);
    // The safety net stays: a blob a message references cannot be deleted.
    await expect(sql`DELETE FROM blobs WHERE hash = '\\x01'`.execute(db)).rejects.toMatchObject({ code: '23503' });
  });
});
