import { describe, expect, it } from 'vitest';
import { normalizeClientIp, parseTrustedNetworks } from './trusted-networks.js';

describe('parseTrustedNetworks', () => {
  it('trusts addresses inside the configured networks only, IPv4-mapped clients included', () => {
    const trusted = parseTrustedNetworks('127.0.0.0/8, 10.1.0.0/16, 2001:db8::/32');
    expect(trusted.cidrs).toEqual(['127.0.0.0/8', '10.1.0.0/16', '2001:db8::/32']);
    for (const ip of ['127.0.0.1', '10.1.200.3', '::ffff:10.1.0.9', '2001:db8::25']) expect(trusted.contains(ip)).toBe(true);
    for (const ip of ['10.2.0.1', '::ffff:192.0.2.1', '2001:db9::1', '::1', 'not an address', '']) expect(trusted.contains(ip)).toBe(false);
  });

  it('gives the same answers when asked again, also after more distinct clients than it remembers', () => {
    const trusted = parseTrustedNetworks('10.0.0.0/8');
    const answers = (n: number) => Array.from({ length: n }, (_, i) => trusted.contains(`${i % 2 === 0 ? 10 : 11}.0.${(i >> 8) & 255}.${i & 255}`));
    const first = answers(10_000);
    expect(answers(10_000)).toEqual(first);
    expect(first.filter(Boolean)).toHaveLength(5_000);
    expect(trusted.contains('10.9.9.9')).toBe(true);
    expect(trusted.contains('11.9.9.9')).toBe(false);
  });

  it('trusts nobody with none, and refuses a bad entry by name', () => {
    expect(parseTrustedNetworks('none').contains('127.0.0.1')).toBe(false);
    expect(() => parseTrustedNetworks('127.0.0.0/8,10.0.0.0/33')).toThrow('not a CIDR: "10.0.0.0/33"');
  });

  it('reads an IPv4-mapped IPv6 client as its IPv4 address', () => {
    expect(normalizeClientIp('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(normalizeClientIp('2001:db8::1')).toBe('2001:db8::1');
  });
});
