import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { verifyPassword } from '../auth/password.js';
import { createMailboxRepository } from '../repositories/mailbox.repository.js';
import { resolveRecipient } from '../mail/recipient-routing.js';
import { createAccountsService } from './accounts.service.js';
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

describe('aliases', () => {
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
