import { Redis } from 'ioredis';
import { inject } from 'vitest';

/**
 * A Redis URL on a database index of its own, so that test files running in parallel never see
 * each other's queues. Indexes come from a counter in database 0.
 */
export async function allocateRedisUrl(): Promise<{ url: string; flush(): Promise<void> }> {
  const base = inject('redisUrl');
  const counter = new Redis(base);
  const index = await counter.incr('test:redis-db-counter');
  counter.disconnect();
  if (index >= 1000) throw new Error('out of Redis test databases');
  const url = `${base}/${index}`;
  return {
    url,
    async flush() {
      const r = new Redis(url);
      await r.flushdb();
      r.disconnect();
    },
  };
}

/** A client on a Redis database of its own (allocateRedisUrl); `close` disconnects and empties it. */
export async function connectTestRedis(): Promise<{ redis: Redis; close(): Promise<void> }> {
  const allocated = await allocateRedisUrl();
  const redis = new Redis(allocated.url);
  return {
    redis,
    async close() {
      redis.disconnect();
      await allocated.flush();
    },
  };
}
