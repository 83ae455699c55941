import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Migrator } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { createAccountsService } from '../../accounts/accounts.service.js';
import { createAliasRepository } from '../../repositories/user.repository.js';
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

describe('migration 0011_alias_allow_send', () => {
  it('lets aliases made before it keep sending, and makes new aliases receive-only unless allowed', async () => {
    const { error } = await new Migrator({ db, provider: { getMigrations: async () => migrations } }).migrateTo('0010_scheduled_sends');
    expect(error).toBeUndefined();
    const accounts = createAccountsService({ db });
    const domain = await accounts.addDomain('old.test');
    const ann = await accounts.addUser({ address: 'ann@old.test', password: 'ann password' });
    await db.insertInto('aliases').values([{ domain_id: domain.id, address: 'sales@old.test', target_user_id: ann.id }, { domain_id: domain.id, address: '@old.test', target_user_id: ann.id }]).execute();

    expect(await migrateToLatest(db)).toContain('0011_alias_allow_send');
    const aliases = createAliasRepository(db);
    expect(await aliases.list()).toEqual([
      expect.objectContaining({ address: '@old.test', allowSend: true }),
      expect.objectContaining({ address: 'sales@old.test', allowSend: true }),
    ]);
    // A row inserted without saying so receives only; the accounts service says so only when asked.
    await db.insertInto('aliases').values({ domain_id: domain.id, address: 'raw@old.test', target_user_id: ann.id }).execute();
    await accounts.addAlias('new@old.test', 'ann@old.test');
    await accounts.addAlias('granted@old.test', 'ann@old.test', { allowSend: true });
    const byAddress = Object.fromEntries((await aliases.list()).map((a) => [a.address, a.allowSend]));
    expect(byAddress).toMatchObject({ 'raw@old.test': false, 'new@old.test': false, 'granted@old.test': true });
  });
});
