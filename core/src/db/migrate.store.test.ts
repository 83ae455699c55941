import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { sql } from 'kysely';
import { afterAll, describe, expect, it, inject } from 'vitest';
import { createDb } from './client.js';
import { migrateToLatest, migrations } from './migrate.js';

const adminUrl = inject('pgAdminUrl');
const name = `m_${randomBytes(5).toString('hex')}`;

async function admin(query: string) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  await client.query(query);
  await client.end();
}

afterAll(async () => {
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
});

describe('migrations', () => {
  it('run forward on an empty database, create the store, and are a no-op the second time', async () => {
    await admin(`CREATE DATABASE ${name}`);
    const { db } = createDb({ connectionString: adminUrl.replace(/\/postgres$/, `/${name}`), max: 2 });
    try {
      expect(await migrateToLatest(db)).toEqual(Object.keys(migrations));
      expect(await migrateToLatest(db)).toEqual([]);
      const { rows } = await sql<{ table_name: string }>`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`.execute(db);
      expect(rows.map((r) => r.table_name)).toEqual(expect.arrayContaining(['aliases', 'app_passwords', 'audit_log', 'blobs', 'changes', 'contacts', 'dkim_keys', 'domain_admins', 'domains', 'mailboxes', 'messages', 'sessions', 'spool', 'spool_filings', 'thread_keys', 'uploads', 'users']));
      const { rows: indexes } = await sql<{ indexname: string }>`SELECT indexname FROM pg_indexes WHERE tablename = 'messages'`.execute(db);
      expect(indexes.map((i) => i.indexname)).toEqual(expect.arrayContaining(['messages_mailbox_date', 'messages_user_date']));
      const { rows: searchIndexes } = await sql<{ indexname: string }>`SELECT indexname FROM pg_indexes WHERE tablename = 'message_search'`.execute(db);
      expect(searchIndexes.map((i) => i.indexname)).toEqual(expect.arrayContaining(['message_search_user_date', 'message_search_vector']));
      // The search vector's text parser works on this server version.
      const { rows: fts } = await sql<{ v: string }>`SELECT to_tsvector('simple', 'Grüße aus Köln')::text AS v`.execute(db);
      expect(fts[0]!.v).toContain('köln');
    } finally {
      await db.destroy();
    }
  });
});
