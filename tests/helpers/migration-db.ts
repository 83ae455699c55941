import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Migrator } from 'kysely';
import { afterAll, beforeAll, expect, inject } from 'vitest';
import { createDb, type Db } from '../../core/src/db/client.js';
import { migrations } from '../../core/src/db/migrate.js';

/**
 * For a migration's store test: an EMPTY database of the test file's own (not the run's migrated
 * template), created before the tests and dropped after them. `migrateTo(name)` runs the migrations
 * up to and including `name`, so a test can write rows the way an older version did, then migrate on.
 */
export function useEmptyDatabase(): { readonly db: Db; readonly url: string; migrateTo(name: string): Promise<void> } {
  const adminUrl = inject('pgAdminUrl');
  const name = `m_${randomBytes(5).toString('hex')}`;
  let db: Db | undefined;
  const url = adminUrl.replace(/\/postgres$/, `/${name}`);
  async function admin(query: string): Promise<void> {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(query);
    } finally {
      await client.end();
    }
  }
  beforeAll(async () => {
    await admin(`CREATE DATABASE ${name}`);
    ({ db } = createDb({ connectionString: url, max: 2 }));
  });
  afterAll(async () => {
    await db?.destroy();
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });
  return {
    get db() {
      if (!db) throw new Error('useEmptyDatabase: the database exists only inside tests');
      return db;
    },
    url,
    async migrateTo(target: string) {
      const { error } = await new Migrator({ db: this.db, provider: { getMigrations: async () => migrations } }).migrateTo(target);
      expect(error).toBeUndefined();
    },
  };
}
