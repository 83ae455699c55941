import { tmpdir } from 'node:os';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTestRedis } from '../../../tests/helpers/redis.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { createRateLimiter } from '../auth/rate-limit.js';
import { silentLogger } from '../log/logger.js';
import { deleteMessages } from '../mail/mailbox-writer/index.js';
import { cancelHeld, holdMessage, type HoldDeps } from '../mail/scheduled-send.js';
import { sendMessage } from '../mail/send.js';
import { createOutboundRepository, type DeliveryOutcome } from '../repositories/outbound.repository.js';
import { reclaimBlobs } from './blob-reclaim.task.js';
import { outboundPurgeTask } from './outbound-purge.task.js';

let store: TestStore;
let redis: Redis;
let closeRedis: () => Promise<void>;
let ann: number;
const DAY = 86_400_000;
const RETENTION_DAYS = 30;
const log = silentLogger();

function deps(): HoldDeps {
  return {
    db: store.db,
    events: { publish: async () => undefined },
    log,
    dataDir: tmpdir(),
    limiter: createRateLimiter(redis),
    outbound: { enqueue: async () => undefined },
    scheduled: { enqueue: async () => undefined },
  };
}
const annSender = () => ({ userId: ann, address: 'ann@own.test', name: 'Ann' });
const outbound = () => createOutboundRepository(store.db);
const purge = () => outboundPurgeTask({ db: store.db }, { retentionDays: RETENTION_DAYS }).run();
/** The blob reclaim as the hourly task runs it, for blobs stored more than an hour ago. */
const reclaim = () => reclaimBlobs(store.db, new Date(Date.now() - 3_600_000));

beforeAll(async () => {
  store = await createTestStore();
  ({ redis, close: closeRedis } = await connectTestRedis());
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('own.test');
  ann = (await accounts.addUser({ address: 'ann@own.test', password: 'ann password' })).id;
  await accounts.addUser({ address: 'ben@own.test', password: 'ben password' });
});

afterAll(async () => {
  await closeRedis?.();
  await store?.drop();
});

/** Sends to a remote recipient: the Sent copy, and the outbound record with the recipient queued. */
async function send(subject: string) {
  return sendMessage(deps(), annSender(), { to: ['sam@far.test'], subject, text: `about ${subject}` });
}

/** What the outbound worker records for the remote recipient of `outboundId`. */
async function settle(outboundId: number, status: DeliveryOutcome['status'], reply: string, nextAttemptAt?: Date): Promise<void> {
  const [claimed] = await outbound().claimDue(outboundId, 'far.test', 60_000);
  await outbound().recordOutcomes([{ deliveryId: claimed!.id, leaseToken: claimed!.leaseToken, status, reply, remoteMta: 'mx.far.test', nextAttemptAt }]);
}

/** Makes a sent message, its recipients' last change and its bytes look `days` old. */
async function age(outboundId: number, days = RETENTION_DAYS + 1): Promise<void> {
  const at = new Date(Date.now() - days * DAY);
  const row = await store.db.updateTable('outbound_messages').set({ created_at: at }).where('id', '=', outboundId).returning('blob_hash').executeTakeFirstOrThrow();
  await store.db.updateTable('deliveries').set({ updated_at: at }).where('outbound_id', '=', outboundId).execute();
  await store.db.updateTable('blobs').set({ created_at: at }).where('hash', '=', row.blob_hash!).execute();
}

const bytesOf = async (outboundId: number) => {
  const row = await store.db.selectFrom('outbound_messages').select('blob_hash').where('id', '=', outboundId).executeTakeFirstOrThrow();
  return row.blob_hash;
};
const blobExists = async (hash: Buffer) => (await store.db.selectFrom('blobs').select('hash').where('hash', '=', hash).executeTakeFirst()) !== undefined;
/** The delivery status as the API shows it (GET /api/outbound/:id). */
const statusOf = async (outboundId: number) => {
  const [view] = await outbound().list(ann, { before: outboundId + 1, limit: 1 });
  return view!.recipients.map((r) => ({ recipient: r.recipient, status: r.status, lastReply: r.lastReply, log: r.log.map((e) => e.status) }));
};

