import { resolveDestination, type Destination, type MxResolver } from './mx.js';

/**
 * MX answers per domain, kept for `ttlMs` (a busy queue to one domain asks DNS once, not per
 * message). Temporary failures are not kept: the next attempt asks again.
 */
export function createDestinationCache(resolver: MxResolver, ttlMs = 60_000): (domain: string) => Promise<Destination> {
  const cache = new Map<string, { value: Promise<Destination>; until: number }>();
  return (domain) => {
    const key = domain.toLowerCase();
    const hit = cache.get(key);
    if (hit && hit.until > Date.now()) return hit.value;
    const value = resolveDestination(resolver, key);
    cache.set(key, { value, until: Date.now() + ttlMs });
    void value.then(
      (d) => d.kind === 'temp-failure' && cache.delete(key),
      () => cache.delete(key),
    );
    if (cache.size > 10_000) cache.delete(cache.keys().next().value!);
    return value;
  };
}
