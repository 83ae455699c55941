import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { tmpdir } from 'node:os';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { allocateRedisUrl } from '../../../tests/helpers/redis.js';
import { createRateLimiter } from '../auth/rate-limit.js';
import type { UserEvent } from '../contracts/events.js';
import type { OutboundJob } from '../queue/queues.js';
import { mayUseSenderAddress } from './recipient-routing.js';
import { sendMessage } from './send.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';

let store: TestStore;
let ann: number;
let ben: number;

beforeAll(async () => {
  store = await createTestStore();
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('own.test');
  await accounts.addDomain('catch.test');
  ann = (await accounts.addUser({ address: 'ann@own.test', password: 'ann password' })).id;
  ben = (await accounts.addUser({ address: 'ben@own.test', password: 'ben password' })).id;
  await accounts.addDomain('recv.test');
  // Aliases grant receiving; sending as one is an admin's explicit grant.
  await accounts.addAlias('sales@own.test', 'ann@own.test', { allowSend: true });
  await accounts.addAlias('help@own.test', 'ben@own.test', { allowSend: true });
  await accounts.addAlias('@catch.test', 'ann@own.test', { allowSend: true });
  await accounts.addAlias('inbox@own.test', 'ann@own.test');
  await accounts.addAlias('@recv.test', 'ann@own.test');
});
afterAll(async () => {
  await store?.drop();
});

describe('mayUseSenderAddress (who may send as whom)', () => {
  it('allows the user’s own address (any case), their aliases and any address of a domain whose catch-all is theirs, when allowed to send', async () => {
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

  it('refuses an alias or a catch-all that delivers to the user but was not allowed to send', async () => {
    for (const address of ['inbox@own.test', 'anyone@recv.test', 'postmaster@recv.test']) {
      expect(await mayUseSenderAddress(store.db, ann, address), address).toBe(false);
    }
  });
});

describe('sendMessage writes everything or nothing', () => {
  let redis: Redis;
  const published: Array<{ userId: number; event: UserEvent }> = [];
  const enqueued: OutboundJob[] = [];
  const deps = () => ({
    db: store.db,
    events: { publish: async (userId: number, event: UserEvent) => void published.push({ userId, event }) },
    dataDir: tmpdir(),
    limiter: createRateLimiter(redis),
    outbound: { enqueue: async (jobs: OutboundJob[]) => void enqueued.push(...jobs) },
  });
  async function traces() {
    const users = await store.db.selectFrom('users').select(['id', 'modseq']).where('id', 'in', [ann, ben]).orderBy('id').execute();
    const messages = await store.db.selectFrom('messages').select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
    const changes = await store.db.selectFrom('changes').select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
    const outbound = await store.db.selectFrom('outbound_messages').select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
    const counters = await store.db.selectFrom('mailboxes').select(['id', 'message_count', 'uidnext', 'highestmodseq']).where('user_id', 'in', [ann, ben]).orderBy('id').execute();
    return { users, messages: Number(messages.n), changes: Number(changes.n), outbound: Number(outbound.n), counters };
  }

  beforeAll(async () => {
    const allocated = await allocateRedisUrl();
    redis = new Redis(allocated.url);
  });
  afterAll(() => redis?.disconnect());

  it('a send that fails after the Sent and local copies are written leaves no copy, no record, no change and no event', async () => {
    const before = await traces();
    // The last step (the outbound record, for the remote recipient) fails as a crash there would.
    await sql`CREATE FUNCTION fail_outbound() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$`.execute(store.db);
    await sql`CREATE TRIGGER fail_outbound BEFORE INSERT ON outbound_messages FOR EACH ROW EXECUTE FUNCTION fail_outbound()`.execute(store.db);
    try {
      await expect(sendMessage(deps(), { userId: ann, address: 'ann@own.test' }, { to: ['ben@own.test', 'someone@remote.test'], subject: 'half sent?', text: 'hello' })).rejects.toThrow(/injected failure/);
    } finally {
      await sql`DROP TRIGGER fail_outbound ON outbound_messages`.execute(store.db);
      await sql`DROP FUNCTION fail_outbound()`.execute(store.db);
    }
    expect(await traces()).toEqual(before);
    expect(published).toEqual([]);
    expect(enqueued).toEqual([]);
  });

  it('the same send, unhindered, files both copies, records the delivery and only then publishes and enqueues', async () => {
    const before = await traces();
    const result = await sendMessage(deps(), { userId: ann, address: 'ann@own.test' }, { to: ['ben@own.test', 'someone@remote.test'], subject: 'whole', text: 'hello' });
    const after = await traces();
    expect(after.messages).toBe(before.messages + 2);
    expect(after.outbound).toBe(before.outbound + 1);
    expect(result.deliveredLocally).toEqual(['ben@own.test']);
    expect(enqueued).toEqual([{ outboundId: result.outboundId, domain: 'remote.test', attempt: 0 }]);
    expect(published.filter((p) => p.event.type === 'message.new').map((p) => p.userId).sort()).toEqual([ann, ben].sort());
  });

  it('a send to oneself and to other local users files the Sent copy and one INBOX copy per recipient, in one batch', async () => {
    const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
    const cid = (await accounts.addUser({ address: 'cid@own.test', password: 'cid password' })).id;
    const result = await sendMessage(deps(), { userId: ann, address: 'ann@own.test' }, { to: ['ann@own.test', 'ben@own.test'], cc: ['cid@own.test'], subject: 'to us all', text: 'hello' });
    expect(result.deliveredLocally.sort()).toEqual(['ann@own.test', 'ben@own.test', 'cid@own.test']);
    const copies = await store.db
      .selectFrom('messages')
      .innerJoin('mailboxes', 'mailboxes.id', 'messages.mailbox_id')
      .select(['messages.user_id', 'mailboxes.special_use', 'messages.modseq', 'messages.flags'])
      .where('messages.subject', '=', 'to us all')
      .orderBy('messages.user_id')
      .orderBy('messages.modseq')
      .execute();
    expect(copies.map((c) => [Number(c.user_id), c.special_use, c.flags])).toEqual([
      [ann, '\\Sent', ['\\Seen']],
      [ann, '\\Inbox', []],
      [ben, '\\Inbox', []],
      [cid, '\\Inbox', []],
    ]);
    // The sender's two copies: consecutive changes of her mailbox state, the Sent copy first.
    expect(Number(copies[1]!.modseq)).toBe(Number(copies[0]!.modseq) + 1);
  });
});
