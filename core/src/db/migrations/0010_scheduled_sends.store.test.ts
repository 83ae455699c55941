import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../../tests/helpers/store.js';
import { createAccountsService } from '../../accounts/accounts.service.js';
import { testSecrets } from '../../../../tests/helpers/secrets.js';

describe('migration 0010_scheduled_sends', () => {
  let store: TestStore;
  let userId: number;
  beforeAll(async () => {
    store = await createTestStore();
    const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
    await accounts.addDomain('m.test');
    userId = (await accounts.addUser({ address: 'ann@m.test', password: 'ann password' })).id;
  });
  afterAll(async () => {
    await store.drop();
  });

  it('gives users an undo-send delay of 10 s, limited to 0–30', async () => {
    const row = await store.db.selectFrom('users').select('undo_send_seconds').where('id', '=', userId).executeTakeFirstOrThrow();
    expect(row.undo_send_seconds).toBe(10);
    await expect(sql`UPDATE users SET undo_send_seconds = 31 WHERE id = ${userId}`.execute(store.db)).rejects.toThrow(/check constraint/);
    await expect(sql`UPDATE users SET undo_send_seconds = -1 WHERE id = ${userId}`.execute(store.db)).rejects.toThrow(/check constraint/);
  });

  it('creates scheduled_sends: pending by default, only known statuses, gone with its user', async () => {
    const hash = Buffer.alloc(32, 7);
    await store.db.insertInto('blobs').values({ hash, size: 1, data: Buffer.from('x') }).execute();
    const values = { user_id: userId, blob_hash: hash, input: '{}', recipients: ['ben@m.test'], mail_from: 'ann@m.test', dkim_domain: 'm.test', draft_id: null, send_at: new Date() };
    const row = await store.db.insertInto('scheduled_sends').values(values).returning(['id', 'status']).executeTakeFirstOrThrow();
    expect(row.status).toBe('pending');
    await expect(sql`UPDATE scheduled_sends SET status = 'lost' WHERE id = ${row.id}`.execute(store.db)).rejects.toThrow(/check constraint/);
    await store.db.deleteFrom('users').where('id', '=', userId).execute();
    expect(await store.db.selectFrom('scheduled_sends').select('id').execute()).toEqual([]);
  });
});
