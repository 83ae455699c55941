import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTestRedis } from '../../../tests/helpers/redis.js';
import { tryRedisLock } from './redis-lock.js';

/** The Redis lock replicas share (one import per user, one ACME run). */

let redis: Redis;
let close: () => Promise<void>;

beforeAll(async () => {
  ({ redis, close } = await connectTestRedis());
});
afterAll(async () => {
  await close?.();
});

describe('tryRedisLock', () => {
  it('is held by one owner at a time and free again once released', async () => {
    const first = await tryRedisLock(redis, 'lock:a', 60_000);
    expect(first).not.toBeNull();
    expect(await tryRedisLock(redis, 'lock:a', 60_000)).toBeNull();
    expect(await tryRedisLock(redis, 'lock:b', 60_000)).not.toBeNull();
    await first!.release();
    const again = await tryRedisLock(redis, 'lock:a', 60_000);
    expect(again).not.toBeNull();
    await again!.release();
  });

  it('releases only its own lock: one that expired and was taken by another stays theirs', async () => {
    const mine = await tryRedisLock(redis, 'lock:c', 60_000);
    await redis.set('lock:c', 'someone else'); // as if mine had expired and another had taken it
    await mine!.release();
    expect(await redis.get('lock:c')).toBe('someone else');
  });

  it('renews a lock while it is held, and release deletes it', async () => {
    const lock = await tryRedisLock(redis, 'lock:d', 900, { renew: true });
    // Stretched by hand: only a renewal brings its time to live back to 900 ms.
    await redis.pexpire('lock:d', 600_000);
    await expect.poll(() => redis.pttl('lock:d'), { timeout: 10_000 }).toBeLessThanOrEqual(900);
    await lock!.release();
    expect(await redis.exists('lock:d')).toBe(0);
  });
});
