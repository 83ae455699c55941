import { beforeAll, describe, expect, it } from 'vitest';
import { useEmptyDatabase } from '../../../../tests/helpers/migration-db.js';
import { createAccountsService } from '../../accounts/accounts.service.js';
import { createAliasRepository } from '../../repositories/user.repository.js';
import type { Db } from '../client.js';
import { migrateToLatest } from '../migrate.js';
import { testSecrets } from '../../../../tests/helpers/secrets.js';

const empty = useEmptyDatabase();
let db: Db;
beforeAll(() => {
  db = empty.db;
});

describe('migration 0011_alias_allow_send', () => {
  it('lets aliases made before it keep sending, and makes new aliases receive-only unless allowed', async () => {
    await empty.migrateTo('0010_scheduled_sends');
    const accounts = createAccountsService({ db, secrets: testSecrets });
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
