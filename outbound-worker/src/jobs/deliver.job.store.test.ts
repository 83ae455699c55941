import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobHash, createAccountsService, createBlobRepository, createOutboundRepository, dueKey, silentLogger, type Logger, type OutboundRepository, type UserEvent } from '@mailyard/core';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import type { DkimSigner } from '../delivery/dkim-signer.js';
import type { SmtpPool } from '../delivery/smtp-pool.js';
import { deliverDue, type DeliverDeps, type DeliverSettings } from './deliver.job.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';

/**
 * deliverDue on the real store, with the network edge (MX lookup, SMTP, DKIM) faked: what the
 * worker does with an outcome its lease no longer covers. The real SMTP path is in
 * tests/system/outbound.system.test.ts.
 */

let store: TestStore;
let outbound: OutboundRepository;
let ann: number;
const settings: DeliverSettings = { retryScheduleMs: [60_000], expireAfterMs: 3_600_000, leaseMs: 60_000, delayWarningMs: null };

beforeAll(async () => {
  store = await createTestStore();
  outbound = createOutboundRepository(store.db);
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('o.test');
  ann = (await accounts.addUser({ address: 'ann@o.test', password: 'correct horse' })).id;
});
afterAll(async () => {
  await store?.drop();
});

describe('deliverDue with a lease taken over mid-attempt', () => {
  it('logs and drops the outcome of a worker whose lease was taken over: no state change, no event, no count', async () => {
    const raw = Buffer.from('From: ann@o.test\r\nTo: f@far.test\r\nSubject: fenced\r\nMessage-ID: <fenced@o.test>\r\n\r\nbody\r\n');
    await createBlobRepository(store.db).putMany([{ hash: blobHash(raw), data: raw }]);
    const { outboundId } = await outbound.record({ userId: ann, sentMessageId: null, raw, mailFrom: 'ann@o.test', messageIdHeader: '<fenced@o.test>', subject: 'fenced', dkimDomain: null, recipients: [{ address: 'f@far.test', domain: 'far.test', local: false }] });

    const published: UserEvent[] = [];
    // The worker's log, as records: a silent logger whose warn is recorded.
    const logged: unknown[] = [];
    const log: Logger = Object.assign(silentLogger(), { warn: (record: unknown) => void logged.push(record) });
    // While worker A talks to the remote, its lease runs out and worker B delivers the recipient.
    const pool = {
      deliver: async () => {
        await store.db.updateTable('deliveries').set({ locked_until: new Date(Date.now() - 1000) }).where('outbound_id', '=', outboundId).execute();
        const [b] = await outbound.claimDue(outboundId, 'far.test', 60_000, 'worker-b');
        await outbound.recordOutcomes([{ deliveryId: b!.id, leaseToken: b!.leaseToken, status: 'delivered', reply: '250 2.0.0 Ok: queued by B', remoteMta: 'mx.far.test' }]);
        return { kind: 'answered' as const, tls: true, results: [{ recipient: 'f@far.test', verdict: 'deferred' as const, reply: '451 4.4.2 timeout after DATA' }] };
      },
    } as unknown as SmtpPool;
    const deps: DeliverDeps = {
      events: { publish: async (_userId, event) => void published.push(event) },
      log,
      claim: async (key) => (await outbound.claimDueBatch([key], settings.leaseMs, 'worker-a')).get(dueKey(key)) ?? null,
      record: async (outcomes) => (await outbound.recordOutcomes(outcomes)).fenced,
      destination: async () => ({ kind: 'hosts', hosts: [{ exchange: 'mx.far.test', priority: 10, addresses: ['192.0.2.1'] }] }),
      loadLarge: async () => ({ raw: null, release: () => undefined }),
      pool,
      signer: { sign: async (bytes: Buffer) => ({ raw: bytes, selector: null }) } as unknown as DkimSigner,
    };

    const outcome = await deliverDue(deps, settings, outboundId, 'far.test');
    expect(outcome).toMatchObject({ claimed: 1, delivered: 0, deferred: 0, retryAt: null, owesDsn: false });
    expect(published).toEqual([]);
    const [view] = await outbound.list(ann, { limit: 1 });
    expect(view!.recipients[0]).toMatchObject({ status: 'delivered', lastReply: '250 2.0.0 Ok: queued by B' });
    expect(view!.recipients[0]!.log.map((e) => e.status)).toEqual(['queued', 'delivered']);
    expect(logged).toContainEqual(expect.objectContaining({ event: 'outbound.outcome_fenced', outboundId, status: 'deferred', leaseToken: 'worker-a#1' }));
  });
});
