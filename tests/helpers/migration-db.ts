import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Migrator, sql } from 'kysely';
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

/**
 * The rows an older schema's message needs, written straight into the tables: the domain in.test,
 * the user a@in.test, their INBOX (UIDVALIDITY 1) and the one-byte blob '\x00' for blob_hash.
 */
export async function seedInbox(db: Db): Promise<{ userId: number; mailboxId: number }> {
  const { rows } = await sql<{ user_id: string; id: string }>`
    WITH d AS (INSERT INTO domains (name) VALUES ('in.test') RETURNING id),
         u AS (INSERT INTO users (domain_id, address, password_hash) SELECT id, 'a@in.test', 'x' FROM d RETURNING id),
         blob AS (INSERT INTO blobs (hash, size, data) VALUES ('\\x00', 1, '\\x00'))
    INSERT INTO mailboxes (user_id, name, special_use, uidvalidity) SELECT id, 'INBOX', '\\Inbox', 1 FROM u RETURNING user_id::text, id::text`.execute(db);
  return { userId: Number(rows[0]!.user_id), mailboxId: Number(rows[0]!.id) };
}