describe('outbound purge', () => {
  it('lets go of the bytes of a message delivered before the retention time: the next reclaim frees them, the delivery status stays', async () => {
    const sent = await send('long delivered');
    await settle(sent.outboundId, 'delivered', '250 2.0.0 ok');
    const hash = (await bytesOf(sent.outboundId))!;
    // The user deleted the Sent copy: only the outbound record held the bytes.
    await deleteMessages(deps(), ann, [sent.messageId]);
    await age(sent.outboundId);
    const shown = await statusOf(sent.outboundId);

    await purge();
    expect(await reclaim()).toMatchObject({ deleted: 1 });

    expect(await blobExists(hash)).toBe(false);
    expect(await bytesOf(sent.outboundId)).toBeNull();
    expect(await statusOf(sent.outboundId)).toEqual(shown);
    expect(shown).toEqual([{ recipient: 'sam@far.test', status: 'delivered', lastReply: '250 2.0.0 ok', log: ['queued', 'delivered'] }]);
  });

  it('keeps bytes the Sent copy still holds: the Sent view shows the message and its delivery status', async () => {
    const sent = await send('kept in Sent');
    await settle(sent.outboundId, 'delivered', '250 2.0.0 ok');
    const hash = (await bytesOf(sent.outboundId))!;
    await age(sent.outboundId);

    expect(await purge()).toEqual({ outboundPurged: 1, outboundBytes: expect.any(Number), heldSendsPurged: 0 });
    await reclaim();

    expect(await bytesOf(sent.outboundId)).toBeNull();
    expect(await blobExists(hash)).toBe(true);
    const sentCopy = await store.db.selectFrom('messages').select(['id', 'blob_hash']).where('id', '=', sent.messageId).executeTakeFirstOrThrow();
    expect(sentCopy.blob_hash).toEqual(hash);
    // GET /api/messages/:id/delivery
    const [view] = await outbound().list(ann, { sentMessageId: sent.messageId, limit: 1 });
    expect(view).toMatchObject({ outboundId: sent.outboundId, sentMessageId: sent.messageId, subject: 'kept in Sent' });
    expect(view!.recipients.map((r) => [r.recipient, r.status])).toEqual([['sam@far.test', 'delivered']]);
  });

  it('never touches mail still on its way, a DSN still owed, a held send still pending, or mail settled within the retention time', async () => {
    const queued = await send('still queued');
    await age(queued.outboundId);
    const deferred = await send('deferred');
    await settle(deferred.outboundId, 'deferred', '451 4.7.1 greylisted', new Date(Date.now() + 600_000));
    await age(deferred.outboundId);
    const dsnOwed = await send('bounced, DSN owed');
    await settle(dsnOwed.outboundId, 'bounced', '550 5.1.1 no such user');
    await age(dsnOwed.outboundId);
    const settledLately = await send('settled lately');
    await settle(settledLately.outboundId, 'delivered', '250 2.0.0 ok');
    await age(settledLately.outboundId);
    await store.db.updateTable('deliveries').set({ updated_at: new Date(Date.now() - DAY) }).where('outbound_id', '=', settledLately.outboundId).execute();
    const recent = await send('recent');
    await settle(recent.outboundId, 'delivered', '250 2.0.0 ok');
    const sendAt = new Date(Date.now() + DAY);
    const { row: scheduled } = await holdMessage(deps(), annSender(), { to: ['sam@far.test'], subject: 'for tomorrow', text: 'x' }, sendAt);
    await store.db.updateTable('scheduled_sends').set({ created_at: new Date(Date.now() - 40 * DAY), updated_at: new Date(Date.now() - 40 * DAY) }).where('id', '=', scheduled.id).execute();
    await store.db.updateTable('blobs').set({ created_at: new Date(Date.now() - 40 * DAY) }).where('hash', '=', scheduled.blobHash).execute();
    const all = [queued, deferred, dsnOwed, settledLately, recent];
    for (const sent of all) await deleteMessages(deps(), ann, [sent.messageId]);

    expect(await purge()).toEqual({ outboundPurged: 0, outboundBytes: 0, heldSendsPurged: 0 });
    await reclaim();

    for (const sent of all) {
      const hash = await bytesOf(sent.outboundId);
      expect(hash).not.toBeNull();
      expect(await blobExists(hash!)).toBe(true);
    }
    expect(await blobExists(scheduled.blobHash)).toBe(true);
    const held = await store.db.selectFrom('scheduled_sends').select('status').where('id', '=', scheduled.id).executeTakeFirstOrThrow();
    expect(held.status).toBe('pending');
    // Once its DSN is filed, the bounced one goes with the next run.
    await outbound().markDsnSent((await outbound().pendingDsns(dsnOwed.outboundId)).map((d) => d.id));
    expect(await purge()).toMatchObject({ outboundPurged: 1 });
    expect(await bytesOf(dsnOwed.outboundId)).toBeNull();
  });

  it('deletes held sends that ended before the retention time, so their copy of the bytes goes too', async () => {
    await deps().db.updateTable('users').set({ undo_send_seconds: 0 }).where('id', '=', ann).execute();
    const { sent } = await holdMessage(deps(), annSender(), { to: ['sam@far.test'], subject: 'sent after a hold', text: 'x' });
    await settle(sent!.outboundId, 'delivered', '250 2.0.0 ok');
    const sentHash = (await bytesOf(sent!.outboundId))!;
    await deleteMessages(deps(), ann, [sent!.messageId]);
    await age(sent!.outboundId);
    const { row: cancelled } = await holdMessage(deps(), annSender(), { to: ['sam@far.test'], subject: 'cancelled long ago', text: 'x' }, new Date(Date.now() + DAY));
    await cancelHeld(deps(), ann, cancelled.id);
    const { row: cancelledLately } = await holdMessage(deps(), annSender(), { to: ['sam@far.test'], subject: 'cancelled lately', text: 'x' }, new Date(Date.now() + DAY));
    await cancelHeld(deps(), ann, cancelledLately.id);
    const longAgo = new Date(Date.now() - (RETENTION_DAYS + 1) * DAY);
    await store.db.updateTable('scheduled_sends').set({ updated_at: longAgo }).where('id', '!=', cancelledLately.id).where('status', '<>', 'pending').execute();
    await store.db.updateTable('blobs').set({ created_at: longAgo }).where('hash', 'in', [cancelled.blobHash, cancelledLately.blobHash]).execute();

    expect(await purge()).toEqual({ outboundPurged: 1, outboundBytes: expect.any(Number), heldSendsPurged: 2 });
    await reclaim();

    expect(await blobExists(sentHash)).toBe(false);
    expect(await blobExists(cancelled.blobHash)).toBe(false);
    expect(await blobExists(cancelledLately.blobHash)).toBe(true);
    const left = await store.db.selectFrom('scheduled_sends').select('id').where('status', '<>', 'pending').execute();
    expect(left.map((r) => r.id)).toEqual([cancelledLately.id]);
  });

  it('purges in bounded batches until nothing is left, and a rerun changes nothing', async () => {
    const sent = [];
    for (const n of [1, 2, 3]) {
      const s = await send(`batch ${n}`);
      await settle(s.outboundId, 'delivered', '250 2.0.0 ok');
      await age(s.outboundId);
      sent.push(s);
    }
    const task = outboundPurgeTask({ db: store.db }, { retentionDays: RETENTION_DAYS, batch: 2 });
    expect(await task.run()).toMatchObject({ outboundPurged: 3, heldSendsPurged: 0 });
    for (const s of sent) expect(await bytesOf(s.outboundId)).toBeNull();
    const shown = await Promise.all(sent.map((s) => statusOf(s.outboundId)));

    expect(await task.run()).toEqual({ outboundPurged: 0, outboundBytes: 0, heldSendsPurged: 0 });
    expect(await Promise.all(sent.map((s) => statusOf(s.outboundId)))).toEqual(shown);
  });

  it('a purged delivery stays settled: retry and cancel refuse it (409 outbound.not_pending), no worker claims it', async () => {
    const sent = await send('retry me');
    await settle(sent.outboundId, 'delivered', '250 2.0.0 ok');
    await age(sent.outboundId);
    expect(await purge()).toMatchObject({ outboundPurged: 1 });
    const delivery = await store.db.selectFrom('deliveries').select('id').where('outbound_id', '=', sent.outboundId).executeTakeFirstOrThrow();

    expect(await outbound().retryNow(delivery.id, {})).toBe('not_pending');
    expect(await outbound().cancel(delivery.id, {})).toBe('not_pending');
    expect(await outbound().getQueued(delivery.id, {})).toMatchObject({ outboundId: sent.outboundId, status: 'delivered' });
    expect(await outbound().claimDue(sent.outboundId, 'far.test', 60_000)).toEqual([]);
    expect(await outbound().loadBytes(sent.outboundId)).toBeNull();
  });
});
