import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobHash, createAccountsService, createBlobRepository, createOutboundRepository, silentLogger, type UserEvent } from '@mailyard/core';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { fileDelayWarning, fileOwedDsn } from './bounce.job.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';

let store: TestStore;
let ann: number;
const published: Array<{ userId: number; event: UserEvent }> = [];
const deps = () => ({ db: store.db, events: { publish: async (userId: number, event: UserEvent) => void published.push({ userId, event }) }, log: silentLogger() });

/** An outbound message of ann's to two remote recipients, both bounced and owed a DSN. */
async function bounced(subject: string) {
  const raw = Buffer.from(`From: ann@o.test\r\nTo: x@far.test\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@o.test>\r\n\r\nbody\r\n`);
  await createBlobRepository(store.db).putMany([{ hash: blobHash(raw), data: raw }]);
  const { outboundId } = await createOutboundRepository(store.db).record({
    userId: ann,
    sentMessageId: null,
    raw,
    mailFrom: 'ann@o.test',
    messageIdHeader: `<${subject}@o.test>`,
    subject,
    dkimDomain: 'o.test',
    recipients: ['x@far.test', 'y@far.test'].map((address) => ({ address, domain: 'far.test', local: false })),
  });
  await store.db.updateTable('deliveries').set({ status: 'bounced', dsn_pending: true, last_reply: '550 5.1.1 no such user' }).where('outbound_id', '=', outboundId).execute();
  return outboundId;
}

async function dsnsInInbox(subject: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
    WHERE m.user_id = ${ann} AND b.special_use = '\\Inbox' AND m.body_text LIKE ${`%${subject}%`}`.execute(store.db);
  return rows[0]!.n;
}

beforeAll(async () => {
  store = await createTestStore();
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('o.test');
  ann = (await accounts.addUser({ address: 'ann@o.test', password: 'correct horse' })).id;
});
afterAll(async () => {
  await store?.drop();
});

describe('DSN filing', () => {
  it('files exactly one DSN for the bounced recipients, however many filers race for it', async () => {
    const outboundId = await bounced('raced-bounce');
    const counts = await Promise.all(Array.from({ length: 5 }, () => fileOwedDsn(deps(), 'mx.o.test', outboundId)));
    expect(counts.sort()).toEqual([0, 0, 0, 0, 2]);
    expect(await dsnsInInbox('raced-bounce')).toBe(1);
    const pending = await store.db.selectFrom('deliveries').select('dsn_pending').where('outbound_id', '=', outboundId).execute();
    expect(pending.every((d) => !d.dsn_pending)).toBe(true);
    expect(published.filter((p) => p.event.type === 'message.new')).toHaveLength(1);
  });

  it('leaves the DSN owed, and files nothing, when marking the recipients fails', async () => {
    const outboundId = await bounced('failed-mark');
    await sql`CREATE FUNCTION fail_mark() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$`.execute(store.db);
    await sql`CREATE TRIGGER fail_mark BEFORE UPDATE ON deliveries FOR EACH ROW EXECUTE FUNCTION fail_mark()`.execute(store.db);
    try {
      await expect(fileOwedDsn(deps(), 'mx.o.test', outboundId)).rejects.toThrow(/injected failure/);
    } finally {
      await sql`DROP TRIGGER fail_mark ON deliveries`.execute(store.db);
      await sql`DROP FUNCTION fail_mark()`.execute(store.db);
    }
    expect(await dsnsInInbox('failed-mark')).toBe(0);
    expect(await fileOwedDsn(deps(), 'mx.o.test', outboundId)).toBe(2);
    expect(await dsnsInInbox('failed-mark')).toBe(1);
  });

  it('warns about a delay once per recipient', async () => {
    const outboundId = await bounced('delayed-once');
    const rows = await store.db.selectFrom('deliveries').select(['id', 'recipient']).where('outbound_id', '=', outboundId).orderBy('id').execute();
    const recipients = rows.map((r) => ({ deliveryId: r.id, recipient: r.recipient, reply: '451 4.7.1 try later', remoteMta: 'mx.far.test' }));
    const until = new Date(Date.now() + 3600_000);
    await Promise.all([fileDelayWarning(deps(), 'mx.o.test', outboundId, recipients, until), fileDelayWarning(deps(), 'mx.o.test', outboundId, recipients, until)]);
    await fileDelayWarning(deps(), 'mx.o.test', outboundId, recipients, until);
    expect(await dsnsInInbox('delayed-once')).toBe(1);
  });
});
