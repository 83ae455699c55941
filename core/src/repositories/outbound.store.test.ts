import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { domainOf } from '../mail/address.js';
import { blobHash, createBlobRepository } from './blob.repository.js';
import { createOutboundRepository, type OutboundRepository } from './outbound.repository.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';

let store: TestStore;
let outbound: OutboundRepository;
let userId: number;
let otherUserId: number;

async function newOutbound(subject: string, recipients: Array<{ address: string; local: boolean }>, owner = userId, repository = outbound) {
  const raw = Buffer.from(`From: ann@o.test\r\nTo: x@far.test\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@o.test>\r\n\r\nbody ${subject}\r\n`);
  await createBlobRepository(store.db).putMany([{ hash: blobHash(raw), data: raw }]);
  return repository.record({
    userId: owner,
    sentMessageId: null,
    raw,
    mailFrom: 'ann@o.test',
    messageIdHeader: `<${subject}@o.test>`,
    subject,
    dkimDomain: 'o.test',
    recipients: recipients.map((r) => ({ ...r, domain: domainOf(r.address) })),
  });
}

beforeAll(async () => {
  store = await createTestStore();
  outbound = createOutboundRepository(store.db);
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('o.test');
  userId = (await accounts.addUser({ address: 'ann@o.test', password: 'correct horse' })).id;
  otherUserId = (await accounts.addUser({ address: 'ben@o.test', password: 'correct horse' })).id;
});
afterAll(async () => {
  await store?.drop();
});

