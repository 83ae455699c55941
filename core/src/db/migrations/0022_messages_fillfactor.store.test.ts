import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { useEmptyDatabase } from '../../../../tests/helpers/migration-db.js';
import type { Db } from '../client.js';
import { migrateToLatest } from '../migrate.js';

const empty = useEmptyDatabase();
let db: Db;
let mailboxId: number;
let userId: number;
let nextUid = 1;
beforeAll(() => {
  db = empty.db;
});

/**
 * Files `n` messages of ~900 bytes a row (a short message) straight into `messages`, changes each
 * one's flags as STORE does, and says how many of the changes were not HOT (the new version went to
 * another page, with new entries in every index).
 */
async function flagChangesNotHot(n: number): Promise<number> {
  const body = Array.from({ length: 8 }, (_, i) => `line ${i} of a short message about the quarterly report`).join('\n');
  const { rows } = await sql<{ id: string }>`
    INSERT INTO messages (user_id, mailbox_id, uid, modseq, internal_date, size, blob_hash, thread_id, subject, normalized_subject, from_text, to_text, body_text, snippet)
    SELECT ${userId}, ${mailboxId}, u, u, now(), 900, '\\x00', u, 'Report ' || u, 'report ' || u, 'Sender <s@remote.test>', 'a@in.test', ${body} || repeat(' padding', 40), left(${body}, 200)
    FROM generate_series(${nextUid}::bigint, ${nextUid + n - 1}::bigint) AS u
    RETURNING id::text`.execute(db);
  nextUid += n;
  const ids = rows.map((r) => r.id);
  const pages = async () => (await sql<{ id: string; page: string }>`SELECT id::text, (ctid::text::point)[0]::text AS page FROM messages WHERE id = ANY(${ids}::bigint[])`.execute(db)).rows;
  const before = new Map((await pages()).map((r) => [r.id, r.page]));
  for (const id of ids) await sql`UPDATE messages SET flags = ARRAY['\\Seen'], modseq = modseq + 1000 WHERE id = ${id}::bigint`.execute(db);
  return (await pages()).filter((r) => before.get(r.id) !== r.page).length;
}

describe('migration 0022_messages_fillfactor', () => {
  it('keeps room on each messages page for its rows’ next versions, so flag changes stay HOT', async () => {
    await empty.migrateTo('0021_spool_fillfactor');
    await sql`INSERT INTO domains (name) VALUES ('in.test')`.execute(db);
    userId = Number((await sql<{ id: string }>`INSERT INTO users (domain_id, address, password_hash) SELECT id, 'a@in.test', 'x' FROM domains RETURNING id::text`.execute(db)).rows[0]!.id);
    mailboxId = Number((await sql<{ id: string }>`INSERT INTO mailboxes (user_id, name, special_use, uidvalidity) VALUES (${userId}, 'INBOX', '\\Inbox', 1) RETURNING id::text`.execute(db)).rows[0]!.id);
    await sql`INSERT INTO blobs (hash, size, data) VALUES ('\\x00', 1, '\\x00')`.execute(db);
    // Before: full pages, so most changed rows move to another page.
    expect(await flagChangesNotHot(40)).toBeGreaterThan(10);

    expect(await migrateToLatest(db)).toContain('0022_messages_fillfactor');

    const { rows } = await sql<{ reloptions: string[] }>`SELECT reloptions FROM pg_class WHERE relname = 'messages' AND relnamespace = current_schema()::regnamespace`.execute(db);
    expect(rows[0]!.reloptions).toContain('fillfactor=80');
    expect(await flagChangesNotHot(40)).toBe(0);
  });
});
