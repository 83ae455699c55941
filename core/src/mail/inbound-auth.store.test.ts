import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authTestMessage, SENDER_IP, startAuthDns, type AuthDns } from '../../../tests/helpers/mail-auth.js';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { cachingDnsResolver, cachingTrustPolicies, createAuthDnsResolver, createInboundTrust, type TrustInput } from './inbound-auth.js';
import { createDomainRepository, DEFAULT_TRUST_POLICY, type DomainTrustPolicy } from '../repositories/domain.repository.js';
import { parseTrustedNetworks } from './trusted-networks.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';

/**
 * The inbound checks against a real DNS server (dnsmasq publishing SPF, DKIM and DMARC, see
 * tests/helpers/mail-auth.ts) and the domains' policies in a real PostgreSQL.
 */

let store: TestStore;
let auth: AuthDns;
let inTest: number;

beforeAll(async () => {
  [store, auth] = await Promise.all([createTestStore(), startAuthDns()]);
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  inTest = (await accounts.addDomain('in.test')).id;
  await accounts.addDomain('relaxed.test');
});
afterAll(async () => {
  await auth?.stop();
  await store?.drop();
});

function trust(options: { dns?: string; trusted?: string } = {}) {
  return createInboundTrust({
    db: store.db,
    resolver: createAuthDnsResolver([options.dns ?? auth.dns.server], { timeoutMs: 500 }),
    hostname: 'mx.in.test',
    trustedNetworks: parseTrustedNetworks(options.trusted ?? 'none'),
  });
}

const input = (raw: Buffer, overrides: Partial<TrustInput> = {}): TrustInput => ({ raw, ip: '203.0.113.5', helo: 'client.example', mailFrom: 'ann@signed.test', rcptDomains: ['in.test'], ...overrides });