describe('outbound store', () => {
  it('records a message with its recipients: remote ones queued per domain, local ones logged as delivered', async () => {
    const rec = await newOutbound('record', [
      { address: 'ben@o.test', local: true },
      { address: 'x@far.test', local: false },
      { address: 'y@far.test', local: false },
      { address: 'z@other.test', local: false },
    ]);
    expect(rec.remoteDomains).toEqual(['far.test', 'other.test']);
    const [view] = await outbound.list(userId, { limit: 1 });
    expect(view!.outboundId).toBe(rec.outboundId);
    expect(view!.recipients.map((r) => [r.recipient, r.status, r.remoteMta])).toEqual([
      ['ben@o.test', 'delivered', 'local'],
      ['x@far.test', 'queued', null],
      ['y@far.test', 'queued', null],
      ['z@other.test', 'queued', null],
    ]);
    expect(view!.recipients[1]!.log.map((e) => e.status)).toEqual(['queued']);
    expect(view!.recipients[0]).toMatchObject({ lastReply: 'filed into the local mailbox', log: [{ status: 'delivered', reply: 'filed into the local mailbox' }] });
    const message = await outbound.loadMessage(rec.outboundId);
    expect(message!.raw.toString()).toContain('body record');
    // Scoped by owner: another user sees none of it.
    expect(await outbound.list(otherUserId, { limit: 50 })).toEqual([]);
  });

  it("records inside the caller's transaction, so a rollback there leaves no outbound record behind", async () => {
    const failure = new Error('the sender failed after recording');
    let recorded = 0;
    await expect(
      store.db.transaction().execute(async (tx) => {
        recorded = (await newOutbound('rolled-back', [{ address: 'r@far.test', local: false }], userId, createOutboundRepository(tx))).outboundId;
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(recorded).toBeGreaterThan(0);
    expect(await store.db.selectFrom('outbound_messages').select('id').where('id', '=', recorded).execute()).toEqual([]);
    expect(await store.db.selectFrom('deliveries').select('id').where('outbound_id', '=', recorded).execute()).toEqual([]);
  });

  it('gives due recipients to one claimer at a time, counting an attempt, and again once the lease runs out', async () => {
    const rec = await newOutbound('claim', [
      { address: 'a@far.test', local: false },
      { address: 'b@far.test', local: false },
      { address: 'c@other.test', local: false },
    ]);
    const [first, second] = await Promise.all([outbound.claimDue(rec.outboundId, 'far.test', 60_000), outbound.claimDue(rec.outboundId, 'far.test', 60_000)]);
    const claimed = [...first, ...second];
    expect(claimed.map((c) => c.recipient).sort()).toEqual(['a@far.test', 'b@far.test']);
    expect(first.length === 0 || second.length === 0).toBe(true);
    expect(claimed.every((c) => c.attempts === 1)).toBe(true);
    // Leased: not stalled, not claimable.
    expect(await outbound.claimDue(rec.outboundId, 'far.test', 60_000)).toEqual([]);
    expect((await outbound.listStalled(0)).filter((s) => s.outboundId === rec.outboundId).map((s) => s.domain)).toEqual(['other.test']);
    // A worker that died: its lease ends, the recipients are due again.
    await store.db.updateTable('deliveries').set({ locked_until: new Date(Date.now() - 1000) }).where('outbound_id', '=', rec.outboundId).execute();
    const retaken = await outbound.claimDue(rec.outboundId, 'far.test', 60_000);
    expect(retaken.map((c) => [c.recipient, c.attempts])).toEqual([
      ['a@far.test', 2],
      ['b@far.test', 2],
    ]);
  });

  it("fences outcomes by lease: a worker whose lease ran out and was taken over cannot overwrite the new holder's outcome", async () => {
    const rec = await newOutbound('fenced', [{ address: 'f@far.test', local: false }]);
    const [a] = await outbound.claimDue(rec.outboundId, 'far.test', 60_000, 'worker-a');
    // A stalls past its lease; B takes the recipient over and delivers it.
    await store.db.updateTable('deliveries').set({ locked_until: new Date(Date.now() - 1000) }).where('id', '=', a!.id).execute();
    const [b] = await outbound.claimDue(rec.outboundId, 'far.test', 60_000, 'worker-b');
    expect(b!.id).toBe(a!.id);
    const byB = await outbound.recordOutcomes([{ deliveryId: b!.id, leaseToken: b!.leaseToken, status: 'delivered', reply: '250 2.0.0 Ok: queued as B', remoteMta: 'mx.far.test' }]);
    // A comes back late with "deferred": dropped, nothing changes, nothing is logged.
    const late = await outbound.recordOutcomes([
      { deliveryId: a!.id, leaseToken: a!.leaseToken, status: 'deferred', reply: '451 4.4.2 timeout', remoteMta: 'mx.far.test', nextAttemptAt: new Date(Date.now() + 60_000) },
    ]);
    const [view] = await outbound.list(userId, { limit: 1 });
    expect(view!.recipients[0]).toMatchObject({ status: 'delivered', lastReply: '250 2.0.0 Ok: queued as B', attempts: 2 });
    expect(view!.recipients[0]!.log.map((e) => e.status)).toEqual(['queued', 'delivered']);
    expect(byB).toEqual({ fenced: [] });
    expect(late).toEqual({ fenced: [a!.id] });
    expect(b!.leaseToken).not.toBe(a!.leaseToken);
    // The same token twice (a retried batch) is recorded once: the lease ends with its outcome.
    expect(await outbound.recordOutcomes([{ deliveryId: b!.id, leaseToken: b!.leaseToken, status: 'bounced', reply: '550 5.1.1 no', remoteMta: 'mx.far.test' }])).toEqual({ fenced: [b!.id] });
    expect((await outbound.list(userId, { limit: 1 }))[0]!.recipients[0]!.status).toBe('delivered');
  });

  it('records the outcome of a worker whose lease ran out when nobody took over (the token still holds)', async () => {
    const rec = await newOutbound('late-alone', [{ address: 'l@far.test', local: false }]);
    const [a] = await outbound.claimDue(rec.outboundId, 'far.test', 60_000, 'worker-a');
    await store.db.updateTable('deliveries').set({ locked_until: new Date(Date.now() - 1000) }).where('id', '=', a!.id).execute();
    expect(await outbound.recordOutcomes([{ deliveryId: a!.id, leaseToken: a!.leaseToken, status: 'delivered', reply: '250 ok', remoteMta: 'mx.far.test' }])).toEqual({ fenced: [] });
    expect((await outbound.list(userId, { limit: 1 }))[0]!.recipients[0]!.status).toBe('delivered');
  });

  it('records outcomes with their log; deferred ones wait for their time, bounced ones owe a DSN until it is filed', async () => {
    const rec = await newOutbound('outcomes', [
      { address: 'ok@far.test', local: false },
      { address: 'later@far.test', local: false },
      { address: 'gone@far.test', local: false },
    ]);
    const claimed = await outbound.claimDue(rec.outboundId, 'far.test', 60_000);
    const id = (r: string) => claimed.find((c) => c.recipient === r)!.id;
    const leaseToken = claimed[0]!.leaseToken;
    const next = new Date(Date.now() + 3_600_000);
    await outbound.recordOutcomes([
      { deliveryId: id('ok@far.test'), leaseToken, status: 'delivered', reply: '250 2.0.0 Ok: queued as ABC', remoteMta: 'mx.far.test' },
      { deliveryId: id('later@far.test'), leaseToken, status: 'deferred', reply: '450 4.2.0 try later', remoteMta: 'mx.far.test', nextAttemptAt: next },
      { deliveryId: id('gone@far.test'), leaseToken, status: 'bounced', reply: '550 5.1.1 no such user', remoteMta: 'mx.far.test' },
    ]);
    const [view] = await outbound.list(userId, { limit: 1 });
    const r = Object.fromEntries(view!.recipients.map((x) => [x.recipient, x]));
    expect(r['ok@far.test']).toMatchObject({ status: 'delivered', lastReply: '250 2.0.0 Ok: queued as ABC', nextAttemptAt: null });
    expect(r['later@far.test']).toMatchObject({ status: 'deferred', attempts: 1, nextAttemptAt: next });
    expect(r['later@far.test']!.log.map((e) => e.status)).toEqual(['queued', 'deferred']);
    expect(r['gone@far.test']!.log.map((e) => [e.status, e.reply])).toEqual([
      ['queued', null],
      ['bounced', '550 5.1.1 no such user'],
    ]);
    // Not due yet: nothing to claim, nothing stalled.
    expect(await outbound.claimDue(rec.outboundId, 'far.test', 60_000)).toEqual([]);
    expect((await outbound.listStalled(0)).some((s) => s.outboundId === rec.outboundId)).toBe(false);
    // The DSN is owed for the bounced one only, until marked.
    expect(await outbound.listOwedDsns()).toContain(rec.outboundId);
    const owed = await outbound.pendingDsns(rec.outboundId);
    expect(owed.map((o) => o.recipient)).toEqual(['gone@far.test']);
    await outbound.markDsnSent(owed.map((o) => o.id));
    expect(await outbound.listOwedDsns()).not.toContain(rec.outboundId);
  });

  it('pages the delivery list newest first with a keyset on the record id, scoped to the owner', async () => {
    const ids: number[] = [];
    for (const n of [1, 2, 3]) ids.push((await newOutbound(`page-${n}`, [{ address: `p${n}@far.test`, local: false }], otherUserId)).outboundId);
    const page1 = await outbound.list(otherUserId, { limit: 2 });
    expect(page1.map((v) => v.outboundId)).toEqual([ids[2], ids[1]]);
    const page2 = await outbound.list(otherUserId, { limit: 2, before: page1[1]!.outboundId });
    expect(page2.map((v) => v.outboundId)).toEqual([ids[0]]);
    expect(page2[0]!.recipients.map((r) => r.recipient)).toEqual(['p1@far.test']);
    expect(await outbound.list(userId, { limit: 10, sentMessageId: 999_999 })).toEqual([]);
  });
});
