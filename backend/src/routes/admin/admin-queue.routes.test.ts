import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBackend, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';
import { createOutboundRepository } from '../../../../core/src/repositories/outbound.repository.js';
import { createOutboundQueue, outboundJobId, type OutboundQueue } from '../../../../core/src/queue/queues.js';

let t: TestBackend;
let admin: Agent;
let dadmin: Agent;
let plain: Agent;
let queue: OutboundQueue;
/** Delivery ids by recipient. */
const ids: Record<string, number> = {};
let sueOutboundId: number;

type Method = 'GET' | 'POST';
function call(agent: Agent, method: Method, url: string) {
  return t.app.inject({ method, url, headers: agent.headers });
}

/** Sends through the API (no undo delay) and returns the outbound id. */
async function send(agent: Agent, to: string[], subject: string): Promise<number> {
  expect((await t.app.inject({ method: 'PATCH', url: '/api/account/settings', headers: agent.headers, payload: { undoSendSeconds: 0 } })).statusCode).toBe(200);
  const res = await t.app.inject({ method: 'POST', url: '/api/messages/send', headers: agent.headers, payload: { to, subject, text: 'x' } });
  expect(res.statusCode, res.body).toBe(202);
  return res.json().sent.outboundId;
}

async function deliveryId(outboundId: number, recipient: string): Promise<number> {
  return (await t.store.db.selectFrom('deliveries').select('id').where('outbound_id', '=', outboundId).where('recipient', '=', recipient).executeTakeFirstOrThrow()).id;
}

beforeAll(async () => {
  t = await createTestBackend();
  queue = createOutboundQueue(t.redis);
  await t.accounts.addDomain('a.test');
  await t.accounts.addDomain('b.test');
  await t.accounts.addUser({ address: 'root@a.test', password: 'root password', role: 'admin' });
  const boss = await t.accounts.addUser({ address: 'boss@a.test', password: 'boss password', role: 'domain-admin' });
  const aId = (await t.store.db.selectFrom('domains').select('id').where('name', '=', 'a.test').executeTakeFirstOrThrow()).id;
  await t.store.db.insertInto('domain_admins').values({ user_id: boss.id, domain_id: aId }).execute();
  await t.accounts.addUser({ address: 'sue@a.test', password: 'sue password' });
  await t.accounts.addUser({ address: 'bob@b.test', password: 'bob password' });
  admin = await t.login('root@a.test', 'root password');
  dadmin = await t.login('boss@a.test', 'boss password');
  plain = await t.login('sue@a.test', 'sue password');
  const bob = await t.login('bob@b.test', 'bob password');

  sueOutboundId = await send(plain, ['far@far.test', 'near@far.test', 'other@away.test'], 'from sue');
  const bobOutboundId = await send(bob, ['far@far.test'], 'from bob');
  for (const r of ['far@far.test', 'near@far.test', 'other@away.test']) ids[`sue:${r}`] = await deliveryId(sueOutboundId, r);
  ids['bob:far@far.test'] = await deliveryId(bobOutboundId, 'far@far.test');

  // The worker tried sue's far.test recipients: both deferred for ten minutes, its retry job delayed.
  const outbound = createOutboundRepository(t.store.db);
  const claimed = await outbound.claimDue(sueOutboundId, 'far.test', 60_000);
  expect(claimed).toHaveLength(2);
  const later = new Date(Date.now() + 600_000);
  await outbound.recordOutcomes(claimed.map((c) => ({ deliveryId: c.id, leaseToken: c.leaseToken, status: 'deferred' as const, reply: '451 4.7.1 greylisted', remoteMta: 'mx.far.test', nextAttemptAt: later })));
  await queue.queue.drain(true);
  await queue.enqueue([{ outboundId: sueOutboundId, domain: 'far.test', attempt: 1 }], 600_000);
});
afterAll(async () => {
  await queue?.close();
  await t?.close();
});

