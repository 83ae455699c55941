import { tmpdir } from 'node:os';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { allocateRedisUrl } from '../../../tests/helpers/redis.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { createRateLimiter } from '../auth/rate-limit.js';
import type { OutboundJob } from '../queue/queues.js';
import { createScheduledSendRepository } from '../repositories/scheduled-send.repository.js';
import { cancelHeld, holdMessage, NotDueError, sendHeld, type HoldDeps } from './scheduled-send.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';
import { eventually } from '../../../tests/helpers/services.js';

let store: TestStore;
let redis: Redis;
let ann: number;
let ben: number;
const woken: Array<{ id: number; delayMs: number }> = [];
const enqueued: OutboundJob[] = [];

function deps(): HoldDeps {
  return {
    db: store.db,
    events: { publish: async () => undefined },
    dataDir: tmpdir(),
    limiter: createRateLimiter(redis),
    outbound: { enqueue: async (jobs) => void enqueued.push(...jobs) },
    scheduled: { enqueue: async (id, delayMs) => void woken.push({ id, delayMs }) },
  };
}
const annSender = () => ({ userId: ann, address: 'ann@own.test', name: 'Ann' });

/** The copies of a subject in each user's mailboxes, as "user:specialUse". */
async function copies(subject: string): Promise<string[]> {
  const rows = await store.db
    .selectFrom('messages')
    .innerJoin('mailboxes', 'mailboxes.id', 'messages.mailbox_id')
    .select(['messages.user_id', 'mailboxes.special_use'])
    .where('messages.subject', '=', subject)
    .execute();
  return rows.map((r) => `${r.user_id === ann ? 'ann' : 'ben'}:${r.special_use}`).sort();
}

/** Makes a held message due now (instead of waiting for its time). */
async function makeDue(id: number): Promise<void> {
  await sql`UPDATE scheduled_sends SET send_at = now() - interval '1 second' WHERE id = ${id}`.execute(store.db);
}

beforeAll(async () => {
  store = await createTestStore();
  redis = new Redis((await allocateRedisUrl()).url);
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('own.test');
  ann = (await accounts.addUser({ address: 'ann@own.test', password: 'ann password' })).id;
  ben = (await accounts.addUser({ address: 'ben@own.test', password: 'ben password' })).id;
});
afterAll(async () => {
  redis?.disconnect();
  await store?.drop();
});

