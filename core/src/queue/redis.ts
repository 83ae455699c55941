import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis connection from a URL. BullMQ workers need `maxRetriesPerRequest: null`;
 * producers (SMTP) want commands to fail fast when Redis is away, so they pass a number.
 */
export function createRedis(url: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, { lazyConnect: false, enableReadyCheck: true, ...options });
  redis.on('error', () => undefined); // reconnects by itself; callers see failed commands
  return redis;
}
