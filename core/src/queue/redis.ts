import { Redis, type RedisOptions } from 'ioredis';
import { AppError } from '../errors.js';

/**
 * A Redis connection from a URL. BullMQ workers need `maxRetriesPerRequest: null`;
 * producers (SMTP) want commands to fail fast when Redis is away, so they pass a number.
 */
export function createRedis(url: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, { lazyConnect: false, enableReadyCheck: true, ...options });
  redis.on('error', () => undefined); // reconnects by itself; callers see failed commands
  return redis;
}

/**
 * For a service that can do nothing without Redis, at start: fails ('redis.unreachable') unless
 * Redis answers a PING within the connection's retry limit, so that the service stops (and is
 * restarted) instead of waiting silently.
 */
export async function requireRedis(redis: Redis): Promise<void> {
  try {
    await redis.ping();
  } catch (err) {
    throw new AppError('redis.unreachable', `Redis does not answer: ${(err as Error).message}`, 503);
  }
}
