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

describe('migration 0015_delivery_lease_token', () => {
  it('adds an empty lease token to deliveries made before it, so no old lease can fence a new claim', async () => {
    await empty.migrateTo('0013_inbound_auth');
    await sql`INSERT INTO domains (name) VALUES ('old.test')`.execute(db);
    const { rows: users } = await sql<{ id: number }>`INSERT INTO users (domain_id, address, password_hash) SELECT id, 'a@old.test', 'x' FROM domains RETURNING id`.execute(db);
    await sql`INSERT INTO blobs (hash, size, data) VALUES ('\\x01', 1, 'x')`.execute(db);
    const { rows: out } = await sql<{ id: number }>`INSERT INTO outbound_messages (user_id, blob_hash, size, mail_from, subject) VALUES (${users[0]!.id}, '\\x01', 1, 'a@old.test', 's') RETURNING id`.execute(db);
    await sql`INSERT INTO deliveries (outbound_id, user_id, recipient, domain, locked_until) VALUES (${out[0]!.id}, ${users[0]!.id}, 'x@far.test', 'far.test', now() + interval '1 minute')`.execute(db);

    expect(await migrateToLatest(db)).toContain('0015_delivery_lease_token');
    expect(await db.selectFrom('deliveries').select(['recipient', 'lease_token']).execute()).toEqual([{ recipient: 'x@far.test', lease_token: null }]);
  });
});
