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

describe('migration 0027_send_idempotency_key', () => {
  it('leaves sends held before it without a key, and lets each user hold one send per key', async () => {
    await empty.migrateTo('0026_search_index_stage');
    await sql`INSERT INTO domains (name) VALUES ('old.test')`.execute(db);
    await sql`INSERT INTO users (domain_id, address, password_hash) SELECT id, a, 'x' FROM domains, unnest(ARRAY['a@old.test', 'b@old.test']) a`.execute(db);
    await sql`INSERT INTO blobs (hash, data, size) VALUES ('\\x01', 'raw', 3)`.execute(db);
    const hold = (address: string, key: string | null) =>
      sql`INSERT INTO scheduled_sends (user_id, blob_hash, input, recipients, mail_from, send_at${key === null ? sql`` : sql`, idempotency_key`})
          SELECT id, '\\x01', '{}', '{}', address, now()${key === null ? sql`` : sql`, ${key}`} FROM users WHERE address = ${address}`.execute(db);
    await hold('a@old.test', null);

    expect(await migrateToLatest(db)).toContain('0027_send_idempotency_key');

    const { rows } = await sql<{ idempotency_key: string | null }>`SELECT idempotency_key FROM scheduled_sends`.execute(db);
    expect(rows).toEqual([{ idempotency_key: null }]);
    await hold('a@old.test', null);
    await hold('a@old.test', 'k1');
    await hold('b@old.test', 'k1');
    await expect(hold('a@old.test', 'k1')).rejects.toMatchObject({ code: '23505' });
    await expect(hold('a@old.test', '')).rejects.toMatchObject({ code: '23514' });
    await expect(hold('a@old.test', 'k'.repeat(256))).rejects.toMatchObject({ code: '23514' });
  });
});
