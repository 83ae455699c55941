import { sql } from 'kysely';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBackend, signInTwoUsers, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';
import { silentLogger } from '../../../../core/src/log/logger.js';
import { NotDueError, sendHeld } from '../../../../core/src/mail/scheduled-send.js';
import { QUEUE_SCHEDULED_SEND, scheduledSendJobId } from '../../../../core/src/queue/queues.js';
import { buildBackend } from '../../app.js';

/** Undo send and scheduled send over the API, and the undo-delay setting. */

let t: TestBackend;
let ann: Agent;
let ben: Agent;

function send(agent: Agent, payload: Record<string, unknown>) {
  return t.app.inject({ method: 'POST', url: '/api/messages/send', headers: agent.headers, payload });
}

async function benHas(subject: string): Promise<boolean> {
  const row = await t.store.db.selectFrom('messages').select('id').where('user_id', '=', ben.userId).where('subject', '=', subject).executeTakeFirst();
  return row !== undefined;
}

/** Sends a held message as the outbound worker would once it is due (polls until it is). */
async function sendWhenDue(id: number, deadlineMs = 10_000) {
  const deps = { db: t.store.db, events: { publish: async () => undefined }, outbound: { enqueue: async () => undefined } };
  const end = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await sendHeld(deps, id);
    } catch (err) {
      if (!(err instanceof NotDueError) || Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

beforeAll(async () => {
  t = await createTestBackend();
  ({ ann, ben } = await signInTwoUsers(t));
});
afterAll(async () => {
  await t?.close();
});

describe('undo-send setting', () => {
  it('is 10 seconds by default, can be set from 0 to 30, and refuses anything else (400)', async () => {
    const get = () => t.app.inject({ method: 'GET', url: '/api/account/settings', headers: { cookie: ben.cookie } });
    expect((await get()).json()).toEqual({ undoSendSeconds: 10, displayName: null, signature: '' });
    const patch = (undoSendSeconds: unknown) => t.app.inject({ method: 'PATCH', url: '/api/account/settings', headers: ben.headers, payload: { undoSendSeconds } });
    expect((await patch(25)).json()).toMatchObject({ undoSendSeconds: 25 });
    expect((await get()).json()).toMatchObject({ undoSendSeconds: 25 });
    for (const bad of [31, -1, 2.5, 'ten']) expect((await patch(bad)).statusCode, String(bad)).toBe(400);
    expect((await patch(10)).statusCode).toBe(200);
  });

  it('requires a session (401) and the CSRF header to change (403)', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/api/account/settings' })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'PATCH', url: '/api/account/settings', headers: { cookie: ben.cookie }, payload: { undoSendSeconds: 0 } })).statusCode).toBe(403);
  });
});

describe('undo send', () => {
  it('holds the message for the undo delay (202 with the id and time), lists it, and files nothing yet', async () => {
    const res = await send(ann, { to: ['ben@m.test'], subject: 'held back', text: 'x' });
    expect(res.statusCode, res.body).toBe(202);
    const body = res.json() as { scheduledId: number; sendAt: string; sent: null };
    expect(body.sent).toBeNull();
    expect(new Date(body.sendAt).getTime()).toBeGreaterThan(Date.now() + 5_000);
    const list = await t.app.inject({ method: 'GET', url: '/api/messages/scheduled', headers: { cookie: ann.cookie } });
    expect(list.json().scheduled).toContainEqual({ id: body.scheduledId, sendAt: body.sendAt, status: 'pending', error: null, message: { to: ['ben@m.test'], subject: 'held back', text: 'x' } });
    expect((await t.app.inject({ method: 'GET', url: '/api/messages/scheduled', headers: { cookie: ben.cookie } })).json().scheduled).toEqual([]);
    expect(await benHas('held back')).toBe(false);
  });

  it('cancels it with the fields as composed (to reopen the compose window); it never arrives; a second cancel is 409', async () => {
    const draft = await t.app.inject({ method: 'POST', url: '/api/drafts', headers: ann.headers, payload: { to: ['ben@m.test'], subject: 'undo me' } });
    const draftId = (draft.json() as { id: number }).id;
    const held = (await send(ann, { to: ['Ben <ben@m.test>'], bcc: ['ann@m.test'], subject: 'undo me', html: '<p>oops</p>', draftId })).json() as { scheduledId: number };
    expect((await t.app.inject({ method: 'POST', url: `/api/messages/scheduled/${held.scheduledId}/cancel`, headers: ben.headers })).statusCode).toBe(404);
    const cancel = await t.app.inject({ method: 'POST', url: `/api/messages/scheduled/${held.scheduledId}/cancel`, headers: ann.headers });
    expect(cancel.statusCode, cancel.body).toBe(200);
    expect(cancel.json()).toMatchObject({ status: 'cancelled', message: { to: ['Ben <ben@m.test>'], bcc: ['ann@m.test'], subject: 'undo me', html: '<p>oops</p>', draftId } });
    expect(await sendWhenDue(held.scheduledId)).toBeNull();
    expect(await benHas('undo me')).toBe(false);
    const again = await t.app.inject({ method: 'POST', url: `/api/messages/scheduled/${held.scheduledId}/cancel`, headers: ann.headers });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('scheduled.not_pending');
    // The draft is still there to go on with.
    expect((await t.app.inject({ method: 'GET', url: '/api/drafts', headers: { cookie: ann.cookie } })).json().drafts.map((d: { id: number }) => d.id)).toContain(draftId);
  });

  it('checks recipients and limits when the user sends (400 now, not later)', async () => {
    const res = await send(ann, { to: ['nobody@m.test'], subject: 'x', text: 'x' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('send.unknown_recipient');
  });
});

describe('scheduled send', () => {
  it('refuses a time in the past (400 send.schedule_invalid) or that is not a date (400)', async () => {
    const past = await send(ann, { to: ['ben@m.test'], subject: 'x', text: 'x', sendAt: new Date(Date.now() - 3600_000).toISOString() });
    expect(past.statusCode).toBe(400);
    expect(past.json().error.code).toBe('send.schedule_invalid');
    expect((await send(ann, { to: ['ben@m.test'], subject: 'x', text: 'x', sendAt: 'tomorrow at 8' })).statusCode).toBe(400);
  });

  it('survives a backend restart: the message is in the store and its job in Redis, and it goes when due', async () => {
    const sendAt = new Date(Date.now() + 1_500).toISOString();
    const res = await send(ann, { to: ['ben@m.test'], subject: 'after the restart', text: 'still here', sendAt });
    expect(res.statusCode, res.body).toBe(202);
    const { scheduledId } = res.json() as { scheduledId: number };
    expect(res.json().sendAt).toBe(new Date(sendAt).toISOString());

    // A new backend process on the same store and Redis (the old one is gone).
    await t.app.close();
    const redis = new Redis(t.redisUrl);
    const app = await buildBackend({ db: t.store.db, redis, createSubscriber: () => new Redis(t.redisUrl, { maxRetriesPerRequest: null }), log: silentLogger() }, { dataDir: t.dataDir });
    t.app = app;
    // t.close() closes t.app (now this one); this connection is ours.
    app.addHook('onClose', async () => redis.disconnect());
    await app.ready();
    const list = await app.inject({ method: 'GET', url: '/api/messages/scheduled', headers: { cookie: ann.cookie } });
    expect(list.json().scheduled.map((s: { id: number }) => s.id)).toContain(scheduledId);
    const queue = new Queue(QUEUE_SCHEDULED_SEND, { connection: redis });
    try {
      expect(await (await queue.getJob(scheduledSendJobId(scheduledId)))?.getState()).toMatch(/delayed|waiting/);
    } finally {
      await queue.close();
    }
    expect(await sendWhenDue(scheduledId)).not.toBeNull();
    expect(await benHas('after the restart')).toBe(true);
    const cancel = await app.inject({ method: 'POST', url: `/api/messages/scheduled/${scheduledId}/cancel`, headers: ann.headers });
    expect(cancel.statusCode).toBe(409);
  });
});

describe('Idempotency-Key', () => {
  const sendWithKey = (agent: Agent, key: string, payload: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url: '/api/messages/send', headers: { ...agent.headers, 'idempotency-key': key }, payload });
  const rowsWithKey = async (key: string) =>
    (await t.store.db.selectFrom('scheduled_sends').select(['id', 'user_id']).where('idempotency_key', '=', key).execute()).map((r) => ({ id: r.id, userId: r.user_id }));

  it('answers a repeated send with the message already held (Idempotent-Replayed), even two at once; another user has their own keys', async () => {
    const payload = { to: ['ben@m.test'], subject: 'sent twice by a retrying client', text: 'once' };
    const first = await sendWithKey(ann, 'retry-1', payload);
    expect(first.statusCode, first.body).toBe(202);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const again = await sendWithKey(ann, 'retry-1', payload);
    expect(again.statusCode, again.body).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual({ scheduledId: first.json().scheduledId, sendAt: first.json().sendAt, sent: null });

    const [a, b] = await Promise.all([sendWithKey(ann, '"retry-2"', payload), sendWithKey(ann, 'retry-2', payload)]);
    expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
    expect(a.json().scheduledId).toBe(b.json().scheduledId);

    const bens = await sendWithKey(ben, 'retry-1', { to: ['ann@m.test'], subject: 'the same key, another user', text: 'x' });
    expect(bens.statusCode, bens.body).toBe(202);
    expect(bens.json().scheduledId).not.toBe(first.json().scheduledId);
    expect(await rowsWithKey('retry-1')).toEqual(
      expect.arrayContaining([
        { id: first.json().scheduledId, userId: ann.userId },
        { id: bens.json().scheduledId, userId: ben.userId },
      ]),
    );
    expect(await rowsWithKey('retry-1')).toHaveLength(2);
    expect(await rowsWithKey('retry-2')).toHaveLength(1);
  });

  it('sends a message once when the request that stored it failed before waking the sender (its answer lost), and the client sends again', async () => {
    const payload = { to: ['ben@m.test'], subject: 'stored, answer lost', text: 'once', sendAt: new Date(Date.now() + 1_500).toISOString() };
    const first = await sendWithKey(ann, 'lost-answer', payload);
    expect(first.statusCode, first.body).toBe(202);
    const { scheduledId } = first.json() as { scheduledId: number };
    // As if that request had died after its commit: no job wakes the sender.
    const redis = new Redis(t.redisUrl);
    const queue = new Queue(QUEUE_SCHEDULED_SEND, { connection: redis });
    try {
      await (await queue.getJob(scheduledSendJobId(scheduledId)))!.remove();
      const again = await sendWithKey(ann, 'lost-answer', payload);
      expect(again.json().scheduledId).toBe(scheduledId);
      expect(await (await queue.getJob(scheduledSendJobId(scheduledId)))?.getState()).toMatch(/delayed|waiting/);
    } finally {
      await queue.close();
      redis.disconnect();
    }
    expect(await sendWhenDue(scheduledId)).not.toBeNull();
    const late = await sendWithKey(ann, 'lost-answer', payload);
    expect(late.statusCode).toBe(202);
    expect(late.json().scheduledId).toBe(scheduledId);
    const copies = await t.store.db.selectFrom('messages').select('id').where('user_id', '=', ben.userId).where('subject', '=', 'stored, answer lost').execute();
    expect(copies).toHaveLength(1);
  });

  it('refuses a key used for another message (422; the draft id aside) and a key that is not 1–255 visible ASCII characters (400), storing nothing', async () => {
    expect((await sendWithKey(ann, 'one-message', { to: ['ben@m.test'], subject: 'the first', text: 'x' })).statusCode).toBe(202);
    // The draft it was saved as is not the message (the webmail's autosave may have saved it again meanwhile).
    const sameFields = await sendWithKey(ann, 'one-message', { to: ['ben@m.test'], subject: 'the first', text: 'x', draftId: 987_654 });
    expect(sameFields.statusCode, sameFields.body).toBe(202);
    expect(sameFields.headers['idempotent-replayed']).toBe('true');
    const other = await sendWithKey(ann, 'one-message', { to: ['ben@m.test'], subject: 'a different one', text: 'x' });
    expect(other.statusCode).toBe(422);
    expect(other.json().error.code).toBe('send.idempotency_key_reused');
    for (const bad of ['', 'two words', 'k'.repeat(256), 'ключ']) {
      const res = await sendWithKey(ann, bad, { to: ['ben@m.test'], subject: `bad key ${bad.length}`, text: 'x' });
      expect(res.statusCode, JSON.stringify(bad)).toBe(400);
      expect(res.json().error.code).toBe('send.idempotency_key_invalid');
    }
    const stored = await t.store.db.selectFrom('scheduled_sends').select('id').where('user_id', '=', ann.userId).where(sql<boolean>`input->>'subject' LIKE 'bad key %' OR input->>'subject' = 'a different one'`).execute();
    expect(stored).toEqual([]);
  });
});
