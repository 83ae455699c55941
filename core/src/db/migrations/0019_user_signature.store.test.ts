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

describe('migration 0019_user_signature', () => {
  it('gives existing users an empty signature and refuses one over 2,000 characters', async () => {
    await empty.migrateTo('0018_storage_reclaim');
    await sql`INSERT INTO domains (name) VALUES ('old.test')`.execute(db);
    await sql`INSERT INTO users (domain_id, address, password_hash) SELECT id, 'a@old.test', 'x' FROM domains`.execute(db);

    expect(await migrateToLatest(db)).toContain('0019_user_signature');

    const { rows } = await sql<{ signature: string }>`SELECT signature FROM users`.execute(db);
    expect(rows).toEqual([{ signature: '' }]);
    await sql`UPDATE users SET signature = ${'s'.repeat(2000)}`.execute(db);
    await expect(sql`UPDATE users SET signature = ${'s'.repeat(2001)}`.execute(db)).rejects.toMatchObject({ code: '23514' });
  });
});
