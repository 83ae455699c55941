import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBackend, signInTwoUsers, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';
import { createOutboundRepository } from '../../../../core/src/repositories/outbound.repository.js';

let t: TestBackend;
let ann: Agent;
let ben: Agent;
let sent: { messageId: number; outboundId: number };

function get(agent: Agent, url: string) {
  return t.app.inject({ method: 'GET', url, headers: { cookie: agent.cookie } });
}

beforeAll(async () => {
  t = await createTestBackend();
  ({ ann, ben } = await signInTwoUsers(t));
  // An undo delay of 0: sent in the request.
  expect((await t.app.inject({ method: 'PATCH', url: '/api/account/settings', headers: ann.headers, payload: { undoSendSeconds: 0 } })).statusCode).toBe(200);
  const res = await t.app.inject({ method: 'POST', url: '/api/messages/send', headers: ann.headers, payload: { to: ['sam@far.test', 'ben@m.test'], subject: 'where is it', text: 'x' } });
  expect(res.statusCode, res.body).toBe(202);
  sent = res.json().sent;
});
afterAll(async () => {
  await t?.close();
});

describe('delivery log API', () => {
  it('shows each recipient of a sent message: local ones delivered, remote ones queued', async () => {
    const res = await get(ann, `/api/messages/${sent.messageId}/delivery`);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ outboundId: sent.outboundId, sentMessageId: sent.messageId, subject: 'where is it' });
    expect(body.recipients.map((r: { recipient: string; status: string }) => [r.recipient, r.status])).toEqual([
      ['ben@m.test', 'delivered'],
      ['sam@far.test', 'queued'],
    ]);
    expect((await get(ann, `/api/outbound/${sent.outboundId}`)).json()).toEqual(body);
  });

  it('follows the worker: a deferral shows the remote reply and the next attempt, and the log keeps every step', async () => {
    const outbound = createOutboundRepository(t.store.db);
    const [claimed] = await outbound.claimDue(sent.outboundId, 'far.test', 60_000);
    const next = new Date(Date.now() + 600_000);
    await outbound.recordOutcomes([{ deliveryId: claimed!.id, leaseToken: claimed!.leaseToken, status: 'deferred', reply: '451 4.7.1 greylisted', remoteMta: 'mx.far.test', nextAttemptAt: next }]);
    const list = (await get(ann, '/api/outbound?limit=10')).json();
    expect(list.nextBefore).toBeNull();
    const sam = list.outbound[0].recipients.find((r: { recipient: string }) => r.recipient === 'sam@far.test');
    expect(sam).toMatchObject({ status: 'deferred', attempts: 1, lastReply: '451 4.7.1 greylisted', remoteMta: 'mx.far.test', nextAttemptAt: next.toISOString() });
    expect(sam.log.map((e: { status: string }) => e.status)).toEqual(['queued', 'deferred']);
  });

  it("answers 404 for another user's sent message and for a message without a delivery record, 400 for a bad id, 401 signed out", async () => {
    expect((await get(ben, `/api/outbound/${sent.outboundId}`)).statusCode).toBe(404);
    expect((await get(ben, `/api/messages/${sent.messageId}/delivery`)).statusCode).toBe(404);
    expect((await get(ben, '/api/outbound')).json()).toEqual({ outbound: [], nextBefore: null });
    const benCopy = await t.store.db.selectFrom('messages').select('id').where('user_id', '=', ben.userId).where('subject', '=', 'where is it').executeTakeFirstOrThrow();
    const res = await get(ben, `/api/messages/${benCopy.id}/delivery`);
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('outbound.not_found');
    expect((await get(ann, '/api/outbound/abc')).statusCode).toBe(400);
    expect((await get(ann, '/api/outbound?limit=0')).statusCode).toBe(400);
    expect((await t.app.inject({ method: 'GET', url: '/api/outbound' })).statusCode).toBe(401);
  });
});
