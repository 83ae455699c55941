import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTestRedis } from '../../../../tests/helpers/redis.js';
import { createAcmeChallengeStore, withAcmeLock } from './acme-challenges.js';

/** The Redis side of ACME, shared by backend replicas: HTTP-01 tokens and the one-run-at-a-time lock. */

let redis: Redis;
let close: () => Promise<void>;

beforeAll(async () => {
  ({ redis, close } = await connectTestRedis());
});
afterAll(async () => {
  await close?.();
});

describe('the ACME lock', () => {
  it('lets one run at a time: a second replica is told busy (undefined) and may run once the first is done', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const first = withAcmeLock(redis, 60_000, async () => {
      await held;
      return 'first';
    });
    await expect.poll(() => redis.exists('acme:lock')).toBe(1);
    expect(await withAcmeLock(redis, 60_000, async () => 'second')).toBeUndefined();
    release();
    expect(await first).toBe('first');
    expect(await withAcmeLock(redis, 60_000, async () => 'third')).toBe('third');
  });

  it('is released when the run throws', async () => {
    await expect(withAcmeLock(redis, 60_000, async () => Promise.reject(new Error('order failed')))).rejects.toThrow('order failed');
    expect(await redis.exists('acme:lock')).toBe(0);
  });
});

describe('the challenge store', () => {
  it('answers a stored token until it is removed, and nothing for a malformed one', async () => {
    const store = createAcmeChallengeStore(redis);
    await store.put('tok_en-1', 'tok_en-1.thumb');
    expect(await store.get('tok_en-1')).toBe('tok_en-1.thumb');
    expect(await redis.ttl('acme:challenge:tok_en-1')).toBeGreaterThan(0);
    expect(await store.get('tok en/..')).toBeNull();
    await store.remove('tok_en-1');
    expect(await store.get('tok_en-1')).toBeNull();
  });
});
