import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDnsmasq, type TestDnsServer } from '../../../../tests/helpers/dnsmasq.js';
import { createAuthDnsResolver } from '../inbound-auth.js';
import { checkConnection, reversedIp, RDNS_FAIL_SCORE } from './connection-checks.js';

/**
 * DNSBL and forward-confirmed reverse DNS against a real DNS server (dnsmasq) serving a DNSBL zone
 * (`bl.test`, authoritative: unlisted addresses are NXDOMAIN) and PTR/A/AAAA records:
 * - 192.0.2.5 ↔ mail.good.test (confirmed), 192.0.2.6 → liar.good.test → 192.0.2.99 (not confirmed, and listed),
 * - 192.0.2.7 has no PTR (the reverse zone is authoritative), 2001:db8::5 ↔ mail6.good.test (listed).
 */

const V6 = '2001:db8::5';
const V6_NIBBLES = '5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2';

let dns: TestDnsServer;

beforeAll(async () => {
  dns = await startDnsmasq({
    localDomains: ['bl.test', 'good.test', '2.0.192.in-addr.arpa'],
    a: [
      { name: 'mail.good.test', address: '192.0.2.5' },
      { name: 'liar.good.test', address: '192.0.2.99' },
      { name: '6.2.0.192.bl.test', address: '127.0.0.2' },
      { name: `${V6_NIBBLES}.bl.test`, address: '127.0.0.4' },
    ],
    aaaa: [{ name: 'mail6.good.test', address: V6 }],
    ptr: [{ name: '6.2.0.192.in-addr.arpa', target: 'liar.good.test' }],
  });
});
afterAll(async () => {
  await dns?.stop();
});

const deps = (server: string) => ({ resolver: createAuthDnsResolver([server], { timeoutMs: 500 }), dnsblZones: ['bl.test'], dnsblScore: 3 });

describe('connection checks', () => {
  it('reverses IPv4 addresses by octet and IPv6 addresses by nibble (RFC 5782)', () => {
    expect(reversedIp('192.0.2.6')).toBe('6.2.0.192');
    expect(reversedIp('::ffff:192.0.2.6')).toBe('6.2.0.192');
    expect(reversedIp(V6)).toBe(V6_NIBBLES);
    expect(reversedIp('not an address')).toBeNull();
  });

  it('passes a client whose reverse name resolves back to it and that is not listed', async () => {
    expect(await checkConnection(deps(dns.server), { ip: '192.0.2.5', helo: 'mail.good.test' })).toEqual([
      { check: 'dnsbl', result: 'clear', score: 0, detail: 'not listed on bl.test' },
      { check: 'rdns', result: 'pass', score: 0, detail: '192.0.2.5 is mail.good.test' },
    ]);
  });

  it('scores a listed client and a reverse name that does not confirm the address', async () => {
    const checks = await checkConnection(deps(dns.server), { ip: '192.0.2.6', helo: 'liar.good.test' });
    expect(checks).toEqual([
      { check: 'dnsbl', result: 'listed', score: 3, detail: 'listed on bl.test (127.0.0.2)' },
      { check: 'rdns', result: 'fail', score: RDNS_FAIL_SCORE, detail: 'liar.good.test does not resolve to 192.0.2.6' },
    ]);
  });

  it('scores a client with no reverse DNS as none', async () => {
    const checks = await checkConnection(deps(dns.server), { ip: '192.0.2.7', helo: null });
    expect(checks[1]).toEqual({ check: 'rdns', result: 'none', score: RDNS_FAIL_SCORE, detail: 'no reverse DNS for 192.0.2.7' });
  });

  it('checks IPv6 clients in nibble format, forward-confirmed with AAAA', async () => {
    const checks = await checkConnection(deps(dns.server), { ip: V6, helo: null });
    expect(checks).toEqual([
      { check: 'dnsbl', result: 'listed', score: 3, detail: 'listed on bl.test (127.0.0.4)' },
      { check: 'rdns', result: 'pass', score: 0, detail: `${V6} is mail6.good.test` },
    ]);
  });

  it('records temperror with score 0 when the resolver fails, and never throws', async () => {
    const checks = await checkConnection(deps('127.0.0.1:9'), { ip: '192.0.2.6', helo: null });
    expect(checks.map((c) => [c.check, c.result, c.score])).toEqual([
      ['dnsbl', 'temperror', 0],
      ['rdns', 'temperror', 0],
    ]);
  });
});
