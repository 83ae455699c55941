import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDnsmasq, type TestDnsServer } from '../../../tests/helpers/dnsmasq.js';
import { checkRecords, createDnsResolver, expectedRecords, type DnsLookup } from './dns-helper.js';

const dkim = { selector: 'my202611', publicKeyB64: 'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA' + 'x'.repeat(300) + 'IDAQAB' };

describe('expectedRecords', () => {
  it('lists MX, SPF, DKIM, DMARC and MTA-STS for the domain', () => {
    const records = expectedRecords('Example.COM', { mailHostname: 'mx.example.net.', dkim, stsDate: new Date('2026-11-05T10:00:00Z') });
    expect(records).toEqual([
      { type: 'MX', name: 'example.com', value: 'mx.example.net', purpose: 'mx', priority: 10 },
      { type: 'TXT', name: 'example.com', value: 'v=spf1 mx -all', purpose: 'spf' },
      { type: 'TXT', name: 'my202611._domainkey.example.com', value: `v=DKIM1; k=rsa; p=${dkim.publicKeyB64}`, purpose: 'dkim' },
      { type: 'TXT', name: '_dmarc.example.com', value: 'v=DMARC1; p=quarantine; rua=mailto:postmaster@example.com', purpose: 'dmarc' },
      { type: 'TXT', name: '_mta-sts.example.com', value: 'v=STSv1; id=20261105', purpose: 'mta-sts' },
    ]);
  });
  it('leaves DKIM out when the domain has no key', () => {
    expect(expectedRecords('a.test', { mailHostname: 'mx.a.test', dkim: null }).map((r) => r.purpose)).toEqual(['mx', 'spf', 'dmarc', 'mta-sts']);
  });
});

describe('checkRecords with a failing resolver', () => {
  it('reports each record ok:false with the error code instead of throwing', async () => {
    const failing: DnsLookup = {
      resolveMx: () => Promise.reject(Object.assign(new Error('queryMx ETIMEOUT'), { code: 'ETIMEOUT' })),
      resolveTxt: () => Promise.reject(new Error('weird')),
    };
    const checked = await checkRecords(expectedRecords('a.test', { mailHostname: 'mx.a.test', dkim }), failing);
    expect(checked.map((r) => [r.purpose, r.ok, r.error])).toEqual([
      ['mx', false, 'ETIMEOUT'],
      ['spf', false, 'ERROR'],
      ['dkim', false, 'ERROR'],
      ['dmarc', false, 'ERROR'],
      ['mta-sts', false, 'ERROR'],
    ]);
  });
  it('accepts SPF naming the host, folded DKIM p= and rejects a different key', async () => {
    const txt: Record<string, string[][]> = {
      'a.test': [['google-site-verification=x'], ['v=spf1 a:mx.a.test ~all']],
      [`${dkim.selector}._domainkey.a.test`]: [['v=DKIM1; k=rsa; p=OTHER']],
      '_dmarc.a.test': [['v=DMARC1; p=none']],
      '_mta-sts.a.test': [['v=STSv1; id=1']],
    };
    const lookup: DnsLookup = {
      resolveMx: async () => [{ exchange: 'MX.A.TEST.', priority: 5 }],
      resolveTxt: async (name) => txt[name] ?? [],
    };
    const checked = await checkRecords(expectedRecords('a.test', { mailHostname: 'mx.a.test', dkim }), lookup);
    expect(Object.fromEntries(checked.map((r) => [r.purpose, r.ok]))).toEqual({ mx: true, spf: true, dkim: false, dmarc: true, 'mta-sts': true });
    expect(checked.find((r) => r.purpose === 'spf')!.found).toEqual(['v=spf1 a:mx.a.test ~all']);
    expect(checked.find((r) => r.purpose === 'mx')!.found).toEqual(['5 mx.a.test']);
  });
});

describe('checkRecords against a real DNS server (dnsmasq on loopback)', () => {
  let dns: TestDnsServer;
  beforeAll(async () => {
    dns = await startDnsmasq({
      localDomains: ['good.test', 'bad.test'],
      mx: [
        { name: 'good.test', host: 'mail.good.test' },
        { name: 'bad.test', host: 'elsewhere.example' },
      ],
      txt: [
        { name: 'good.test', value: 'v=spf1 mx -all' },
        // A 2048-bit key's record is longer than one 255-byte string: published as several.
        { name: `${dkim.selector}._domainkey.good.test`, value: `v=DKIM1; k=rsa; p=${dkim.publicKeyB64}` },
        { name: '_dmarc.good.test', value: 'v=DMARC1; p=quarantine; rua=mailto:postmaster@good.test' },
        { name: '_mta-sts.good.test', value: 'v=STSv1; id=20260101' },
      ],
    });
  });
  afterAll(async () => {
    await dns?.stop();
  });

  it('finds every published record', async () => {
    const checked = await checkRecords(expectedRecords('good.test', { mailHostname: 'mail.good.test', dkim }), createDnsResolver([dns.server], { timeoutMs: 1000, tries: 1 }));
    for (const r of checked) expect(r.ok, `${r.purpose} ${JSON.stringify(r)}`).toBe(true);
    expect(checked.find((r) => r.purpose === 'mx')!.found).toEqual(['10 mail.good.test']);
  });

  it('reports missing and wrong records as ok:false, with the resolver error code', async () => {
    const checked = await checkRecords(expectedRecords('bad.test', { mailHostname: 'mail.bad.test', dkim }), createDnsResolver([dns.server], { timeoutMs: 1000, tries: 1 }));
    const byPurpose = Object.fromEntries(checked.map((r) => [r.purpose, r]));
    expect(byPurpose.mx).toMatchObject({ ok: false, found: ['10 elsewhere.example'] });
    for (const purpose of ['spf', 'dkim', 'dmarc', 'mta-sts']) {
      expect(byPurpose[purpose]!.ok, purpose).toBe(false);
      expect(byPurpose[purpose]!.error, purpose).toMatch(/^E[A-Z]+$/);
    }
  });

  it('does not crash when the server does not answer', async () => {
    const checked = await checkRecords(expectedRecords('good.test', { mailHostname: 'mail.good.test', dkim: null }), createDnsResolver(['127.0.0.1:9'], { timeoutMs: 300, tries: 1 }));
    for (const r of checked) expect(r).toMatchObject({ ok: false, found: [] });
    for (const r of checked) expect(r.error).toMatch(/^E[A-Z]+$/);
  });
});
