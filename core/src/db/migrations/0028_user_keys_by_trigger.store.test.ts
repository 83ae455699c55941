import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { useEmptyDatabase } from '../../../../tests/helpers/migration-db.js';
import { migrateToLatest } from '../migrate.js';

const empty = useEmptyDatabase();

/** Every table keyed by user whose rows a user's deletion must take with it (each seeded with one row per user). */
const TABLES = ['messages', 'message_search', 'search_pending', 'changes', 'thread_keys', 'spool_filings', 'mailboxes', 'contacts'] as const;

describe('migration 0028_user_keys_by_trigger', () => {
  it('drops the per-row checks of filing’s rows against users, and a user’s deletion still takes all of that user’s rows and nobody else’s', async () => {
    const db = empty.db;
    await empty.migrateTo('0027_send_idempotency_key');
    await sql`INSERT INTO domains (name) VALUES ('in.test')`.execute(db);
    await sql`INSERT INTO blobs (hash, size, data) VALUES ('\\x00', 1, '\\x00')`.execute(db);
    await sql`INSERT INTO spool (blob_hash, mail_from, rcpt_to) VALUES ('\\x00', 's@remote.test', '{}')`.execute(db);

    async function seedUser(address: string): Promise<number> {
      const { rows } = await sql<{ id: string }>`
        INSERT INTO users (domain_id, address, password_hash) SELECT id, ${address}, 'x' FROM domains RETURNING id::text`.execute(db);
      const userId = Number(rows[0]!.id);
      await sql`
        WITH b AS (INSERT INTO mailboxes (user_id, name, special_use, uidvalidity) VALUES (${userId}, 'INBOX', '\\Inbox', 1) RETURNING id),
             m AS (INSERT INTO messages (user_id, mailbox_id, uid, modseq, internal_date, size, blob_hash, thread_id, subject, from_text, body_text)
                   SELECT ${userId}, b.id, 1, 1, now(), 1, '\\x00', 1, 's', 'f', 'b' FROM b RETURNING id, mailbox_id),
             q AS (INSERT INTO search_pending (message_id, user_id) SELECT id, ${userId} FROM m),
             s AS (INSERT INTO message_search (message_id, user_id, mailbox_id, internal_date, search) SELECT id, ${userId}, mailbox_id, now(), to_tsvector('simple', 'b') FROM m),
             c AS (INSERT INTO changes (user_id, modseq, kind, mailbox_id, message_id, uid) SELECT ${userId}, 1, 'message.added', mailbox_id, id, 1 FROM m),
             t AS (INSERT INTO thread_keys (user_id, message_id_ref, thread_id) VALUES (${userId}, '<a@remote.test>', 1)),
             k AS (INSERT INTO contacts (user_id, address, name) VALUES (${userId}, 's@remote.test', 'S'))
        INSERT INTO spool_filings (spool_id, user_id, message_id) SELECT (SELECT id FROM spool), ${userId}, id FROM m`.execute(db);
      return userId;
    }
    const ann = await seedUser('ann@in.test');
    const bob = await seedUser('bob@in.test');
    const count = async (table: string, userId: number) =>
      (await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(table)} WHERE user_id = ${userId}`.execute(db)).rows[0]!.n;

    expect(await migrateToLatest(db)).toContain('0028_user_keys_by_trigger');

    const keys = await sql<{ t: string }>`
      SELECT conrelid::regclass::text AS t FROM pg_constraint WHERE contype = 'f' AND confrelid = 'users'::regclass ORDER BY 1`.execute(db);
    const checked = keys.rows.map((r) => r.t);
    for (const table of ['messages', 'changes', 'thread_keys', 'search_pending', 'spool_filings']) expect(checked).not.toContain(table);
    // Written outside the mailbox writer's user lock: these keep their key.
    for (const table of ['mailboxes', 'contacts', 'sessions', 'uploads', 'outbound_messages', 'scheduled_sends']) expect(checked).toContain(table);

    await sql`DELETE FROM users WHERE id = ${ann}`.execute(db);
    for (const table of TABLES) {
      expect({ table, ann: await count(table, ann), bob: await count(table, bob) }).toEqual({ table, ann: 0, bob: 1 });
    }
  });
});