describe('holding a message (undo send, scheduled send)', () => {
  it("holds it for the user's undo delay (default 10 s) and files nothing meanwhile", async () => {
    const { row, sent } = await holdMessage(deps(), annSender(), { to: ['ben@own.test'], subject: 'held', text: 'x' });
    expect(sent).toBeNull();
    expect(row.status).toBe('pending');
    const wait = row.sendAt.getTime() - Date.now();
    expect(wait).toBeGreaterThan(5_000);
    expect(wait).toBeLessThanOrEqual(11_000);
    expect(woken.at(-1)).toEqual({ id: row.id, delayMs: expect.any(Number) });
    expect(await copies('held')).toEqual([]);
    await expect(sendHeld(deps(), row.id)).rejects.toBeInstanceOf(NotDueError);
    expect(await copies('held')).toEqual([]);
  });

  it('never sends a cancelled message, even once it is due', async () => {
    const { row } = await holdMessage(deps(), annSender(), { to: ['ben@own.test'], cc: ['Ann <ann@own.test>'], subject: 'changed my mind', text: 'oops' });
    const cancelled = await cancelHeld(deps(), ann, row.id);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.input).toMatchObject({ to: ['ben@own.test'], cc: ['Ann <ann@own.test>'], subject: 'changed my mind', text: 'oops' });
    await makeDue(row.id);
    expect(await sendHeld(deps(), row.id)).toBeNull();
    expect(await copies('changed my mind')).toEqual([]);
    await expect(cancelHeld(deps(), ann, row.id)).rejects.toMatchObject({ code: 'scheduled.not_pending', status: 409 });
  });

  it("does not let another user cancel or see someone's held message (404)", async () => {
    const { row } = await holdMessage(deps(), annSender(), { to: ['ben@own.test'], subject: 'mine', text: 'x' });
    await expect(cancelHeld(deps(), ben, row.id)).rejects.toMatchObject({ code: 'scheduled.not_found', status: 404 });
    expect(await createScheduledSendRepository(store.db).get(ben, row.id)).toBeNull();
    await cancelHeld(deps(), ann, row.id);
  });

  it('sends a due message exactly once when workers and a reconcile pass race for it, and then refuses to cancel it (409)', async () => {
    const { row } = await holdMessage(deps(), annSender(), { to: ['ben@own.test', 'someone@remote.test'], subject: 'once only', text: 'x' });
    await makeDue(row.id);
    const before = enqueued.length;
    const results = await Promise.all([sendHeld(deps(), row.id), sendHeld(deps(), row.id), sendHeld(deps(), row.id)]);
    const sent = results.filter((r) => r !== null);
    expect(sent).toHaveLength(1);
    await expect(cancelHeld(deps(), ann, row.id)).rejects.toMatchObject({ code: 'scheduled.not_pending' });
    expect(await copies('once only')).toEqual(['ann:\\Sent', 'ben:\\Inbox']);
    expect(enqueued.slice(before)).toEqual([{ outboundId: expect.any(Number), domain: 'remote.test', attempt: 0 }]);
    const after = await createScheduledSendRepository(store.db).get(ann, row.id);
    expect(after).toMatchObject({ status: 'sent', outboundId: enqueued.at(-1)!.outboundId, sentMessageId: expect.any(Number) });
    expect(await sendHeld(deps(), row.id)).toBeNull();
  });

  it('lets either a cancel or one send win when they race for a due message, never both', async () => {
    // Which one wins depends on timing (a cancel is one statement, a send reads and routes first).
    const { row } = await holdMessage(deps(), annSender(), { to: ['ben@own.test'], subject: 'cancel or send', text: 'x' });
    await makeDue(row.id);
    const [cancel, ...sends] = await Promise.all([cancelHeld(deps(), ann, row.id).catch((e: unknown) => e), sendHeld(deps(), row.id), sendHeld(deps(), row.id)]);
    const sent = sends.filter((r) => r !== null);
    const status = (await createScheduledSendRepository(store.db).get(ann, row.id))?.status;
    if (sent.length === 0) {
      expect(cancel).toMatchObject({ status: 'cancelled' });
      expect(status).toBe('cancelled');
      expect(await copies('cancel or send')).toEqual([]);
    } else {
      expect(sent).toHaveLength(1);
      expect(cancel).toMatchObject({ code: 'scheduled.not_pending' });
      expect(status).toBe('sent');
      expect(await copies('cancel or send')).toEqual(['ann:\\Sent', 'ben:\\Inbox']);
    }
  });

  it('sends at once, in the same call, when the undo delay is 0', async () => {
    await createScheduledSendRepository(store.db).setUndoSendSeconds(ann, 0);
    try {
      const { row, sent } = await holdMessage(deps(), annSender(), { to: ['ben@own.test'], subject: 'no undo', text: 'x' });
      expect(sent?.deliveredLocally).toEqual(['ben@own.test']);
      expect((await createScheduledSendRepository(store.db).get(ann, row.id))?.status).toBe('sent');
      expect(await copies('no undo')).toEqual(['ann:\\Sent', 'ben:\\Inbox']);
    } finally {
      await createScheduledSendRepository(store.db).setUndoSendSeconds(ann, 10);
    }
  });

  it('answers "held", not an error, when sending at once fails on the store after the row is stored, and the reconcile pass sends it once', async () => {
    // A failure a client would retry into a second copy if it were answered as an error
    // (found by tests/system/faults.system.test.ts: PostgreSQL killed during API sends).
    const repo = createScheduledSendRepository(store.db);
    await repo.setUndoSendSeconds(ann, 0);
    await sql`CREATE FUNCTION fail_store() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'store down'; END $$`.execute(store.db);
    await sql`CREATE TRIGGER fail_store BEFORE INSERT ON messages FOR EACH ROW WHEN (NEW.subject = 'store fails') EXECUTE FUNCTION fail_store()`.execute(store.db);
    try {
      const before = await holdMessage(deps(), annSender(), { to: ['ben@own.test'], subject: 'store fails', text: 'x' });
      expect(before.sent).toBeNull();
      expect((await repo.get(ann, before.row.id))?.status).toBe('pending');
      await sql`DROP TRIGGER fail_store ON messages`.execute(store.db);
      expect(await sendHeld(deps(), before.row.id)).not.toBeNull();
      expect(await copies('store fails')).toEqual(['ann:\\Sent', 'ben:\\Inbox']);
    } finally {
      await sql`DROP TRIGGER IF EXISTS fail_store ON messages`.execute(store.db);
      await sql`DROP FUNCTION IF EXISTS fail_store()`.execute(store.db);
      await repo.setUndoSendSeconds(ann, 10);
    }
  });

  it('holds a scheduled message until the time asked for, and refuses a time in the past or over a year ahead (400)', async () => {
    const tomorrow = new Date(Date.now() + 24 * 3600_000);
    const { row } = await holdMessage(deps(), annSender(), { to: ['ben@own.test'], subject: 'tomorrow', text: 'x' }, tomorrow);
    expect(row.sendAt.toISOString()).toBe(tomorrow.toISOString());
    expect(woken.at(-1)!.delayMs).toBeGreaterThan(23 * 3600_000);
    expect((await createScheduledSendRepository(store.db).listPending(ann)).map((r) => r.id)).toContain(row.id);
    for (const when of [new Date(Date.now() - 3600_000), new Date(Date.now() + 400 * 24 * 3600_000)]) {
      await expect(holdMessage(deps(), annSender(), { to: ['ben@own.test'], subject: 'bad time', text: 'x' }, when)).rejects.toMatchObject({ code: 'send.schedule_invalid' });
    }
  });

  it('checks recipients when the user sends, and marks it failed if a recipient is gone when it is due', async () => {
    await expect(holdMessage(deps(), annSender(), { to: ['nobody@own.test'], subject: 'to nobody', text: 'x' })).rejects.toMatchObject({ code: 'send.unknown_recipient' });
    const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
    const cat = await accounts.addUser({ address: 'cat@own.test', password: 'cat password' });
    const { row } = await holdMessage(deps(), annSender(), { to: ['cat@own.test'], subject: 'to cat', text: 'x' });
    await store.db.deleteFrom('users').where('id', '=', cat.id).execute();
    await makeDue(row.id);
    expect(await sendHeld(deps(), row.id)).toBeNull();
    const after = await createScheduledSendRepository(store.db).get(ann, row.id);
    expect(after).toMatchObject({ status: 'failed', error: expect.stringMatching(/cat@own\.test.*no such mailbox/) });
    expect(await copies('to cat')).toEqual([]);
  });

  it('lists due pending messages whose job should have run for the reconciler', async () => {
    const { row } = await holdMessage(deps(), annSender(), { to: ['ben@own.test'], subject: 'lost job', text: 'x' });
    const repo = createScheduledSendRepository(store.db);
    expect(await repo.listOverdue(0)).not.toContain(row.id);
    await makeDue(row.id);
    expect(await repo.listOverdue(0)).toContain(row.id);
    await sendHeld(deps(), row.id);
    expect(await repo.listOverdue(0)).not.toContain(row.id);
  });

  it('answers the row of a request with the same Idempotency-Key that committed while this one was storing its own, and stores nothing', async () => {
    const input = { to: ['ben@own.test'], subject: 'same key, same moment', text: 'once' };
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let first: number | undefined;
    // The other request: its row is inserted but not yet committed, so this one's first look finds nothing.
    const other = store.db.transaction().execute(async (tx) => {
      const row = await createScheduledSendRepository(tx).insert({
        userId: ann, raw: Buffer.from('x'), input: { ...input }, recipients: ['ben@own.test'], mailFrom: 'ann@own.test', dkimDomain: 'own.test', draftId: null, sendAt: { holdSeconds: 10 }, idempotencyKey: 'same-moment',
      });
      first = row!.id;
      await held;
    });
    await eventually(async () => first !== undefined, { timeoutMs: 5_000, intervalMs: 20 });
    const mine = holdMessage(deps(), annSender(), input, undefined, 'same-moment');
    // This request's insert waits on the other's uncommitted key; then the other commits.
    await eventually(
      async () => Number((await sql<{ n: string }>`SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE '%insert into "scheduled_sends"%'`.execute(store.db)).rows[0]!.n) > 0,
      { timeoutMs: 10_000, intervalMs: 20, describe: () => 'the second insert never waited for the first' },
    );
    release();
    await other;
    const result = await mine;
    expect(result).toMatchObject({ replayed: true, sent: null, row: { id: first } });
    const rows = await store.db.selectFrom('scheduled_sends').select('id').where('idempotency_key', '=', 'same-moment').execute();
    expect(rows.map((r) => r.id)).toEqual([first]);
  });
});
