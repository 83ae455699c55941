import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBackend, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';
import { outboundPurgeTask } from '../../../../core/src/housekeeping/outbound-purge.task.js';
import { createOutboundRepository } from '../../../../core/src/repositories/outbound.repository.js';

/** What the Sent view and the admin queue show of sent mail whose outbound copy was purged (OUTBOUND_RETENTION_DAYS). */

let t: TestBackend;
let admin: Agent;
let sue: Agent;
let purged: { messageId: number; outboundId: number; deliveryId: number };
let waitingDeliveryId: number;

function call(agent: Agent, method: 'GET' | 'POST', url: string) {
  return t.app.inject({ method, url, headers: agent.headers });
}

/** Sends through the API (no undo delay): the Sent copy and the outbound record. */
async function send(to: string, subject: string): Promise<{ messageId: number; outboundId: number; deliveryId: number }> {
  const res = await t.app.inject({ method: 'POST', url: '/api/messages/send', headers: sue.headers, payload: { to: [to], subject, text: 'x' } });
  expect(res.statusCode, res.body).toBe(202);
  const { messageId, outboundId } = res.json().sent;
  const { id } = await t.store.db.selectFrom('deliveries').select('id').where('outbound_id', '=', outboundId).executeTakeFirstOrThrow();
  return { messageId, outboundId, deliveryId: id };
}

beforeAll(async () => {
  t = await createTestBackend();
  await t.accounts.addDomain('a.test');
  await t.accounts.addUser({ address: 'root@a.test', password: 'root password', role: 'admin' });
  await t.accounts.addUser({ address: 'sue@a.test', password: 'sue password' });
  admin = await t.login('root@a.test', 'root password');
  sue = await t.login('sue@a.test', 'sue password');
  expect((await t.app.inject({ method: 'PATCH', url: '/api/account/settings', headers: sue.headers, payload: { undoSendSeconds: 0 } })).statusCode).toBe(200);

  purged = await send('far@far.test', 'delivered long ago');
  const outbound = createOutboundRepository(t.store.db);
  const [claimed] = await outbound.claimDue(purged.outboundId, 'far.test', 60_000);
  await outbound.recordOutcomes([{ deliveryId: claimed!.id, leaseToken: claimed!.leaseToken, status: 'delivered', reply: '250 2.0.0 ok', remoteMta: 'mx.far.test' }]);
  const longAgo = new Date(Date.now() - 31 * 86_400_000);
  await t.store.db.updateTable('outbound_messages').set({ created_at: longAgo }).where('id', '=', purged.outboundId).execute();
  await t.store.db.updateTable('deliveries').set({ updated_at: longAgo }).where('outbound_id', '=', purged.outboundId).execute();
  // Sent as long ago, but still waiting: the purge leaves it.
  const waiting = await send('near@far.test', 'still waiting');
  waitingDeliveryId = waiting.deliveryId;
  await t.store.db.updateTable('outbound_messages').set({ created_at: longAgo }).where('id', '=', waiting.outboundId).execute();

  expect(await outboundPurgeTask({ db: t.store.db }, { retentionDays: 30 }).run()).toMatchObject({ outboundPurged: 1 });
  const row = await t.store.db.selectFrom('outbound_messages').select('blob_hash').where('id', '=', purged.outboundId).executeTakeFirstOrThrow();
  expect(row.blob_hash).toBeNull();
});
afterAll(async () => {
  await t?.close();
});

describe('sent mail after its outbound copy is purged', () => {
  it('the Sent view still shows the message and each recipient’s delivery status', async () => {
    const message = await call(sue, 'GET', `/api/messages/${purged.messageId}`);
    expect(message.statusCode, message.body).toBe(200);
    expect(message.json()).toMatchObject({ subject: 'delivered long ago' });
    const delivery = await call(sue, 'GET', `/api/messages/${purged.messageId}/delivery`);
    expect(delivery.statusCode, delivery.body).toBe(200);
    expect(delivery.json()).toMatchObject({ outboundId: purged.outboundId, sentMessageId: purged.messageId, subject: 'delivered long ago' });
    expect(delivery.json().recipients).toEqual([
      expect.objectContaining({ recipient: 'far@far.test', status: 'delivered', lastReply: '250 2.0.0 ok', remoteMta: 'mx.far.test', log: [expect.objectContaining({ status: 'queued' }), expect.objectContaining({ status: 'delivered' })] }),
    ]);
  });

  it('the admin queue lists what still waits; retry and cancel on the purged delivery answer 409 outbound.not_pending', async () => {
    const queue = await call(admin, 'GET', '/api/admin/outbound');
    expect(queue.statusCode, queue.body).toBe(200);
    expect(queue.json().deliveries.map((d: { id: number }) => d.id)).toEqual([waitingDeliveryId]);
    for (const action of ['retry', 'cancel']) {
      const res = await call(admin, 'POST', `/api/admin/outbound/deliveries/${purged.deliveryId}/${action}`);
      expect(res.statusCode, res.body).toBe(409);
      expect(res.json().error.code).toBe('outbound.not_pending');
    }
    const retry = await call(admin, 'POST', `/api/admin/outbound/deliveries/${waitingDeliveryId}/retry`);
    expect(retry.statusCode, retry.body).toBe(200);
  });
});