describe('inbound authentication (SPF, DKIM, DMARC) on a real resolver', () => {
  it('passes signed mail from a p=reject domain (aligned DKIM) and writes Authentication-Results with our name', async () => {
    const raw = await auth.sign(authTestMessage('Ann <ann@signed.test>', 'bob@in.test', 'signed'));
    const verdict = await trust().verify(input(raw));
    expect(verdict).toMatchObject({ action: 'accept', reason: null, trustedNetwork: false });
    expect(verdict.authentication).toEqual({
      spf: { result: 'fail', domain: 'signed.test' },
      dkim: { result: 'pass', domain: 'signed.test' },
      dmarc: { result: 'pass', domain: 'signed.test', policy: 'reject' },
      arc: { result: 'none', domain: null },
    });
    expect(verdict.header).toMatch(/^Authentication-Results: mx\.in\.test;\r\n /);
    expect(verdict.header).toMatch(/dkim=pass/);
    expect(verdict.header).toMatch(/dmarc=pass/);
    expect(verdict.header.endsWith('\r\n')).toBe(true);
    expect(verdict.header.split('\r\n').slice(1, -1).every((line) => /^[ \t]/.test(line))).toBe(true);
  });

  it('passes SPF for the allowed client address', async () => {
    const verdict = await trust().verify(input(authTestMessage('ann@signed.test', 'bob@in.test', 'spf'), { ip: SENDER_IP }));
    expect(verdict.authentication.spf).toEqual({ result: 'pass', domain: 'signed.test' });
    expect(verdict.authentication.dmarc.result).toBe('pass');
    expect(verdict.action).toBe('accept');
  });

  it('fails DKIM when the body was changed after signing, and refuses it under p=reject', async () => {
    const signed = await auth.sign(authTestMessage('ann@signed.test', 'bob@in.test', 'tampered', 'Pay 10 euros.'));
    const tampered = Buffer.from(signed.toString().replace('Pay 10 euros.', 'Pay 9999 euros.'));
    const verdict = await trust().verify(input(tampered));
    // mailauth reports a body hash mismatch as `neutral (body hash did not verify)`.
    expect(verdict.authentication.dkim).toEqual({ result: 'neutral', domain: 'signed.test' });
    expect(verdict.header).toMatch(/dkim=neutral \(body hash did not verify\)/);
    expect(verdict.authentication.dmarc).toMatchObject({ result: 'fail', policy: 'reject' });
    expect(verdict).toMatchObject({ action: 'reject', reason: expect.stringContaining('DMARC policy reject') });
  });

  it('refuses a forged From of a p=reject domain, files a p=quarantine failure in Junk', async () => {
    expect((await trust().verify(input(authTestMessage('ann@signed.test', 'bob@in.test', 'forged')))).action).toBe('reject');
    const quarantined = await trust().verify(input(authTestMessage('q@quarantine.test', 'bob@in.test', 'q'), { mailFrom: 'q@quarantine.test' }));
    expect(quarantined.authentication.dmarc).toMatchObject({ result: 'fail', policy: 'quarantine' });
    expect(quarantined.action).toBe('junk');
  });

  it('refuses mail From our own domain sent from outside that does not pass, unless the domain relaxes it', async () => {
    const forged = input(authTestMessage('ceo@in.test', 'bob@in.test', 'wire money'), { mailFrom: 'ceo@in.test' });
    const verdict = await trust().verify(forged);
    expect(verdict.authentication.dmarc.result).toBe('none');
    expect(verdict).toMatchObject({ action: 'reject', reason: expect.stringContaining('our domain in.test') });
    // From the address the domain's SPF allows, it passes (aligned SPF).
    expect((await trust().verify({ ...forged, ip: SENDER_IP })).action).toBe('accept');

    const domains = createDomainRepository(store.db);
    expect(await domains.updateTrustPolicy(inTest, { ownDomainSpoofing: 'quarantine' })).toEqual({ dmarcReject: 'enforce', ownDomainSpoofing: 'quarantine', greylisting: 'on' });
    expect((await trust().verify(forged)).action).toBe('junk');
    await domains.updateTrustPolicy(inTest, { ownDomainSpoofing: 'ignore' });
    expect((await trust().verify(forged)).action).toBe('accept');
    await domains.updateTrustPolicy(inTest, { ownDomainSpoofing: 'reject' });
  });

  it("follows the recipient domain's dmarcReject setting, and refuses only when every recipient domain would", async () => {
    const forged = authTestMessage('ann@signed.test', 'x@relaxed.test', 'forged to relaxed');
    const domains = createDomainRepository(store.db);
    const relaxed = (await domains.findByName('relaxed.test'))!.id;
    await domains.updateTrustPolicy(relaxed, { dmarcReject: 'quarantine' });
    expect((await trust().verify(input(forged, { rcptDomains: ['relaxed.test'] }))).action).toBe('junk');
    expect((await trust().verify(input(forged, { rcptDomains: ['in.test', 'relaxed.test'] }))).action).toBe('junk');
    await domains.updateTrustPolicy(relaxed, { dmarcReject: 'ignore' });
    expect((await trust().verify(input(forged, { rcptDomains: ['relaxed.test'] })))).toMatchObject({ action: 'accept', reason: null });
    // The other key is kept when one is changed.
    expect((await domains.trustPolicies(['relaxed.test'])).get('relaxed.test')).toEqual({ dmarcReject: 'ignore', ownDomainSpoofing: 'reject', greylisting: 'on' });
  });

  it('checks and records mail from a trusted network but neither refuses it nor files it in Junk', async () => {
    const verdict = await trust({ trusted: '203.0.113.0/24' }).verify(input(authTestMessage('ann@signed.test', 'bob@in.test', 'trusted forged')));
    expect(verdict).toMatchObject({ action: 'accept', trustedNetwork: true, reason: expect.stringContaining('trusted network') });
    expect(verdict.authentication.dmarc).toMatchObject({ result: 'fail', policy: 'reject' });
  });

  it('records temperror and accepts when the DNS server does not answer (no refusal, no Junk)', async () => {
    const verdict = await trust({ dns: '127.0.0.1:9' }).verify(input(authTestMessage('ann@signed.test', 'bob@in.test', 'no dns')));
    expect(verdict.action).toBe('accept');
    expect(verdict.authentication.spf.result).toBe('temperror');
    expect(verdict.authentication.dmarc.result).toBe('temperror');
    // Own-domain mail is not called forged when the checks could not run.
    const own = await trust({ dns: '127.0.0.1:9' }).verify(input(authTestMessage('ceo@in.test', 'bob@in.test', 'own, no dns'), { mailFrom: 'ceo@in.test' }));
    expect(own.action).toBe('accept');
  });

  it('does not refuse a p=reject domain whose aligned DKIM key lookup timed out (DMARC fails only because a check could not run)', async () => {
    // Everything answers but the DKIM key: the signature that would align is temperror, so the
    // DMARC "fail" says nothing about the sender (RFC 7489 6.6.2). A slow resolver must not cost mail.
    const real = createAuthDnsResolver([auth.dns.server], { timeoutMs: 500 });
    const keyTimesOut = Object.assign(
      (name: string, rrtype: string) =>
        name.includes('._domainkey.') ? Promise.reject(Object.assign(new Error(`timeout ${name}`), { code: 'ETIMEOUT' })) : real(name, rrtype),
      { size: () => 0 },
    );
    const slowKey = createInboundTrust({ db: store.db, resolver: keyTimesOut as typeof real, hostname: 'mx.in.test', trustedNetworks: parseTrustedNetworks('none') });
    const raw = await auth.sign(authTestMessage('Ann <ann@signed.test>', 'bob@in.test', 'key lookup times out'));
    const verdict = await slowKey.verify(input(raw));
    expect(verdict.authentication.dkim).toEqual({ result: 'temperror', domain: 'signed.test' });
    expect(verdict.action).toBe('accept');

    // A forged From still fails when its temperror is on a domain that could not align (the attacker's own).
    const forged = await auth.sign(authTestMessage('Ann <ann@signed.test>', 'bob@in.test', 'forged'), 'forger.test');
    const forgedVerdict = await slowKey.verify(input(forged));
    expect(forgedVerdict.authentication.dmarc).toMatchObject({ result: 'fail', policy: 'reject' });
    expect(forgedVerdict.action).toBe('reject');
  });
});

