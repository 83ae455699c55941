import { describe, expect, it } from 'vitest';
import { clientIpSubject } from './rate-limit.js';

describe('clientIpSubject', () => {
  it('keeps an IPv4 address as it is', () => {
    expect(clientIpSubject('203.0.113.7')).toBe('203.0.113.7');
  });

  it('counts an IPv4-mapped IPv6 address as its IPv4 address, in either notation', () => {
    expect(clientIpSubject('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientIpSubject('::FFFF:cb00:7107')).toBe('203.0.113.7');
    expect(clientIpSubject('0:0:0:0:0:ffff:203.0.113.7')).toBe('203.0.113.7');
  });

  it('counts an IPv6 address by its /64, however it is written', () => {
    const subject = '2001:db8:1:2::/64';
    for (const ip of ['2001:db8:1:2::1', '2001:DB8:1:2:ffff:ffff:ffff:ffff', '2001:0db8:0001:0002:0000:0000:0000:0003', '2001:db8:1:2::1.2.3.4', 'fe80::1%eth0'.replace('fe80::1', '2001:db8:1:2::5')]) {
      expect(clientIpSubject(ip), ip).toBe(subject);
    }
    expect(clientIpSubject('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(clientIpSubject('::1')).toBe('0:0:0:0::/64');
    expect(clientIpSubject('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });

  it('passes anything that is not an IP address through unchanged', () => {
    expect(clientIpSubject('unknown')).toBe('unknown');
  });
});
