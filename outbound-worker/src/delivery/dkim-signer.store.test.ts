import { generateKeyPairSync } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  activeDkimPublicKey,
  blobHash,
  createAccountsService,
  createBlobRepository,
  createOutboundRepository,
  createSecretBox,
  dkimTxtRecord,
  dueKey,
  type OutboundRepository,
} from '@mailyard/core';
import { verifyDkim } from '../../../tests/helpers/dkim-verify.js';
import { startDnsmasq, type TestDnsServer } from '../../../tests/helpers/dnsmasq.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { deliverDue, type DeliverDeps, type DeliverSettings } from '../jobs/deliver.job.js';
import type { SmtpPool } from './smtp-pool.js';
import { DkimSigner } from './dkim-signer.js';

/**
 * The signer on the real store, with keys sealed at rest: what it signs with a sealed key, and with
 * a key stored before sealing existed (sealed on that first use), python3-dkim verifies; a key it
 * cannot open (another SECRET_KEY) defers the delivery with a reply that says why.
 */

let store: TestStore;
let dns: TestDnsServer;
let outbound: OutboundRepository;
let ann: number;
const domains = ['sealed.test', 'legacy.test', 'otherkey.test'];
const message = (domain: string) => Buffer.from(`From: ann@${domain}\r\nTo: bob@far.test\r\nSubject: hello\r\nMessage-ID: <1@${domain}>\r\n\r\nHello Bob\r\n`);

function capturingLog() {
  const lines: Array<Record<string, unknown>> = [];
  return { log: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }), lines };
}

beforeAll(async () => {
  store = await createTestStore();
  outbound = createOutboundRepository(store.db);
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  for (const domain of domains) await accounts.addDomain(domain);
  ann = (await accounts.addUser({ address: 'ann@otherkey.test', password: 'correct horse' })).id;
  // legacy.test's key as stored before sealing existed: a plain PEM (its public half stays as published).
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  const legacy = await store.db.selectFrom('domains').select('id').where('name', '=', 'legacy.test').executeTakeFirstOrThrow();
  await store.db.updateTable('dkim_keys').set({ private_key_pem: pair.privateKey, public_key_b64: pair.publicKey.toString('base64') }).where('domain_id', '=', legacy.id).execute();
  const txt = [];
  for (const domain of domains) {
    const key = (await activeDkimPublicKey(store.db, domain))!;
    txt.push({ name: `${key.selector}._domainkey.${domain}`, value: dkimTxtRecord(key.publicKeyB64) });
  }
  dns = await startDnsmasq({ txt, localDomains: domains });
});
afterAll(async () => {
  await dns?.stop();
  await store?.drop();
});

describe('DKIM signing with keys sealed at rest', () => {
  it('signs with a sealed key: python3-dkim verifies it', async () => {
    const signer = new DkimSigner({ db: store.db, secrets: testSecrets });
    const signed = await signer.sign(message('sealed.test'), 'sealed.test');
    expect(signed.selector).not.toBeNull();
    const verdict = await verifyDkim(signed.raw, dns.server);
    expect(verdict, verdict.detail).toMatchObject({ ok: true });
  });

  it('signs with a key stored unsealed, seals it in place on that first use and logs it', async () => {
    const { log, lines } = capturingLog();
    const signer = new DkimSigner({ db: store.db, secrets: testSecrets, log });
    const signed = await signer.sign(message('legacy.test'), 'legacy.test');
    const verdict = await verifyDkim(signed.raw, dns.server);
    expect(verdict, verdict.detail).toMatchObject({ ok: true });
    const stored = await store.db
      .selectFrom('dkim_keys')
      .innerJoin('domains', 'domains.id', 'dkim_keys.domain_id')
      .select('dkim_keys.private_key_pem')
      .where('domains.name', '=', 'legacy.test')
      .executeTakeFirstOrThrow();
    expect(stored.private_key_pem).toMatch(/^v1:/);
    expect(lines).toContainEqual(expect.objectContaining({ event: 'dkim.key_sealed', domain: 'legacy.test', selector: signed.selector }));
  });

  it('defers a delivery whose key was sealed with another key, naming SECRET_KEY and DATA_DIR, and keeps the row', async () => {
    const raw = message('otherkey.test');
    await createBlobRepository(store.db).putMany([{ hash: blobHash(raw), data: raw }]);
    const { outboundId } = await outbound.record({ userId: ann, sentMessageId: null, raw, mailFrom: 'ann@otherkey.test', messageIdHeader: '<1@otherkey.test>', subject: 'hello', dkimDomain: 'otherkey.test', recipients: [{ address: 'bob@far.test', domain: 'far.test', local: false }] });
    const { log, lines } = capturingLog();
    let delivered = 0;
    const settings: DeliverSettings = { retryScheduleMs: [60_000], expireAfterMs: 3_600_000, leaseMs: 60_000, delayWarningMs: null };
    const deps: DeliverDeps = {
      events: { publish: async () => undefined },
      log,
      claim: async (key) => (await outbound.claimDueBatch([key], settings.leaseMs, 'worker-a')).get(dueKey(key)) ?? null,
      record: async (outcomes) => (await outbound.recordOutcomes(outcomes)).fenced,
      destination: async () => ({ kind: 'hosts', hosts: [{ exchange: 'mx.far.test', priority: 10, addresses: ['192.0.2.1'] }] }),
      loadLarge: async () => ({ raw: null, release: () => undefined }),
      pool: { deliver: async () => void delivered++ } as unknown as SmtpPool,
      signer: new DkimSigner({ db: store.db, secrets: createSecretBox(Buffer.alloc(32, 9)), log }),
    };
    const outcome = await deliverDue(deps, settings, outboundId, 'far.test');
    expect(outcome).toMatchObject({ claimed: 1, deferred: 1, delivered: 0, bounced: 0 });
    expect(delivered).toBe(0);
    const [view] = await outbound.list(ann, { limit: 1 });
    expect(view!.recipients[0]!.status).toBe('deferred');
    expect(view!.recipients[0]!.lastReply).toMatch(/^451 4\.3\.0 .*otherkey\.test.*SECRET_KEY.*DATA_DIR\/secret\.key/);
    expect(lines).toContainEqual(expect.objectContaining({ event: 'outbound.attempt_failed', outboundId, err: expect.stringContaining('SECRET_KEY') }));
    // The right key still opens the row: nothing was rewritten.
    const signed = await new DkimSigner({ db: store.db, secrets: testSecrets }).sign(raw, 'otherkey.test');
    expect((await verifyDkim(signed.raw, dns.server)).ok).toBe(true);
  });
});