describe('GET /api/admin/outbound', () => {
  it('lists every waiting recipient to an admin, with sender, last reply and next attempt, and filters by status', async () => {
    const all = (await call(admin, 'GET', '/api/admin/outbound')).json();
    expect(all.deliveries.map((d: { id: number }) => d.id)).toEqual([ids['sue:far@far.test'], ids['sue:near@far.test'], ids['sue:other@away.test'], ids['bob:far@far.test']]);
    expect(all.nextAfter).toBeNull();
    const deferred = (await call(admin, 'GET', '/api/admin/outbound?status=deferred')).json().deliveries;
    expect(deferred).toHaveLength(2);
    expect(deferred[0]).toMatchObject({ sender: 'sue@a.test', recipient: 'far@far.test', subject: 'from sue', status: 'deferred', attempts: 1, lastReply: '451 4.7.1 greylisted', remoteMta: 'mx.far.test', inProgress: false });
    expect(new Date(deferred[0].nextAttemptAt).getTime()).toBeGreaterThan(Date.now() + 60_000);
    const queued = (await call(admin, 'GET', '/api/admin/outbound?status=queued')).json().deliveries;
    expect(queued.map((d: { status: string }) => d.status)).toEqual(['queued', 'queued']);
  });

  it('pages by id', async () => {
    const first = (await call(admin, 'GET', '/api/admin/outbound?limit=3')).json();
    expect(first.deliveries).toHaveLength(3);
    const second = (await call(admin, 'GET', `/api/admin/outbound?limit=3&after=${first.nextAfter}`)).json();
    expect(second.deliveries.map((d: { id: number }) => d.id)).toEqual([ids['bob:far@far.test']]);
  });

  it("shows a domain-admin only their domains' senders, and a plain user nothing (403)", async () => {
    const mine = (await call(dadmin, 'GET', '/api/admin/outbound')).json().deliveries;
    expect(new Set(mine.map((d: { sender: string }) => d.sender))).toEqual(new Set(['sue@a.test']));
    const res = await call(plain, 'GET', '/api/admin/outbound');
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('auth.forbidden');
    expect((await call(plain, 'GET', '/api/admin/stats')).statusCode).toBe(403);
    expect((await call(plain, 'POST', `/api/admin/outbound/deliveries/${ids['sue:far@far.test']}/retry`)).statusCode).toBe(403);
  });

  it('rejects a bad status with 400', async () => {
    expect((await call(admin, 'GET', '/api/admin/outbound?status=delivered')).statusCode).toBe(400);
  });
});

describe('retry now', () => {
  it('makes a deferred recipient due now and promotes the delayed retry job, and audits it', async () => {
    const job = outboundJobId({ outboundId: sueOutboundId, domain: 'far.test', attempt: 1 });
    expect(await (await queue.queue.getJob(job))!.getState()).toBe('delayed');
    const res = await call(dadmin, 'POST', `/api/admin/outbound/deliveries/${ids['sue:far@far.test']}/retry`);
    expect(res.statusCode, res.body).toBe(200);
    expect(new Date(res.json().nextAttemptAt).getTime()).toBeLessThanOrEqual(Date.now());
    expect(await (await queue.queue.getJob(job))!.getState()).toBe('waiting');
    // Only that recipient: the other one still waits for its time.
    const near = await t.store.db.selectFrom('deliveries').select('next_attempt_at').where('id', '=', ids['sue:near@far.test']!).executeTakeFirstOrThrow();
    expect(near.next_attempt_at.getTime()).toBeGreaterThan(Date.now() + 60_000);
    const audit = (await call(admin, 'GET', '/api/admin/audit?action=admin.outbound')).json().entries;
    expect(audit[0]).toMatchObject({ action: 'admin.outbound.retry', actorAddress: 'boss@a.test', target: 'sue@a.test', details: { deliveryId: ids['sue:far@far.test'], recipient: 'far@far.test' } });
  });

  it('adds a job when none waits', async () => {
    const other = ids['sue:other@away.test']!;
    await queue.queue.drain(true);
    const res = await call(admin, 'POST', `/api/admin/outbound/deliveries/${other}/retry`);
    expect(res.statusCode, res.body).toBe(200);
    expect(await (await queue.queue.getJob(outboundJobId({ outboundId: sueOutboundId, domain: 'away.test', attempt: 0 })))?.getState()).toBe('waiting');
  });

  it("answers 404 for a domain-admin on another domain's sender, and 409 while a worker holds the recipient", async () => {
    const res = await call(dadmin, 'POST', `/api/admin/outbound/deliveries/${ids['bob:far@far.test']}/retry`);
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('outbound.not_found');
    expect((await call(admin, 'POST', '/api/admin/outbound/deliveries/999999/retry')).statusCode).toBe(404);

    const claimed = await createOutboundRepository(t.store.db).claimDue(sueOutboundId, 'far.test', 60_000);
    expect(claimed.map((c) => c.id)).toEqual([ids['sue:far@far.test']]);
    const busy = await call(admin, 'POST', `/api/admin/outbound/deliveries/${ids['sue:far@far.test']}/retry`);
    expect(busy.statusCode).toBe(409);
    expect(busy.json().error.code).toBe('outbound.in_progress');
    expect((await call(admin, 'POST', `/api/admin/outbound/deliveries/${ids['sue:far@far.test']}/cancel`)).json().error.code).toBe('outbound.in_progress');
    const listed = (await call(admin, 'GET', '/api/admin/outbound?status=deferred')).json().deliveries;
    expect(listed.find((d: { id: number }) => d.id === ids['sue:far@far.test']).inProgress).toBe(true);
  });
});

