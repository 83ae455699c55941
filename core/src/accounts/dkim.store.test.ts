import { createPublicKey, sign, verify } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testSecrets } from '../../../tests/helpers/secrets.js';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createSecretBox } from '../auth/secret-box.js';
import { createAccountsService } from './accounts.service.js';
import { activeDkimKey, activeDkimPublicKey, dkimTxtRecord, generateDkimKey, generateDkimKeyPair, listDkimKeys, rotateDkimKey, sealLegacyDkimKeys } from './dkim.service.js';

let store: TestStore;
let accounts: ReturnType<typeof createAccountsService>;

beforeAll(async () => {
  store = await createTestStore();
  accounts = createAccountsService({ db: store.db, secrets: testSecrets });
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
    const signing = (await activeDkimKey({ db: store.db, secrets: testSecrets }, 'keys.test'))!;
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
    const rotated = await rotateDkimKey({ db: store.db, secrets: testSecrets }, 'keys.test');
    expect(rotated.selector).not.toBe(before.selector);
    expect(rotated.active).toBe(true);
    // Two rotations at once: both succeed (serialized), still exactly one active key.
    await Promise.all([rotateDkimKey({ db: store.db, secrets: testSecrets }, 'keys.test'), rotateDkimKey({ db: store.db, secrets: testSecrets }, 'keys.test')]);
    const keys = await listDkimKeys(store.db, 'keys.test');
    expect(keys).toHaveLength(4);
    expect(new Set(keys.map((k) => k.selector)).size).toBe(4);
    expect(keys.filter((k) => k.active)).toHaveLength(1);
    expect(keys.find((k) => k.selector === before.selector)!.active).toBe(false);
    expect((await activeDkimKey({ db: store.db, secrets: testSecrets }, 'keys.test'))!.selector).toBe(keys.find((k) => k.active)!.selector);
  });

  it('refuses a duplicate or invalid selector and an unknown domain; the store refuses two active keys', async () => {
    await expect(rotateDkimKey({ db: store.db, secrets: testSecrets }, 'keys.test', 'custom')).resolves.toMatchObject({ selector: 'custom', active: true });
    await expect(rotateDkimKey({ db: store.db, secrets: testSecrets }, 'keys.test', 'custom')).rejects.toMatchObject({ code: 'dkim.selector_exists', status: 409 });
    await expect(rotateDkimKey({ db: store.db, secrets: testSecrets }, 'keys.test', 'bad selector!')).rejects.toMatchObject({ code: 'dkim.selector_invalid' });
    await expect(rotateDkimKey({ db: store.db, secrets: testSecrets }, 'nope.test')).rejects.toMatchObject({ code: 'domain.not_found', status: 404 });
    await expect(activeDkimKey({ db: store.db, secrets: testSecrets }, 'nope.test')).resolves.toBeNull();
    // generateDkimKey on a domain that has an active key adds an inactive one.
    expect((await generateDkimKey({ db: store.db, secrets: testSecrets }, 'keys.test', 'spare')).active).toBe(false);
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

describe('DKIM private keys at rest', () => {
  const sealing = () => ({ db: store.db, secrets: testSecrets });
  const storedKeys = async (domain: string) =>
    (
      await store.db
        .selectFrom('dkim_keys')
        .innerJoin('domains', 'domains.id', 'dkim_keys.domain_id')
        .select(['dkim_keys.selector', 'dkim_keys.private_key_pem'])
        .where('domains.name', '=', domain)
        .execute()
    ).map((r) => ({ selector: r.selector, stored: r.private_key_pem }));
  /** Puts an unsealed PEM in the domain's active key, as a row written before sealing existed. */
  async function makeLegacy(domain: string): Promise<string> {
    const { privateKeyPem } = await generateDkimKeyPair();
    const domainId = (await store.db.selectFrom('domains').select('id').where('name', '=', domain).executeTakeFirstOrThrow()).id;
    await store.db.updateTable('dkim_keys').set({ private_key_pem: privateKeyPem }).where('domain_id', '=', domainId).where('active', '=', true).execute();
    return privateKeyPem;
  }
  function capturingLog() {
    const lines: Array<Record<string, unknown>> = [];
    return { log: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }), lines };
  }

  it('stores no PEM after a domain is added or its key rotated, and the opened key still signs', async () => {
    await accounts.addDomain('sealed.test');
    await rotateDkimKey(sealing(), 'sealed.test');
    const stored = await storedKeys('sealed.test');
    expect(stored).toHaveLength(2);
    for (const { stored: value } of stored) {
      expect(value).not.toMatch(/BEGIN|PRIVATE KEY/);
      expect(value).toMatch(/^v1:/);
    }
    const signing = (await activeDkimKey(sealing(), 'sealed.test'))!;
    const published = (await activeDkimPublicKey(store.db, 'sealed.test'))!;
    const data = Buffer.from('header hash input');
    expect(verify('sha256', data, publicKeyFromTxt(dkimTxtRecord(published.publicKeyB64)), sign('sha256', data, signing.privateKeyPem))).toBe(true);
  });

  it('seals an unsealed key from before sealing the first time it is read, and says so in the log', async () => {
    await accounts.addDomain('legacy.test');
    const pem = await makeLegacy('legacy.test');
    const { log, lines } = capturingLog();
    const first = (await activeDkimKey({ ...sealing(), log }, 'legacy.test'))!;
    expect(first.privateKeyPem).toBe(pem);
    const [row] = (await storedKeys('legacy.test')).filter((k) => k.selector === first.selector);
    expect(row!.stored).toMatch(/^v1:/);
    expect(testSecrets.open(row!.stored)).toBe(pem);
    expect(lines).toContainEqual(expect.objectContaining({ event: 'dkim.key_sealed', domain: 'legacy.test', selector: first.selector }));
    // Read again: already sealed, nothing more to log; the same key comes back.
    const again = capturingLog();
    expect((await activeDkimKey({ ...sealing(), log: again.log }, 'legacy.test'))!.privateKeyPem).toBe(pem);
    expect(again.lines.filter((l) => l.event === 'dkim.key_sealed')).toEqual([]);
  });

  it('`dkim seal` seals every unsealed key at once and counts them', async () => {
    await accounts.addDomain('legacy-a.test');
    await accounts.addDomain('legacy-b.test');
    const pems = [await makeLegacy('legacy-a.test'), await makeLegacy('legacy-b.test')];
    const { log, lines } = capturingLog();
    expect(await sealLegacyDkimKeys({ ...sealing(), log })).toBe(2);
    expect(await sealLegacyDkimKeys(sealing())).toBe(0);
    const stored = [...(await storedKeys('legacy-a.test')), ...(await storedKeys('legacy-b.test'))];
    expect(stored.every((k) => k.stored.startsWith('v1:'))).toBe(true);
    expect(stored.map((k) => testSecrets.open(k.stored))).toEqual(pems);
    expect(lines.filter((l) => l.event === 'dkim.key_sealed')).toHaveLength(2);
  });

  it('names SECRET_KEY and DATA_DIR when the key cannot be opened with this sealing key', async () => {
    await accounts.addDomain('otherkey.test');
    const wrong = createSecretBox(Buffer.alloc(32, 7));
    await expect(activeDkimKey({ db: store.db, secrets: wrong }, 'otherkey.test')).rejects.toMatchObject({
      code: 'dkim.key_unreadable',
      message: expect.stringMatching(/otherkey\.test.*SECRET_KEY.*DATA_DIR\/secret\.key/),
    });
    // The row is left as it was: the right key still opens it.
    expect((await activeDkimKey(sealing(), 'otherkey.test'))!.privateKeyPem).toContain('BEGIN PRIVATE KEY');
  });
});
