import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { mayUseSenderAddress } from './send.js';

let store: TestStore;
let ann: number;
let ben: number;

beforeAll(async () => {
  store = await createTestStore();
  const accounts = createAccountsService({ db: store.db });
  await accounts.addDomain('own.test');
  await accounts.addDomain('catch.test');
  ann = (await accounts.addUser({ address: 'ann@own.test', password: 'ann password' })).id;
  ben = (await accounts.addUser({ address: 'ben@own.test', password: 'ben password' })).id;
  await accounts.addAlias('sales@own.test', 'ann@own.test');
  await accounts.addAlias('help@own.test', 'ben@own.test');
  await accounts.addAlias('@catch.test', 'ann@own.test');
});
afterAll(async () => {
  await store?.drop();
});

describe('mayUseSenderAddress (who may send as whom)', () => {
  it('allows the user’s own address (any case), their aliases and any address of a domain whose catch-all is theirs', async () => {
    for (const address of ['ann@own.test', 'Ann@OWN.test', 'sales@own.test', 'anything@catch.test']) {
      expect(await mayUseSenderAddress(store.db, ann, address), address).toBe(true);
    }
  });

  it('refuses another user’s address or alias, a foreign domain, a catch-all that is not theirs, and garbage', async () => {
    for (const address of ['ben@own.test', 'help@own.test', 'ann@elsewhere.test', 'not an address', '']) {
      expect(await mayUseSenderAddress(store.db, ann, address), address).toBe(false);
    }
    expect(await mayUseSenderAddress(store.db, ben, 'someone@catch.test')).toBe(false);
  });
});
