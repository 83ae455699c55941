import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countingDb, createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { resolveRecipient, resolveRecipients } from './recipient-routing.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';

let store: TestStore;
let accounts: ReturnType<typeof createAccountsService>;

beforeAll(async () => {
  store = await createTestStore();
  accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('Example.COM');
  await accounts.addUser({ address: 'Ann@example.com', password: 'ann password' });
  await accounts.addAlias('sales@example.com', 'ann@example.com');
});
afterAll(async () => {
  await store.drop();
});

describe('resolveRecipient', () => {
  it('finds users, aliases and plus-tagged addresses, and tells unknown users from relay attempts', async () => {
    const ann = await accounts.requireUser('ann@example.com');
    expect(await resolveRecipient(store.db, 'ANN@Example.com')).toMatchObject({ kind: 'local', userId: ann.id });
    expect(await resolveRecipient(store.db, 'sales@example.com')).toMatchObject({ kind: 'local', userId: ann.id });
    expect(await resolveRecipient(store.db, 'ann+news@example.com')).toMatchObject({ kind: 'local', userId: ann.id });
    expect(await resolveRecipient(store.db, 'sales+x@example.com')).toMatchObject({ kind: 'local', userId: ann.id });
    expect(await resolveRecipient(store.db, 'bob@example.com')).toEqual({ kind: 'unknown', address: 'bob@example.com' });
    expect(await resolveRecipient(store.db, 'ann@elsewhere.test')).toEqual({ kind: 'relay', address: 'ann@elsewhere.test' });
    expect(await resolveRecipient(store.db, 'not-an-address')).toEqual({ kind: 'invalid' });
  });
  it('delivers postmaster@ of every local domain to the first administrator unless it is a user or alias', async () => {
    expect(await resolveRecipient(store.db, 'postmaster@example.com')).toMatchObject({ kind: 'unknown' });
    const admin = await accounts.addUser({ address: 'boss@example.com', password: 'boss password', role: 'admin' });
    expect(await resolveRecipient(store.db, 'Postmaster@example.com')).toMatchObject({ kind: 'local', userId: admin.id });
    expect(await resolveRecipient(store.db, 'postmaster@elsewhere.test')).toMatchObject({ kind: 'relay' });
    await accounts.removeUser('boss@example.com');
  });
  it('does not deliver to a disabled user', async () => {
    await accounts.addUser({ address: 'gone@example.com', password: 'long enough' });
    await store.db.updateTable('users').set({ disabled: true }).where('address', '=', 'gone@example.com').execute();
    expect(await resolveRecipient(store.db, 'gone@example.com')).toMatchObject({ kind: 'unknown' });
  });
  it('delivers unknown local addresses to the catch-all alias @domain, after users, aliases and +tags', async () => {
    const ann = await accounts.requireUser('ann@example.com');
    const cat = await accounts.addUser({ address: 'cat@example.com', password: 'cat password' });
    await accounts.addAlias('@Example.COM', 'cat@example.com');
    expect((await accounts.listAliases()).find((a) => a.address === '@example.com')).toMatchObject({ targetUserId: cat.id, targetAddress: 'cat@example.com' });
    // unknown addresses of the domain (and their +tags) reach the catch-all target
    expect(await resolveRecipient(store.db, 'Nobody@example.com')).toEqual({ kind: 'local', userId: cat.id, address: 'nobody@example.com' });
    expect(await resolveRecipient(store.db, 'nobody+x@example.com')).toMatchObject({ kind: 'local', userId: cat.id });
    // never overrides a real user, an alias or a +tag of either
    expect(await resolveRecipient(store.db, 'ann@example.com')).toMatchObject({ kind: 'local', userId: ann.id });
    expect(await resolveRecipient(store.db, 'sales@example.com')).toMatchObject({ kind: 'local', userId: ann.id });
    expect(await resolveRecipient(store.db, 'ann+news@example.com')).toMatchObject({ kind: 'local', userId: ann.id });
    expect(await resolveRecipient(store.db, 'sales+x@example.com')).toMatchObject({ kind: 'local', userId: ann.id });
    // other domains: a foreign one stays relay, another local one without a catch-all stays unknown
    expect(await resolveRecipient(store.db, 'nobody@elsewhere.test')).toEqual({ kind: 'relay', address: 'nobody@elsewhere.test' });
    await accounts.addDomain('other.test');
    expect(await resolveRecipient(store.db, 'nobody@other.test')).toMatchObject({ kind: 'unknown' });
    // the raw "@domain" string is not an address anyone can send to
    expect(await resolveRecipient(store.db, '@example.com')).toEqual({ kind: 'invalid' });
    // a disabled target means no delivery
    await store.db.updateTable('users').set({ disabled: true }).where('id', '=', cat.id).execute();
    expect(await resolveRecipient(store.db, 'nobody@example.com')).toEqual({ kind: 'unknown', address: 'nobody@example.com' });
    await store.db.updateTable('users').set({ disabled: false }).where('id', '=', cat.id).execute();
    // removal
    await accounts.removeAlias('@example.com');
    expect((await accounts.listAliases()).map((a) => a.address)).not.toContain('@example.com');
    expect(await resolveRecipient(store.db, 'nobody@example.com')).toMatchObject({ kind: 'unknown' });
    await expect(accounts.removeAlias('@example.com')).rejects.toMatchObject({ code: 'alias.not_found', status: 404 });
    await accounts.removeUser('cat@example.com');
    await accounts.removeDomain('other.test');
  });
});

