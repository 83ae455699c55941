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

describe('migration 0014_quota_usage', () => {
  it('sets each user’s usage to the sum of the sizes of the messages they already have (0 for none)', async () => {
    await empty.migrateTo('0013_inbound_auth');
    await sql`INSERT INTO domains (name) VALUES ('old.test')`.execute(db);
    const { rows: users } = await sql<{ id: number }>`
      INSERT INTO users (domain_id, address, password_hash) SELECT id, unnest(ARRAY['a@old.test', 'b@old.test', 'c@old.test']), 'x' FROM domains RETURNING id`.execute(db);
    const [a, b, c] = users.map((u) => u.id) as [number, number, number];
    await sql`INSERT INTO mailboxes (user_id, name, uidvalidity) VALUES (${a}, 'INBOX', 1), (${b}, 'INBOX', 1), (${c}, 'INBOX', 1)`.execute(db);
    await sql`INSERT INTO blobs (hash, size, data) VALUES ('\\x01', 1, 'x')`.execute(db);
    // Two rows of a share one blob: each counts in full.
    for (const [userId, uid, size] of [[a, 1, 1000], [a, 2, 234], [b, 1, 77]] as const) {
      await sql`
        INSERT INTO messages (user_id, mailbox_id, uid, modseq, internal_date, size, blob_hash, thread_id)
        SELECT user_id, id, ${uid}::bigint, ${uid}::bigint, now(), ${size}::int, '\\x01', 1 FROM mailboxes WHERE user_id = ${userId}::bigint`.execute(db);
    }

    expect(await migrateToLatest(db)).toContain('0014_quota_usage');
    const usage = await db.selectFrom('users').select(['id', 'used_bytes']).orderBy('id').execute();
    expect(usage).toEqual([
      { id: a, used_bytes: 1234 },
      { id: b, used_bytes: 77 },
      { id: c, used_bytes: 0 },
    ]);
  });
});
