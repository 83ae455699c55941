import { resolveDestination, type Destination, type MxResolver, type ResolveOptions } from './mx.js';

/**
 * MX answers per domain, kept for `ttlMs` (a busy queue to one domain asks DNS once, not per
 * message). Temporary failures are not kept: the next attempt asks again.
 */
export function createDestinationCache(
  resolver: MxResolver,
  options: Pick<ResolveOptions, 'allowPrivate'> & { ttlMs?: number; clock?: () => number } = {},
): (domain: string) => Promise<Destination> {
  const { ttlMs = 60_000, clock = Date.now } = options;
  const cache = new Map<string, { value: Promise<Destination>; until: number }>();
  return (domain) => {
    const key = domain.toLowerCase();
    const hit = cache.get(key);
    if (hit && hit.until > clock()) return hit.value;
    const value = resolveDestination(resolver, key, { allowPrivate: options.allowPrivate });
    cache.set(key, { value, until: clock() + ttlMs });
    // Only this lookup's entry goes (a newer one may have replaced it meanwhile).
    const forget = () => cache.get(key)?.value === value && cache.delete(key);
    void value.then((d) => d.kind === 'temp-failure' && forget(), forget);
    if (cache.size > 10_000) cache.delete(cache.keys().next().value!);
    return value;
  };
}
