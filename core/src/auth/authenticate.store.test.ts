import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { createAppPasswordRepository } from '../repositories/credential.repository.js';
import { generateAppPassword } from './app-password.js';
import { authenticatePassword } from './authenticate.js';
import { hashPassword } from './password.js';

let store: TestStore;
let zoeId: number;
let yanId: number;
const appPassword = generateAppPassword();

beforeAll(async () => {
  store = await createTestStore();
  const accounts = createAccountsService({ db: store.db });
  await accounts.addDomain('auth.test');
  zoeId = (await accounts.addUser({ address: 'zoe@auth.test', password: 'zoe password' })).id;
  yanId = (await accounts.addUser({ address: 'yan@auth.test', password: 'yan password' })).id;
  await createAppPasswordRepository(store.db).insert(zoeId, 'Thunderbird', await hashPassword(appPassword));
});
afterAll(async () => {
  await store.drop();
});

describe('authenticatePassword with app passwords', () => {
  it('does not accept an app password for web sign-in (allowAppPasswords off)', async () => {
    expect(await authenticatePassword(store.db, 'zoe@auth.test', appPassword)).toBeNull();
    expect(await authenticatePassword(store.db, 'zoe@auth.test', appPassword, { allowAppPasswords: false })).toBeNull();
  });

  it('accepts an app password where allowAppPasswords is on (IMAP/SMTP) and records its last use', async () => {
    const before = await createAppPasswordRepository(store.db).list(zoeId);
    expect(before[0]!.lastUsedAt).toBeNull();
    expect(await authenticatePassword(store.db, 'zoe@auth.test', appPassword, { allowAppPasswords: true })).toMatchObject({ userId: zoeId, address: 'zoe@auth.test' });
    const after = await createAppPasswordRepository(store.db).list(zoeId);
    expect(after[0]!.lastUsedAt).toBeInstanceOf(Date);
  });

  it('still accepts the account password with allowAppPasswords on', async () => {
    expect(await authenticatePassword(store.db, 'zoe@auth.test', 'zoe password', { allowAppPasswords: true })).toMatchObject({ userId: zoeId });
  });

  it('with appPasswordOnlyWithTotp, a user with TOTP on gets in with an app password only (mail clients cannot ask for the code)', async () => {
    const options = { allowAppPasswords: true, appPasswordOnlyWithTotp: true };
    expect(await authenticatePassword(store.db, 'zoe@auth.test', 'zoe password', options)).toMatchObject({ userId: zoeId });
    await store.db.updateTable('users').set({ totp_enabled: true }).where('id', '=', zoeId).execute();
    try {
      expect(await authenticatePassword(store.db, 'zoe@auth.test', 'zoe password', options)).toBeNull();
      expect(await authenticatePassword(store.db, 'zoe@auth.test', appPassword, options)).toMatchObject({ userId: zoeId });
      // The web sign-in still takes the account password (and then asks for the code).
      expect(await authenticatePassword(store.db, 'zoe@auth.test', 'zoe password')).toMatchObject({ userId: zoeId, totpEnabled: true });
    } finally {
      await store.db.updateTable('users').set({ totp_enabled: false }).where('id', '=', zoeId).execute();
    }
  });

  it("does not accept one user's app password for another user", async () => {
    expect(await authenticatePassword(store.db, 'yan@auth.test', appPassword, { allowAppPasswords: true })).toBeNull();
  });

  it('stops accepting an app password once it is revoked', async () => {
    const repo = createAppPasswordRepository(store.db);
    const extra = generateAppPassword();
    const row = await repo.insert(zoeId, 'Phone', await hashPassword(extra));
    expect(await authenticatePassword(store.db, 'zoe@auth.test', extra, { allowAppPasswords: true })).not.toBeNull();
    expect(await repo.remove(yanId, row.id)).toBeNull(); // scoped by owner: another user's id removes nothing
    expect(await repo.remove(zoeId, row.id)).toBe('Phone');
    expect(await authenticatePassword(store.db, 'zoe@auth.test', extra, { allowAppPasswords: true })).toBeNull();
  });

  it('stores only an argon2id hash of an app password', async () => {
    const rows = await store.db.selectFrom('app_passwords').select('password_hash').where('user_id', '=', zoeId).execute();
    for (const r of rows) {
      expect(r.password_hash).toMatch(/^\$argon2id\$/);
      expect(r.password_hash).not.toContain(appPassword);
    }
  });
});