describe('cancel', () => {
  it('bounces the recipient with a clear reply, logs it and owes the sender a DSN; it is then settled (409)', async () => {
    const id = ids['sue:near@far.test']!;
    const res = await call(admin, 'POST', `/api/admin/outbound/deliveries/${id}/cancel`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ status: 'bounced', lastReply: '550 5.0.0 Delivery cancelled by an administrator' });
    const row = await t.store.db.selectFrom('deliveries').select(['status', 'dsn_pending']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'bounced', dsn_pending: true });
    const log = await t.store.db.selectFrom('delivery_events').select(['status', 'reply']).where('delivery_id', '=', id).orderBy('id').execute();
    expect(log.at(-1)).toEqual({ status: 'bounced', reply: '550 5.0.0 Delivery cancelled by an administrator' });
    expect((await call(admin, 'GET', '/api/admin/outbound')).json().deliveries.map((d: { id: number }) => d.id)).not.toContain(id);

    const again = await call(admin, 'POST', `/api/admin/outbound/deliveries/${id}/cancel`);
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('outbound.not_pending');
    expect((await call(admin, 'POST', `/api/admin/outbound/deliveries/${id}/retry`)).json().error.code).toBe('outbound.not_pending');
  });
});

describe('GET /api/admin/stats', () => {
  it('counts messages sent this hour, the queue and the outcomes, within the actor scope', async () => {
    const all = (await call(admin, 'GET', '/api/admin/stats')).json();
    expect(all.hours).toHaveLength(24);
    expect(all.hours.at(-1).sent).toBe(2);
    expect(all.hours.reduce((n: number, h: { received: number }) => n + h.received, 0)).toBe(0);
    expect(all.queue).toEqual({ queued: 2, deferred: 1 });
    expect(all.outcomes).toEqual({ delivered: 0, deferred: 1, bounced: 1, expired: 0 });
    const theirs = (await call(dadmin, 'GET', '/api/admin/stats')).json();
    expect(theirs.hours.at(-1).sent).toBe(1);
    expect(theirs.queue).toEqual({ queued: 1, deferred: 1 });
  });

  it('shows the bytes the users store and the largest users, within the actor scope', async () => {
    const users = await t.store.db.selectFrom('users').innerJoin('domains', 'domains.id', 'users.domain_id').select(['users.id', 'users.address', 'users.used_bytes', 'users.quota_bytes', 'domains.name as domain']).execute();
    // The senders' Sent copies count.
    expect(users.filter((u) => u.used_bytes > 0).map((u) => u.address).sort()).toEqual(['bob@b.test', 'sue@a.test']);
    const expected = (list: typeof users) => ({
      usedBytes: list.reduce((n, u) => n + Number(u.used_bytes), 0),
      users: list.length,
      top: [...list].sort((a, b) => Number(b.used_bytes) - Number(a.used_bytes) || a.id - b.id).map((u) => ({ id: u.id, address: u.address, usedBytes: Number(u.used_bytes), quotaBytes: u.quota_bytes })),
    });
    expect((await call(admin, 'GET', '/api/admin/stats')).json().storage).toEqual(expected(users));
    expect((await call(dadmin, 'GET', '/api/admin/stats')).json().storage).toEqual(expected(users.filter((u) => u.domain === 'a.test')));
  });
});

describe('the audit log filters', () => {
  it('filters by action prefix, actor and time', async () => {
    const byActor = (await call(admin, 'GET', '/api/admin/audit?actor=ROOT@a.test')).json().entries;
    expect(byActor.length).toBeGreaterThan(0);
    expect(new Set(byActor.map((e: { actorAddress: string }) => e.actorAddress))).toEqual(new Set(['root@a.test']));
    const cancels = (await call(admin, 'GET', '/api/admin/audit?action=admin.outbound.cancel')).json().entries;
    expect(cancels.map((e: { action: string }) => e.action)).toEqual(['admin.outbound.cancel']);
    // A prefix matches at a dot only.
    expect((await call(admin, 'GET', '/api/admin/audit?action=admin.out')).json().entries).toEqual([]);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await call(admin, 'GET', `/api/admin/audit?since=${encodeURIComponent(future)}`)).json().entries).toEqual([]);
    expect((await call(admin, 'GET', `/api/admin/audit?until=${encodeURIComponent(future)}&action=admin.outbound`)).json().entries).toHaveLength(3);
    expect((await call(admin, 'GET', '/api/admin/audit?since=yesterday')).statusCode).toBe(400);
  });
});
