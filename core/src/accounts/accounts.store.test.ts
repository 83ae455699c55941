import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { verifyPassword } from '../auth/password.js';
import { createMailboxRepository } from '../repositories/mailbox.repository.js';
import { createAccountsService, resolveRecipient } from './accounts.service.js';

let store: TestStore;
let accounts: ReturnType<typeof createAccountsService>;

beforeAll(async () => {
  store = await createTestStore();
  accounts = createAccountsService({ db: store.db });
  await accounts.addDomain('Example.COM');
  await accounts.addUser({ address: 'Ann@example.com', password: 'ann password' });
  await accounts.addAlias('sales@example.com', 'ann@example.com');
});
afterAll(async () => {
  await store.drop();
});

describe('domains', () => {
  it('stores domains lower-cased and refuses duplicates and non-domains with coded errors', async () => {
    expect((await accounts.listDomains()).map((d) => d.name)).toEqual(['example.com']);
    await expect(accounts.addDomain('example.com')).rejects.toMatchObject({ code: 'domain.exists', status: 409 });
    await expect(accounts.addDomain('not a domain')).rejects.toMatchObject({ code: 'domain.invalid' });
    await expect(accounts.addDomain('localhost')).rejects.toMatchObject({ code: 'domain.invalid' });
  });
  it('refuses to remove a domain that still has users', async () => {
    await expect(accounts.removeDomain('example.com')).rejects.toMatchObject({ code: 'domain.not_empty' });
    await accounts.addDomain('empty.test');
    await accounts.removeDomain('empty.test');
    expect((await accounts.listDomains()).map((d) => d.name)).toEqual(['example.com']);
  });
});

describe('users', () => {
  it('hashes passwords with argon2id and gives every user the six system mailboxes', async () => {
    const user = await accounts.requireUser('ann@example.com');
    const row = await store.db.selectFrom('users').select('password_hash').where('id', '=', user.id).executeTakeFirstOrThrow();
    expect(row.password_hash.startsWith('$argon2id$')).toBe(true);
    expect(await verifyPassword(row.password_hash, 'ann password')).toBe(true);
    expect(await verifyPassword(row.password_hash, 'wrong')).toBe(false);
    const boxes = await createMailboxRepository(store.db).list(user.id);
    expect(boxes.map((b) => [b.name, b.specialUse])).toEqual([
      ['INBOX', '\\Inbox'], ['Drafts', '\\Drafts'], ['Sent', '\\Sent'], ['Archive', '\\Archive'], ['Junk', '\\Junk'], ['Trash', '\\Trash'],
    ]);
    expect(boxes.every((b) => b.uidnext === 1 && b.uidvalidity > 0)).toBe(true);
  });
  it('refuses bad input with a clear, coded error and writes nothing', async () => {
    await expect(accounts.addUser({ address: 'nope', password: 'long enough' })).rejects.toMatchObject({ code: 'address.invalid' });
    await expect(accounts.addUser({ address: 'x@unknown.test', password: 'long enough' })).rejects.toMatchObject({ code: 'domain.not_found' });
    await expect(accounts.addUser({ address: 'ann@example.com', password: 'long enough' })).rejects.toMatchObject({ code: 'user.exists' });
    await expect(accounts.addUser({ address: 'sales@example.com', password: 'long enough' })).rejects.toMatchObject({ code: 'user.exists' });
    await expect(accounts.addUser({ address: 'short@example.com', password: 'short' })).rejects.toMatchObject({ code: 'password.invalid' });
    await expect(accounts.addUser({ address: 'a+b@example.com', password: 'long enough' })).rejects.toMatchObject({ code: 'address.invalid' });
    expect((await accounts.listUsers()).map((u) => u.address)).toEqual(['ann@example.com']);
  });
  it('changes a password so that only the new one verifies', async () => {
    await accounts.addUser({ address: 'pw@example.com', password: 'first password' });
    await accounts.setPassword('pw@example.com', 'second password');
    const user = await accounts.requireUser('pw@example.com');
    const row = await store.db.selectFrom('users').select('password_hash').where('id', '=', user.id).executeTakeFirstOrThrow();
    expect(await verifyPassword(row.password_hash, 'second password')).toBe(true);
    expect(await verifyPassword(row.password_hash, 'first password')).toBe(false);
    await accounts.removeUser('pw@example.com');
    await expect(accounts.requireUser('pw@example.com')).rejects.toMatchObject({ code: 'user.not_found' });
  });
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
  it('allows one catch-all per local domain and validates its domain', async () => {
    await accounts.addAlias('@example.com', 'ann@example.com');
    await expect(accounts.addAlias('@example.com', 'ann@example.com')).rejects.toMatchObject({ code: 'alias.exists', status: 409 });
    await expect(accounts.addAlias('@EXAMPLE.com.', 'ann@example.com')).rejects.toMatchObject({ code: 'alias.exists', status: 409 });
    await expect(accounts.addAlias('@other.test', 'ann@example.com')).rejects.toMatchObject({ code: 'domain.not_found', status: 404 });
    await expect(accounts.addAlias('@localhost', 'ann@example.com')).rejects.toMatchObject({ code: 'address.invalid' });
    await expect(accounts.addAlias('@', 'ann@example.com')).rejects.toMatchObject({ code: 'address.invalid' });
    await expect(accounts.addAlias('@bad domain.com', 'ann@example.com')).rejects.toMatchObject({ code: 'address.invalid' });
    await expect(accounts.addAlias('@a@example.com', 'ann@example.com')).rejects.toMatchObject({ code: 'address.invalid' });
    // postmaster with a catch-all: the catch-all comes first
    const ann = await accounts.requireUser('ann@example.com');
    expect(await resolveRecipient(store.db, 'postmaster@example.com')).toMatchObject({ kind: 'local', userId: ann.id });
    await accounts.removeAlias('@Example.com');
    expect(await resolveRecipient(store.db, 'postmaster@example.com')).toMatchObject({ kind: 'unknown' });
  });
  it('refuses an alias that collides with a user or points nowhere', async () => {
    await expect(accounts.addAlias('ann@example.com', 'ann@example.com')).rejects.toMatchObject({ code: 'alias.exists' });
    await expect(accounts.addAlias('x@example.com', 'nobody@example.com')).rejects.toMatchObject({ code: 'user.not_found' });
    await expect(accounts.addAlias('x@other.test', 'ann@example.com')).rejects.toMatchObject({ code: 'domain.not_found' });
  });
});
