import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { seedInbox, useEmptyDatabase } from '../../../../tests/helpers/migration-db.js';
import { migrateToLatest } from '../migrate.js';

const empty = useEmptyDatabase();

describe('migration 0024_messages_internal_date_zone', () => {
  it('gives every message a zone for its INTERNALDATE: UTC for those already stored, and only real zones', async () => {
    const db = empty.db;
    await empty.migrateTo('0023_messages_user_mailbox_statistics');
    const { userId, mailboxId } = await seedInbox(db);
    await sql`INSERT INTO messages (user_id, mailbox_id, uid, modseq, internal_date, size, blob_hash, thread_id) VALUES (${userId}, ${mailboxId}, 1, 1, now(), 1, '\\x00', 1)`.execute(db);

    expect(await migrateToLatest(db)).toContain('0024_messages_internal_date_zone');
    expect((await sql<{ zone: number }>`SELECT internal_date_zone AS zone FROM messages`.execute(db)).rows).toEqual([{ zone: 0 }]);
    await sql`UPDATE messages SET internal_date_zone = -300`.execute(db);
    await expect(sql`UPDATE messages SET internal_date_zone = 1440`.execute(db)).rejects.toThrow(/check constraint/);
  });
});
