import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDnsmasq, type TestDnsServer } from '../../../tests/helpers/dnsmasq.js';
import { isPrivateAddress, MAX_MX_HOSTS, resolveDestination, type Destination, type ResolveOptions } from './mx.js';

/** Against real DNS: Debian's dnsmasq on loopback, authoritative for *.test. */

function resolverFor(server: string): Resolver {
  const resolver = new Resolver({ timeout: 1000, tries: 1 });
  resolver.setServers([server]);
  return resolver;
}

/** A loopback UDP port with nothing listening on it. */
async function closedUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

function hostsOf(destination: Destination) {
  if (destination.kind !== 'hosts') throw new Error(`expected hosts, got ${JSON.stringify(destination)}`);
  return destination.hosts;
}

const many = Array.from({ length: MAX_MX_HOSTS + 2 }, (_, i) => i + 1);

describe('resolveDestination against a real DNS server (dnsmasq)', () => {
  let dns: TestDnsServer;
  let resolver: Resolver;
  beforeAll(async () => {
    dns = await startDnsmasq({
      localDomains: ['test'],
      mx: [
        { name: 'pref.test', host: 'mx-b.pref.test', priority: 20 },
        { name: 'pref.test', host: 'mx-a.pref.test', priority: 10 },
        { name: 'pref.test', host: 'mx-c.pref.test', priority: 30 },
        { name: 'eq.test', host: 'one.eq.test', priority: 10 },
        { name: 'eq.test', host: 'two.eq.test', priority: 10 },
        { name: 'eq.test', host: 'three.eq.test', priority: 10 },
        { name: 'eq.test', host: 'backup.eq.test', priority: 20 },
        { name: 'dropped.test', host: 'gone.dropped.test', priority: 10 },
        { name: 'dropped.test', host: 'txtonly.dropped.test', priority: 20 },
        { name: 'dropped.test', host: 'ok.dropped.test', priority: 30 },
        { name: 'noaddr.test', host: 'gone.noaddr.test', priority: 10 },
        { name: 'noaddr.test', host: 'txtonly.dropped.test', priority: 20 },
        { name: 'refused.test', host: 'mx.elsewhere.example', priority: 10 },
        { name: 'half-refused.test', host: 'mx.elsewhere.example', priority: 10 },
        { name: 'half-refused.test', host: 'ok.dropped.test', priority: 20 },
        { name: 'mixed-null.test', host: 'ok.dropped.test', priority: 10 },
        { name: 'xn--bcher-kva.test', host: 'mx.xn--bcher-kva.test', priority: 10 },
        { name: 'private.test', host: 'mx.private.test', priority: 10 },
        { name: 'private.test', host: 'mx6.private.test', priority: 20 },
        { name: 'partly-private.test', host: 'inside.partly-private.test', priority: 10 },
        { name: 'partly-private.test', host: 'outside.partly-private.test', priority: 20 },
        ...many.map((i) => ({ name: 'big.test', host: `mx${i}.big.test`, priority: i })),
      ],
      nullMx: ['null.test', 'mixed-null.test'],
      a: [
        { name: 'mx-a.pref.test', address: '127.0.0.2' },
        { name: 'mx-a.pref.test', address: '127.0.0.3' },
        { name: 'mx-b.pref.test', address: '127.0.0.4' },
        { name: 'one.eq.test', address: '127.0.1.1' },
        { name: 'two.eq.test', address: '127.0.1.2' },
        { name: 'three.eq.test', address: '127.0.1.3' },
        { name: 'backup.eq.test', address: '127.0.1.4' },
        { name: 'implicit.test', address: '127.0.2.1' },
        { name: 'ok.dropped.test', address: '127.0.3.1' },
        { name: 'mx.xn--bcher-kva.test', address: '127.0.4.1' },
        { name: 'mx.private.test', address: '10.1.2.3' },
        { name: 'inside.partly-private.test', address: '192.168.7.7' },
        { name: 'outside.partly-private.test', address: '192.0.2.25' },
        { name: 'outside.partly-private.test', address: '172.20.0.1' },
        { name: 'loopback.test', address: '127.0.0.1' },
        ...many.map((i) => ({ name: `mx${i}.big.test`, address: `127.0.5.${i}` })),
      ],
      aaaa: [
        { name: 'mx-a.pref.test', address: '::2' },
        { name: 'mx-c.pref.test', address: '::3' },
        { name: 'implicit.test', address: '::21' },
        { name: 'mx6.private.test', address: 'fd00::25' },
      ],
      txt: [
        { name: 'txtonly.dropped.test', value: 'exists but has no address' },
        { name: 'txtonly.test', value: 'exists but has no MX and no address' },
      ],
    });
    resolver = resolverFor(dns.server);
  });
  // Most records point at loopback addresses (nothing is contacted): those tests allow them.
  const resolve = (domain: string, options: ResolveOptions = {}) => resolveDestination(resolver, domain, { allowPrivate: true, ...options });
  afterAll(async () => {
    await dns?.stop();
  });

  it('orders MX hosts by preference, each with its IPv4 then IPv6 addresses', async () => {
    const hosts = hostsOf(await resolve('pref.test'));
    expect(hosts.map((h) => [h.exchange, h.priority])).toEqual([
      ['mx-a.pref.test', 10],
      ['mx-b.pref.test', 20],
      ['mx-c.pref.test', 30],
    ]);
    // The order of addresses within one A record set is the server's; IPv4 comes before IPv6.
    expect(hosts[0]!.addresses).toHaveLength(3);
    expect(hosts[0]!.addresses.slice(0, 2).sort()).toEqual(['127.0.0.2', '127.0.0.3']);
    expect(hosts[0]!.addresses[2]).toBe('::2');
    expect(hosts[1]!.addresses).toEqual(['127.0.0.4']);
    expect(hosts[2]!.addresses).toEqual(['::3']);
  });

  it('lower-cases the domain and ignores a trailing dot', async () => {
    expect(hostsOf(await resolve('PREF.Test.')).map((h) => h.exchange)).toEqual(['mx-a.pref.test', 'mx-b.pref.test', 'mx-c.pref.test']);
  });

  it('randomizes the order among equal preferences and keeps higher preferences after them', async () => {
    const orders = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const hosts = hostsOf(await resolve('eq.test'));
      expect(hosts.map((h) => h.priority)).toEqual([10, 10, 10, 20]);
      expect(hosts[3]!.exchange).toBe('backup.eq.test');
      expect(hosts.slice(0, 3).map((h) => h.exchange).sort()).toEqual(['one.eq.test', 'three.eq.test', 'two.eq.test']);
      orders.add(hosts.map((h) => h.exchange).join(' '));
    }
    // 40 draws of 6 equally likely orders: a fixed order would show up as one.
    expect(orders.size).toBeGreaterThan(1);
  });

  it('takes the order among equal preferences from the random source it is given', async () => {
    const first = (random: () => number) => resolve('eq.test', { random }).then((d) => hostsOf(d).map((h) => h.exchange));
    const low = await first(() => 0);
    const high = await first(() => 0.999);
    expect(low).not.toEqual(high);
    expect(await first(() => 0)).toEqual(low);
  });

  it('falls back to the domain’s own A/AAAA addresses when it has no MX (implicit MX)', async () => {
    expect(await resolve('implicit.test')).toEqual({
      kind: 'hosts',
      hosts: [{ exchange: 'implicit.test', priority: 0, addresses: ['127.0.2.1', '::21'] }],
    });
  });

  it('reports a null MX (RFC 7505)', async () => {
    expect(await resolve('null.test')).toEqual({ kind: 'null-mx' });
  });

  it('uses the real MX hosts when a null MX is published next to them', async () => {
    expect(hostsOf(await resolve('mixed-null.test')).map((h) => h.exchange)).toEqual(['ok.dropped.test']);
  });

  it('reports NXDOMAIN as no-domain', async () => {
    expect(await resolve('nowhere.test')).toEqual({ kind: 'no-domain' });
  });

  it('drops MX hosts whose names resolve to no address', async () => {
    expect(await resolve('dropped.test')).toEqual({
      kind: 'hosts',
      hosts: [{ exchange: 'ok.dropped.test', priority: 30, addresses: ['127.0.3.1'] }],
    });
  });

  it('is a temporary failure, saying why, when no MX host has an address', async () => {
    const destination = await resolve('noaddr.test');
    expect(destination.kind).toBe('temp-failure');
    if (destination.kind !== 'temp-failure') return;
    expect(destination.reason).toContain('no MX host of noaddr.test has an address');
    expect(destination.reason).toContain('gone.noaddr.test (NXDOMAIN)');
    expect(destination.reason).toContain('txtonly.dropped.test (no A/AAAA)');
  });

  it('is a temporary failure when the domain has neither MX nor address records', async () => {
    expect(await resolve('txtonly.test')).toEqual({ kind: 'temp-failure', reason: 'txtonly.test has no MX records and no A/AAAA address' });
  });

  it('is a temporary failure when the DNS server refuses the MX query', async () => {
    // dnsmasq has no upstream: names outside its local zones are REFUSED.
    expect(await resolve('example.org')).toEqual({ kind: 'temp-failure', reason: 'MX lookup for example.org failed: EREFUSED' });
  });

  it('is a temporary failure when the only MX host’s address lookup is refused, and skips that host otherwise', async () => {
    const refused = await resolve('refused.test');
    expect(refused).toEqual({ kind: 'temp-failure', reason: 'no MX host of refused.test has an address: mx.elsewhere.example (EREFUSED, EREFUSED)' });
    expect(hostsOf(await resolve('half-refused.test')).map((h) => h.exchange)).toEqual(['ok.dropped.test']);
  });

  it(`keeps at most ${MAX_MX_HOSTS} MX hosts, the most preferred`, async () => {
    const hosts = hostsOf(await resolve('big.test'));
    expect(hosts.map((h) => h.priority)).toEqual(many.slice(0, MAX_MX_HOSTS));
    expect(hosts[0]).toEqual({ exchange: 'mx1.big.test', priority: 1, addresses: ['127.0.5.1'] });
  });

  it('looks up an internationalised domain by its A-label', async () => {
    expect(hostsOf(await resolve('Bücher.test'))).toEqual([{ exchange: 'mx.xn--bcher-kva.test', priority: 10, addresses: ['127.0.4.1'] }]);
  });

  it('refuses a domain whose MX hosts resolve only to private addresses, naming them, unless private addresses are allowed', async () => {
    const refused = await resolveDestination(resolver, 'private.test');
    expect(refused).toEqual({ kind: 'private', reason: 'resolves to a private address only: mx.private.test (10.1.2.3), mx6.private.test (fd00::25)' });
    expect(await resolveDestination(resolver, 'loopback.test')).toMatchObject({ kind: 'private' });
    expect(hostsOf(await resolve('private.test')).map((h) => h.addresses)).toEqual([['10.1.2.3'], ['fd00::25']]);
  });

  it('keeps only the public addresses when a domain has both', async () => {
    expect(hostsOf(await resolveDestination(resolver, 'partly-private.test'))).toEqual([{ exchange: 'outside.partly-private.test', priority: 20, addresses: ['192.0.2.25'] }]);
  });
});

