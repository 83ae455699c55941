import { createPublicKey, sign, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from './accounts.service.js';
import { activeDkimKey, activeDkimPublicKey, dkimTxtRecord, generateDkimKey, listDkimKeys, rotateDkimKey } from './dkim.service.js';

let store: TestStore;
let accounts: ReturnType<typeof createAccountsService>;

beforeAll(async () => {
  store = await createTestStore();
  accounts = createAccountsService({ db: store.db });
  await accounts.addDomain('Keys.Test');
});
afterAll(async () => {
  await store.drop();
});

function publicKeyFromTxt(txt: string) {
  const p = /(?:^|;)\s*p=([^;]+)/.exec(txt)![1]!.replace(/\s+/g, '');
  return createPublicKey({ key: Buffer.from(p, 'base64'), format: 'der', type: 'spki' });
}

describe('DKIM keys', () => {
  it('gives a new domain an active RSA-2048 key with a myYYYYMM selector', async () => {
    const keys = await listDkimKeys(store.db, 'keys.test');
    expect(keys).toHaveLength(1);
    const now = new Date();
    expect(keys[0]).toMatchObject({ domain: 'keys.test', active: true, selector: `my${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, '0')}` });
    expect(publicKeyFromTxt(dkimTxtRecord(keys[0]!.publicKeyB64)).asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(dkimTxtRecord('AAAA')).toBe('v=DKIM1; k=rsa; p=AAAA');
  });

  it('verifies a signature made with the private key using the public key from the TXT record', async () => {
    const signing = (await activeDkimKey(store.db, 'keys.test'))!;
    expect(signing.privateKeyPem).toContain('BEGIN PRIVATE KEY');
    const published = (await activeDkimPublicKey(store.db, 'keys.test'))!;
    expect(published.selector).toBe(signing.selector);
    expect(JSON.stringify(published)).not.toContain('PRIVATE KEY');
    const data = Buffer.from('dkim-signature header hash input');
    const signature = sign('sha256', data, signing.privateKeyPem);
    expect(verify('sha256', data, publicKeyFromTxt(dkimTxtRecord(published.publicKeyB64)), signature)).toBe(true);
    expect(verify('sha256', Buffer.from('tampered'), publicKeyFromTxt(dkimTxtRecord(published.publicKeyB64)), signature)).toBe(false);
  });

  it('rotation makes a new key active and keeps the old ones inactive; one active at a time', async () => {
    const before = (await activeDkimPublicKey(store.db, 'keys.test'))!;
    const rotated = await rotateDkimKey(store.db, 'keys.test');
    expect(rotated.selector).not.toBe(before.selector);
    expect(rotated.active).toBe(true);
    // Two rotations at once: both succeed (serialized), still exactly one active key.
    await Promise.all([rotateDkimKey(store.db, 'keys.test'), rotateDkimKey(store.db, 'keys.test')]);
    const keys = await listDkimKeys(store.db, 'keys.test');
    expect(keys).toHaveLength(4);
    expect(new Set(keys.map((k) => k.selector)).size).toBe(4);
    expect(keys.filter((k) => k.active)).toHaveLength(1);
    expect(keys.find((k) => k.selector === before.selector)!.active).toBe(false);
    expect((await activeDkimKey(store.db, 'keys.test'))!.selector).toBe(keys.find((k) => k.active)!.selector);
  });

  it('refuses a duplicate or invalid selector and an unknown domain; the store refuses two active keys', async () => {
    await expect(rotateDkimKey(store.db, 'keys.test', 'custom')).resolves.toMatchObject({ selector: 'custom', active: true });
    await expect(rotateDkimKey(store.db, 'keys.test', 'custom')).rejects.toMatchObject({ code: 'dkim.selector_exists', status: 409 });
    await expect(rotateDkimKey(store.db, 'keys.test', 'bad selector!')).rejects.toMatchObject({ code: 'dkim.selector_invalid' });
    await expect(rotateDkimKey(store.db, 'nope.test')).rejects.toMatchObject({ code: 'domain.not_found', status: 404 });
    await expect(activeDkimKey(store.db, 'nope.test')).resolves.toBeNull();
    // generateDkimKey on a domain that has an active key adds an inactive one.
    expect((await generateDkimKey(store.db, 'keys.test', 'spare')).active).toBe(false);
    const domainId = (await store.db.selectFrom('domains').select('id').where('name', '=', 'keys.test').executeTakeFirstOrThrow()).id;
    await expect(store.db.updateTable('dkim_keys').set({ active: true }).where('domain_id', '=', domainId).where('selector', '=', 'spare').execute()).rejects.toThrow(/dkim_keys_one_active/);
  });

  it('removes the keys with the domain', async () => {
    await accounts.addDomain('gone.test');
    expect(await listDkimKeys(store.db, 'gone.test')).toHaveLength(1);
    await accounts.removeDomain('gone.test');
    expect(await store.db.selectFrom('dkim_keys').select('id').where('domain_id', 'not in', store.db.selectFrom('domains').select('id')).execute()).toEqual([]);
  });
});