describe('resolveRecipients', () => {
  it('resolves any number of addresses of every kind in ONE statement, each as resolveRecipient does', async () => {
    const ann = await accounts.requireUser('ann@example.com');
    const admin = await accounts.addUser({ address: 'chief@example.com', password: 'chief password', role: 'admin' });
    await accounts.addDomain('cats.test');
    const cat = await accounts.addUser({ address: 'cat@cats.test', password: 'cat password' });
    await accounts.addAlias('@cats.test', 'cat@cats.test');
    const inputs = ['ANN@example.com', 'sales@example.com', 'ann+x@example.com', 'sales+y@example.com', 'bob@example.com', 'ann@elsewhere.test', 'not-an-address', 'postmaster@example.com', 'who@cats.test', 'cat+z@cats.test', 'ann@example.com'];
    const counted = countingDb(store.db);
    const verdicts = await resolveRecipients(counted.db, inputs);
    expect(counted.count()).toBe(1);
    expect(verdicts).toEqual([
      { kind: 'local', userId: ann.id, address: 'ann@example.com' },
      { kind: 'local', userId: ann.id, address: 'sales@example.com' },
      { kind: 'local', userId: ann.id, address: 'ann@example.com' },
      { kind: 'local', userId: ann.id, address: 'sales@example.com' },
      { kind: 'unknown', address: 'bob@example.com' },
      { kind: 'relay', address: 'ann@elsewhere.test' },
      { kind: 'invalid' },
      { kind: 'local', userId: admin.id, address: 'postmaster@example.com' },
      { kind: 'local', userId: cat.id, address: 'who@cats.test' },
      { kind: 'local', userId: cat.id, address: 'cat@cats.test' },
      { kind: 'local', userId: ann.id, address: 'ann@example.com' },
    ]);
    for (const [i, input] of inputs.entries()) expect(await resolveRecipient(store.db, input)).toEqual(verdicts[i]);
    counted.reset();
    expect(await resolveRecipients(counted.db, ['nope', '@example.com'])).toEqual([{ kind: 'invalid' }, { kind: 'invalid' }]);
    expect(counted.count()).toBe(0);
    await accounts.removeAlias('@cats.test');
    await accounts.removeUser('cat@cats.test');
    await accounts.removeDomain('cats.test');
    await accounts.removeUser('chief@example.com');
  });

  it('caches nothing: an alias added or removed counts for the very next lookup', async () => {
    const ann = await accounts.requireUser('ann@example.com');
    expect(await resolveRecipients(store.db, ['fresh@example.com'])).toEqual([{ kind: 'unknown', address: 'fresh@example.com' }]);
    await accounts.addAlias('fresh@example.com', 'ann@example.com');
    expect(await resolveRecipients(store.db, ['fresh@example.com'])).toEqual([{ kind: 'local', userId: ann.id, address: 'fresh@example.com' }]);
    await accounts.removeAlias('fresh@example.com');
    expect(await resolveRecipients(store.db, ['fresh@example.com'])).toEqual([{ kind: 'unknown', address: 'fresh@example.com' }]);
  });
});
