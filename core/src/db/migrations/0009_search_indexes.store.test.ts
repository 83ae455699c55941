import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { createTestStore, type TestStore } from '../../../../tests/helpers/store.js';
import { createDb } from '../client.js';
import { migrateToLatest, migrations } from '../migrate.js';

const adminUrl = inject('pgAdminUrl');

async function admin(url: string, ...queries: string[]) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const q of queries) await client.query(q);
  } finally {
    await client.end();
  }
}

/** The plan's text for a query, with sequential scans discouraged so that a usable index shows. */
async function plan(store: TestStore, query: string): Promise<string> {
  return store.db.connection().execute(async (conn) => {
    await sql`SET enable_seqscan = off`.execute(conn);
    try {
      const { rows } = await sql<{ 'QUERY PLAN': string }>`EXPLAIN ${sql.raw(query)}`.execute(conn);
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    } finally {
      await sql`RESET enable_seqscan`.execute(conn);
    }
  });
}

describe('migration 0009_search_indexes', () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore();
  });
  afterAll(async () => {
    await store.drop();
  });

  it('gives subject: and from:/to: indexes the search queries can use', async () => {
    expect(await plan(store, `SELECT id FROM messages WHERE to_tsvector('simple', subject) @@ to_tsquery('simple', 'invoice')`)).toContain('messages_subject_search');
    expect(await plan(store, `SELECT id FROM messages WHERE from_text ILIKE ANY('{%alice%}'::text[])`)).toContain('messages_from_trgm');
    const to = await plan(store, `SELECT id FROM messages WHERE (to_text ILIKE ANY('{%carol%}'::text[]) OR cc_text ILIKE ANY('{%carol%}'::text[]))`);
    expect(to).toContain('messages_to_trgm');
    expect(to).toContain('messages_cc_trgm');
  });

  it('keeps the search vector in the row (storage main; in message_search since migration 0026)', async () => {
    const { rows } = await sql<{ attstorage: string }>`SELECT attstorage FROM pg_attribute WHERE attrelid = 'message_search'::regclass AND attname = 'search'`.execute(store.db);
    expect(rows[0]?.attstorage).toBe('m');
  });
});

describe('migration 0009_search_indexes without pg_trgm', () => {
  const name = `m_${randomBytes(5).toString('hex')}`;
  const role = `r_${randomBytes(5).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  afterAll(async () => {
    await admin(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`, `DROP ROLE IF EXISTS ${role}`);
  });

  it('still migrates when the role may not create the extension, and says so', async () => {
    // A role that may create tables in the schema but not extensions in the database (no CREATE on it).
    await admin(adminUrl, `CREATE ROLE ${role} LOGIN PASSWORD '${password}'`, `CREATE DATABASE ${name}`, `REVOKE CREATE ON DATABASE ${name} FROM PUBLIC`);
    const dbUrl = adminUrl.replace(/\/postgres$/, `/${name}`);
    await admin(dbUrl, `GRANT USAGE, CREATE ON SCHEMA public TO ${role}`);
    const url = new URL(dbUrl);
    url.username = role;
    url.password = password;
    const { db, pool } = createDb({ connectionString: url.toString(), max: 1 });
    const notices: string[] = [];
    pool.on('connect', (client) => client.on('notice', (n) => notices.push(n.message ?? '')));
    try {
      expect(await migrateToLatest(db)).toEqual(Object.keys(migrations));
      const { rows } = await sql<{ indexname: string }>`SELECT indexname FROM pg_indexes WHERE tablename = 'messages'`.execute(db);
      const indexes = rows.map((r) => r.indexname);
      expect(indexes).toContain('messages_subject_search');
      expect(indexes).not.toContain('messages_from_trgm');
      expect(notices.join('\n')).toMatch(/pg_trgm .*could not be created/);
      // from:/to: are plain ILIKE: they still run, without the index.
      const { rows: found } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM messages WHERE from_text ILIKE ANY(${['%alice%']}::text[])`.execute(db);
      expect(found[0]?.n).toBe(0);
    } finally {
      await db.destroy();
    }
  });
});
