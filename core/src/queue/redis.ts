import { Redis, type RedisOptions } from 'ioredis';
import { AppError } from '../errors.js';

/**
 * Redis connections. A service is told where Redis is by one string: a `redis://`/`rediss://` URL
 * (REDIS_URL), or, when Redis runs under Sentinel (REDIS_SENTINELS), the form
 * `redis-sentinel://[:password@]<master name>?sentinels=host:port,host:port` that
 * `sentinelTarget` writes from the configuration. ioredis then asks the sentinels for the current
 * master and follows a failover by itself.
 */

/** What `sentinelTarget` needs: the sentinels (`host:port`, IPv6 as `[::1]:26379`), the master's name, a password. */
export interface SentinelSettings {
  sentinels: string[];
  name: string;
  /** For the master and the sentinels alike (their `requirepass`); none: no AUTH. */
  password?: string;
}

const SENTINEL_PROTOCOL = 'redis-sentinel:';

/** The target string for Redis under Sentinel (read back by `createRedis`). */
export function sentinelTarget(settings: SentinelSettings): string {
  const url = new URL(`redis-sentinel://${settings.name}`);
  if (settings.password) url.password = settings.password;
  url.searchParams.set('sentinels', settings.sentinels.join(','));
  return url.href;
}

/** `host:port` → its parts; `[v6]:port` too. Null when it is not of that shape. */
export function parseHostPort(text: string): { host: string; port: number } | null {
  const m = /^\[?([^\]\s]+?)\]?:(\d{1,5})$/.exec(text.trim());
  if (!m) return null;
  const port = Number(m[2]);
  return port > 0 && port <= 65535 ? { host: m[1]!, port } : null;
}

/** The ioredis options a target means: a Redis URL as is, or the sentinels, master name and password. */
export function redisTargetOptions(target: string): string | RedisOptions {
  if (!target.startsWith(SENTINEL_PROTOCOL)) return target;
  const url = new URL(target);
  const sentinels = (url.searchParams.get('sentinels') ?? '').split(',').map((s) => parseHostPort(s));
  if (!url.hostname || sentinels.length === 0 || sentinels.some((s) => s === null)) {
    throw new AppError('redis.bad_target', 'a redis-sentinel target needs a master name and sentinels=host:port,…', 500);
  }
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  return {
    name: url.hostname,
    sentinels: sentinels as Array<{ host: string; port: number }>,
    ...(password ? { password, sentinelPassword: password } : {}),
  };
}

/**
 * A Redis connection to a target (a URL, or the sentinels'). BullMQ workers need
 * `maxRetriesPerRequest: null`; producers (SMTP) want commands to fail fast when Redis is away,
 * so they pass a number.
 */
export function createRedis(target: string, options: RedisOptions = {}): Redis {
  const where = redisTargetOptions(target);
  const common: RedisOptions = { lazyConnect: false, enableReadyCheck: true, ...options };
  const redis = typeof where === 'string' ? new Redis(where, common) : new Redis({ ...where, ...common });
  redis.on('error', () => undefined); // reconnects by itself; callers see failed commands
  return redis;
}

/**
 * A connection for SUBSCRIBE only (the event hubs of the backend and imap-server). It sends no
 * handshake command after AUTH/SELECT: ioredis writes a SUBSCRIBE issued while the connection is
 * being set up straight away (the command may run while Redis loads), so its ready check (INFO) and
 * client info (CLIENT SETINFO) would follow it into subscriber mode and fail the connection:
 * "Connection in subscriber mode, only subscriber commands may be used", which failed IMAP sign-ins
 * that arrived together (user-event-hub.store.test.ts). A lost connection is set up again and its
 * channels subscribed again by ioredis itself.
 */
export function createSubscriberRedis(target: string, options: Pick<RedisOptions, 'connectionName'> = {}): Redis {
  return createRedis(target, { ...options, maxRetriesPerRequest: null, enableReadyCheck: false, disableClientInfo: true });
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
