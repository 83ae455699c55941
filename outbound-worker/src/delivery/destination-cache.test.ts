import { Resolver } from 'node:dns/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDnsmasq, type TestDnsServer } from '../../../tests/helpers/dnsmasq.js';
import { createDestinationCache } from './destination-cache.js';
import type { MxResolver } from './mx.js';

/** A real Resolver on dnsmasq that counts the MX queries it is asked. */
function countingResolver(server: string): MxResolver & { mxQueries: number } {
  const real = new Resolver({ timeout: 1000, tries: 1 });
  real.setServers([server]);
  const counter = {
    mxQueries: 0,
    resolveMx: (name: string) => {
      counter.mxQueries++;
      return real.resolveMx(name);
    },
    resolve4: (name: string) => real.resolve4(name),
    resolve6: (name: string) => real.resolve6(name),
  };
  return counter as MxResolver & { mxQueries: number };
}

describe('destination cache', () => {
  let dns: TestDnsServer;
  beforeAll(async () => {
    dns = await startDnsmasq({
      localDomains: ['cache.test'],
      mx: [{ name: 'cache.test', host: 'mx.cache.test', priority: 10 }, { name: 'broken.cache.test', host: 'nowhere.cache.test', priority: 10 }],
      a: [{ name: 'mx.cache.test', address: '198.51.100.61' }],
    });
  });
  afterAll(async () => {
    await dns?.stop();
  });

  it('asks DNS once per domain within the TTL (names compared case-insensitively), again after it', async () => {
    const resolver = countingResolver(dns.server);
    const now = { t: 0 };
    const destination = createDestinationCache(resolver, { ttlMs: 60_000, clock: () => now.t });
    const first = await destination('cache.test');
    expect(first).toEqual({ kind: 'hosts', hosts: [{ exchange: 'mx.cache.test', priority: 10, addresses: ['198.51.100.61'] }] });
    expect(await destination('CACHE.test')).toEqual(first);
    expect(resolver.mxQueries).toBe(1);
    now.t = 60_001;
    await destination('cache.test');
    expect(resolver.mxQueries).toBe(2);
  });

  it('does not keep a temporary failure: the next attempt asks again', async () => {
    const resolver = countingResolver(dns.server);
    const destination = createDestinationCache(resolver, { ttlMs: 60_000 });
    expect((await destination('broken.cache.test')).kind).toBe('temp-failure');
    expect((await destination('broken.cache.test')).kind).toBe('temp-failure');
    expect(resolver.mxQueries).toBe(2);
  });
});
