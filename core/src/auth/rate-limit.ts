import type { Redis } from 'ioredis';

/**
 * Fixed-window counters in Redis, shared by every process: login and SMTP AUTH failures per IP
 * and per account. `hit` counts one event and says whether the caller is over the limit.
 */
export interface RateLimitRule {
  name: string;
  max: number;
  windowSeconds: number;
}

export interface RateLimitState {
  limited: boolean;
  retryAfterSeconds: number;
}

export function createRateLimiter(redis: Redis) {
  const key = (rule: RateLimitRule, subject: string) => `rl:${rule.name}:${subject.toLowerCase()}`;
  return {
    async check(rule: RateLimitRule, subject: string): Promise<RateLimitState> {
      const k = key(rule, subject);
      const [count, ttl] = await Promise.all([redis.get(k), redis.ttl(k)]);
      const limited = Number(count ?? 0) >= rule.max;
      return { limited, retryAfterSeconds: limited ? Math.max(ttl, 1) : 0 };
    },
    /** Counts `weight` events (default one). */
    async hit(rule: RateLimitRule, subject: string, weight = 1): Promise<RateLimitState> {
      const k = key(rule, subject);
      const results = await redis.multi().incrby(k, weight).expire(k, rule.windowSeconds, 'NX').ttl(k).exec();
      const count = Number(results?.[0]?.[1] ?? 0);
      const ttl = Number(results?.[2]?.[1] ?? rule.windowSeconds);
      return { limited: count > rule.max, retryAfterSeconds: Math.max(ttl, 1) };
    },
    async reset(rule: RateLimitRule, subject: string): Promise<void> {
      await redis.del(key(rule, subject));
    },
  };
}
export type RateLimiter = ReturnType<typeof createRateLimiter>;

export const LOGIN_FAILURES_PER_IP: RateLimitRule = { name: 'login-ip', max: 30, windowSeconds: 15 * 60 };
export const LOGIN_FAILURES_PER_ACCOUNT: RateLimitRule = { name: 'login-account', max: 10, windowSeconds: 15 * 60 };
/** Wrong or replayed TOTP codes per account (sign-in second step, enable, disable). */
export const TOTP_FAILURES_PER_ACCOUNT: RateLimitRule = { name: 'totp-account', max: 5, windowSeconds: 15 * 60 };
/** Messages a user sends per hour (POST /api/messages/send), keyed by user id. */
export const SENT_MESSAGES_PER_USER: RateLimitRule = { name: 'send-user', max: 200, windowSeconds: 60 * 60 };
/** Recipients a user sends to per hour, all messages together (a compromised account's spam run ends here). */
export const SENT_RECIPIENTS_PER_USER: RateLimitRule = { name: 'send-recipients-user', max: 2000, windowSeconds: 60 * 60 };
/** Failed SMTP AUTH attempts on the submission ports (587/465), per client IP and per account. */
export const SMTP_AUTH_FAILURES_PER_IP: RateLimitRule = { name: 'smtp-auth-ip', max: 30, windowSeconds: 15 * 60 };
export const SMTP_AUTH_FAILURES_PER_ACCOUNT: RateLimitRule = { name: 'smtp-auth-account', max: 10, windowSeconds: 15 * 60 };
