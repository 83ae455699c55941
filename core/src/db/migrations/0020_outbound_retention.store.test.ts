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

describe('migration 0020_outbound_retention', () => {
  it('lets an outbound message drop its bytes while its deliveries stay, and indexes what the purge looks for', async () => {
    await empty.migrateTo('0019_user_signature');
    await sql`INSERT INTO domains (name) VALUES ('old.test')`.execute(db);
    await sql`INSERT INTO users (domain_id, address, password_hash) SELECT id, 'a@old.test', 'x' FROM domains`.execute(db);
    await sql`INSERT INTO blobs (hash, size, data) VALUES ('\\x01', 1, 'x')`.execute(db);
    const { rows } = await sql<{ id: number }>`
      INSERT INTO outbound_messages (user_id, blob_hash, size, mail_from) SELECT id, '\\x01', 1, 'a@old.test' FROM users RETURNING id`.execute(db);
    const outboundId = rows[0]!.id;
    await sql`INSERT INTO deliveries (outbound_id, user_id, recipient, domain, status) SELECT ${outboundId}::bigint, id, 'b@far.test', 'far.test', 'delivered' FROM users`.execute(db);
    await expect(sql`UPDATE outbound_messages SET blob_hash = NULL`.execute(db)).rejects.toMatchObject({ code: '23502' });

    expect(await migrateToLatest(db)).toContain('0020_outbound_retention');

    await sql`UPDATE outbound_messages SET blob_hash = NULL`.execute(db);
    await sql`DELETE FROM blobs WHERE hash = '\\x01'`.execute(db);
    const { rows: kept } = await sql<{ status: string }>`SELECT status FROM deliveries WHERE outbound_id = ${outboundId}`.execute(db);
    expect(kept).toEqual([{ status: 'delivered' }]);
    const { rows: indexes } = await sql<{ indexname: string }>`SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()`.execute(db);
    expect(indexes.map((i) => i.indexname)).toEqual(expect.arrayContaining(['outbound_messages_unpurged', 'scheduled_sends_finished']));
  });
});
