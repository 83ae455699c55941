import crypto from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * A lock in Redis, so every replica sees it: taken with SET NX PX under a random owner token and
 * released only by that owner. It expires `ttlMs` after it was taken (or last renewed), so a
 * holder that dies frees it; `renew` keeps it while the holder lives, for work of unknown length.
 */

const RELEASE_IF_OWNER = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
const RENEW_IF_OWNER = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

export interface RedisLock {
  release(): Promise<void>;
}

/** Takes the lock `key`, or answers null at once when someone holds it. */
export async function tryRedisLock(redis: Redis, key: string, ttlMs: number, options: { renew?: boolean } = {}): Promise<RedisLock | null> {
  const owner = crypto.randomUUID();
  if ((await redis.set(key, owner, 'PX', ttlMs, 'NX')) !== 'OK') return null;
  // A renewal that fails (Redis away for a moment) is tried again at the next tick; the lock lapses only if they all fail for ttlMs.
  const renewal = options.renew ? setInterval(() => void redis.eval(RENEW_IF_OWNER, 1, key, owner, ttlMs).catch(() => undefined), Math.max(1, Math.floor(ttlMs / 3))) : null;
  renewal?.unref();
  return {
    async release() {
      if (renewal) clearInterval(renewal);
      await redis.eval(RELEASE_IF_OWNER, 1, key, owner);
    },
  };
}
