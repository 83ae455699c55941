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

describe('migration 0013_inbound_auth', () => {
  it('leaves rows made before it unchecked, filed to the Inbox, with the default (strictest) domain policy', async () => {
    await empty.migrateTo('0011_alias_allow_send');
    await sql`INSERT INTO domains (name) VALUES ('old.test')`.execute(db);
    await sql`INSERT INTO blobs (hash, size, data) VALUES ('\\x01', 1, 'x')`.execute(db);
    await sql`INSERT INTO spool (blob_hash, mail_from, rcpt_to, remote_ip, helo, tls, trace_headers) VALUES ('\\x01', 'a@b.test', '{c@old.test}', '192.0.2.1', 'b.test', false, '')`.execute(db);

    expect(await migrateToLatest(db)).toContain('0013_inbound_auth');
    expect(await db.selectFrom('domains').select('trust_policy').executeTakeFirstOrThrow()).toEqual({ trust_policy: {} });
    expect(await db.selectFrom('spool').select(['authentication', 'verdict']).executeTakeFirstOrThrow()).toEqual({ authentication: null, verdict: 'inbox' });
    await expect(sql`UPDATE spool SET verdict = 'trash'`.execute(db)).rejects.toThrow(/check constraint/);
  });
});