describe('the trust policy cache', () => {
  it("reads a domain's policy at most once per policyCacheMs: an admin's change reaches the MX when the entry expires", async () => {
    let clock = 0;
    const cached = createInboundTrust({
      db: store.db,
      resolver: createAuthDnsResolver([auth.dns.server], { timeoutMs: 500 }),
      hostname: 'mx.in.test',
      trustedNetworks: parseTrustedNetworks('none'),
      policyCacheMs: 5_000,
      now: () => clock,
    });
    const forged = input(authTestMessage('ceo@in.test', 'bob@in.test', 'cached policy'), { mailFrom: 'ceo@in.test' });
    expect((await cached.verify(forged)).action).toBe('reject');
    const domains = createDomainRepository(store.db);
    await domains.updateTrustPolicy(inTest, { ownDomainSpoofing: 'quarantine' });
    try {
      clock = 4_999;
      expect((await cached.verify(forged)).action).toBe('reject');
      clock = 5_000;
      expect((await cached.verify(forged)).action).toBe('junk');
    } finally {
      await domains.updateTrustPolicy(inTest, { ownDomainSpoofing: 'reject' });
    }
  });

  it('asks only for the names it does not hold, remembers domains that are not ours, and holds at most maxEntries names', async () => {
    let clock = 0;
    const asked: string[][] = [];
    const ours = new Map<string, DomainTrustPolicy>([['in.test', { ...DEFAULT_TRUST_POLICY, dmarcReject: 'ignore' }]]);
    const lookup = async (names: readonly string[]) => {
      asked.push([...names]);
      return new Map([...ours].filter(([name]) => names.includes(name)));
    };
    const policies = cachingTrustPolicies(lookup, { ttlMs: 1_000, maxEntries: 2, now: () => clock });

    expect(await policies(['in.test', 'gmail.test'])).toEqual(new Map([['in.test', ours.get('in.test')]]));
    expect(await policies(['gmail.test', 'in.test'])).toEqual(new Map([['in.test', ours.get('in.test')]]));
    expect(asked).toEqual([['in.test', 'gmail.test']]);
    // A third name pushes out the oldest (in.test), which is then asked for again.
    await policies(['other.test']);
    await policies(['in.test', 'gmail.test']);
    expect(asked.slice(1)).toEqual([['other.test'], ['in.test']]);
    clock = 1_000;
    await policies(['gmail.test']);
    expect(asked.slice(3)).toEqual([['gmail.test']]);
    // A failed lookup is not remembered: the MX answers 451 and the next message asks again.
    const failing = cachingTrustPolicies(() => Promise.reject(new Error('db down')), { ttlMs: 1_000, maxEntries: 2, now: () => clock });
    await expect(failing(['in.test'])).rejects.toThrow('db down');
    await expect(failing(['in.test'])).rejects.toThrow('db down');
  });
});

describe('the DNS answer cache', () => {
  it('keeps answers and NXDOMAIN for a bounded time, never failures, and holds at most maxEntries names', async () => {
    let clock = 0;
    const asked: string[] = [];
    const answers: Record<string, () => unknown> = {
      'ok.test': () => [['v=spf1 -all']],
      'nx.test': () => {
        throw Object.assign(new Error('nx'), { code: 'ENOTFOUND' });
      },
      'down.test': () => {
        throw Object.assign(new Error('timeout'), { code: 'ETIMEOUT' });
      },
    };
    const resolve = async (name: string) => {
      asked.push(name);
      return (answers[name] ?? answers['ok.test']!)();
    };
    const cached = cachingDnsResolver(resolve, { maxTtlMs: 1000, negativeTtlMs: 100, maxEntries: 3, now: () => clock });
    const settle = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code: string }) => e.code);

    expect(await cached('ok.test', 'TXT')).toEqual([['v=spf1 -all']]);
    expect(await cached('OK.test', 'TXT')).toEqual([['v=spf1 -all']]);
    expect(await settle(cached('nx.test', 'TXT'))).toBe('ENOTFOUND');
    expect(await settle(cached('nx.test', 'TXT'))).toBe('ENOTFOUND');
    expect(await settle(cached('down.test', 'TXT'))).toBe('ETIMEOUT');
    expect(await settle(cached('down.test', 'TXT'))).toBe('ETIMEOUT');
    expect(asked).toEqual(['ok.test', 'nx.test', 'down.test', 'down.test']);

    clock = 500; // NXDOMAIN expired, the answer not yet
    await cached('ok.test', 'TXT');
    await settle(cached('nx.test', 'TXT'));
    expect(asked.slice(4)).toEqual(['nx.test']);
    clock = 1600;
    await cached('ok.test', 'TXT');
    expect(asked.slice(5)).toEqual(['ok.test']);

    for (const name of ['a.test', 'b.test', 'c.test', 'd.test']) await cached(name, 'TXT');
    expect(cached.size()).toBe(3);
  });
});
