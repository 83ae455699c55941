import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Migrator, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { createDb, type Db } from '../client.js';
import { migrateToLatest, migrations } from '../migrate.js';

const adminUrl = inject('pgAdminUrl');
const name = `m_${randomBytes(5).toString('hex')}`;
let db: Db;

async function admin(query: string) {
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
  ({ db } = createDb({ connectionString: adminUrl.replace(/\/postgres$/, `/${name}`), max: 2 }));
});
afterAll(async () => {
  await db?.destroy();
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
});

describe('migration 0013_inbound_auth', () => {
  it('leaves rows made before it unchecked, filed to the Inbox, with the default (strictest) domain policy', async () => {
    const { error } = await new Migrator({ db, provider: { getMigrations: async () => migrations } }).migrateTo('0011_alias_allow_send');
    expect(error).toBeUndefined();
    await sql`INSERT INTO domains (name) VALUES ('old.test')`.execute(db);
    await sql`INSERT INTO blobs (hash, size, data) VALUES ('\\x01', 1, 'x')`.execute(db);
    await sql`INSERT INTO spool (blob_hash, mail_from, rcpt_to, remote_ip, helo, tls, trace_headers) VALUES ('\\x01', 'a@b.test', '{c@old.test}', '192.0.2.1', 'b.test', false, '')`.execute(db);

    expect(await migrateToLatest(db)).toContain('0013_inbound_auth');
    expect(await db.selectFrom('domains').select('trust_policy').executeTakeFirstOrThrow()).toEqual({ trust_policy: {} });
    expect(await db.selectFrom('spool').select(['authentication', 'verdict']).executeTakeFirstOrThrow()).toEqual({ authentication: null, verdict: 'inbox' });
    await expect(sql`UPDATE spool SET verdict = 'trash'`.execute(db)).rejects.toThrow(/check constraint/);
  });
});