describe('resolveDestination without a reachable DNS server', () => {
  let resolver: Resolver;
  beforeAll(async () => {
    resolver = new Resolver({ timeout: 200, tries: 1 });
    resolver.setServers([`127.0.0.1:${await closedUdpPort()}`]);
  });

  it('is a temporary failure, never a bounce', async () => {
    const destination = await resolveDestination(resolver, 'example.com');
    expect(destination.kind).toBe('temp-failure');
    if (destination.kind === 'temp-failure') expect(destination.reason).toMatch(/^MX lookup for example\.com failed: (ECONNREFUSED|ETIMEOUT)$/);
  });

  it('needs no lookup for an address literal', async () => {
    expect(await resolveDestination(resolver, '[192.0.2.1]')).toEqual({ kind: 'hosts', hosts: [{ exchange: '192.0.2.1', priority: 0, addresses: ['192.0.2.1'] }] });
    expect(await resolveDestination(resolver, '[IPv6:2001:DB8::1]')).toEqual({ kind: 'hosts', hosts: [{ exchange: '2001:db8::1', priority: 0, addresses: ['2001:db8::1'] }] });
  });

  it('refuses an address literal of a private address unless private addresses are allowed', async () => {
    expect(await resolveDestination(resolver, '[127.0.0.1]')).toMatchObject({ kind: 'private' });
    expect(await resolveDestination(resolver, '[IPv6:::ffff:10.0.0.1]')).toMatchObject({ kind: 'private' });
    expect(await resolveDestination(resolver, '[127.0.0.1]', { allowPrivate: true })).toMatchObject({ kind: 'hosts' });
  });

  it('treats a malformed address literal or domain name as no-domain', async () => {
    for (const bad of ['[300.1.1.1]', '[2001:db8::1]', '[mx.example]', '', '.', 'a..b', 'exa mple.com', `${'a'.repeat(64)}.com`]) {
      expect(await resolveDestination(resolver, bad), bad).toEqual({ kind: 'no-domain' });
    }
  });
});

describe('isPrivateAddress', () => {
  it.each([
    '127.0.0.1', '127.255.255.254', '10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '100.127.255.255',
    '0.0.0.0', '224.0.0.1', '255.255.255.255', '::', '::1', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'ff02::1',
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.1.1.1', '::FFFF:192.168.0.1', '::ffff:169.254.1.1',
  ])('refuses %s', (ip) => {
    expect(isPrivateAddress(ip)).toBe(true);
  });

  it.each(['8.8.8.8', '192.0.2.1', '172.15.255.255', '172.32.0.1', '100.63.255.255', '100.128.0.1', '11.0.0.1', '2001:db8::1', '2606:4700::1111', '::ffff:8.8.8.8', 'not an address'])(
    'allows %s',
    (ip) => {
      expect(isPrivateAddress(ip)).toBe(false);
    },
  );
});
