import type { Redis } from 'ioredis';
import { tryRedisLock } from '../redis-lock.js';

/**
 * What every backend replica shares for ACME, in Redis: the HTTP-01 key authorizations (the CA may
 * ask any replica behind port 80 for /.well-known/acme-challenge/<token>), and the lock that lets
 * one ACME run at a time in the whole deployment.
 */

const CHALLENGE_TTL_SECONDS = 15 * 60;
const LOCK_KEY = 'acme:lock';
const challengeKey = (token: string) => `acme:challenge:${token}`;

/** An ACME token: base64url (RFC 8555 §8.1), which also keeps odd input out of Redis key names. */
export const ACME_TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,256}$/;

export interface AcmeChallengeStore {
  put(token: string, keyAuthorization: string): Promise<void>;
  /** The key authorization for `token`, or null when none is pending. */
  get(token: string): Promise<string | null>;
  remove(token: string): Promise<void>;
}

export function createAcmeChallengeStore(redis: Redis): AcmeChallengeStore {
  return {
    async put(token, keyAuthorization) {
      await redis.set(challengeKey(token), keyAuthorization, 'EX', CHALLENGE_TTL_SECONDS);
    },
    async get(token) {
      if (!ACME_TOKEN_PATTERN.test(token)) return null;
      return redis.get(challengeKey(token));
    },
    async remove(token) {
      await redis.del(challengeKey(token));
    },
  };
}

/**
 * Runs `work` holding the deployment-wide ACME lock, or returns `undefined` at once when another
 * replica holds it (that one's certificate reaches every service through DATA_DIR). The lock expires
 * after `ttlMs` if its holder dies.
 */
export async function withAcmeLock<T>(redis: Redis, ttlMs: number, work: () => Promise<T>): Promise<T | undefined> {
  const lock = await tryRedisLock(redis, LOCK_KEY, ttlMs);
  if (!lock) return undefined;
  try {
    return await work();
  } finally {
    await lock.release();
  }
}
