import net from 'node:net';
import type { Redis } from 'ioredis';

/**
 * Fixed-window counters in Redis, shared by every process: sign-in failures per client IP and per
 * account, wrong TOTP codes, messages sent. `hit` counts events; `attempt` counts a guess BEFORE
 * it is checked, so that parallel guesses cannot all pass a check that has not seen them yet.
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

/** One counter an attempt is counted against: a rule and the subject it counts for. */
export type RateLimitCounter = readonly [rule: RateLimitRule, subject: string];

/** An attempt already counted against its counters (see `attempt`). */
export interface CountedAttempt {
  /** The first counter that is over its limit with this attempt counted, or null when none is. */
  limitedBy: { rule: RateLimitRule; retryAfterSeconds: number } | null;
  /** Takes this attempt's count back (it succeeded): the failures of others stay counted. */
  takeBack(): Promise<void>;
}

// Takes one count back from each counter that still exists (a window that ended is not revived).
const TAKE_BACK = `
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('DECR', key) end
end
return 0`;

export function createRateLimiter(redis: Redis) {
  const key = (rule: RateLimitRule, subject: string) => `rl:${rule.name}:${subject.toLowerCase()}`;
  return {
    /** Counts `weight` events (default one). */
    async hit(rule: RateLimitRule, subject: string, weight = 1): Promise<RateLimitState> {
      const k = key(rule, subject);
      const results = await redis.multi().incrby(k, weight).expire(k, rule.windowSeconds, 'NX').ttl(k).exec();
      const count = Number(results?.[0]?.[1] ?? 0);
      const ttl = Number(results?.[2]?.[1] ?? rule.windowSeconds);
      return { limited: count > rule.max, retryAfterSeconds: Math.max(ttl, 1) };
    },

    /**
     * Counts one attempt against every counter at once (one MULTI), then says whether any is
     * over its limit. Call it before the slow check (a password hash): the attempt counts as a
     * failure unless the caller takes it back on success. A refused (limited) attempt stays counted.
     */
    async attempt(counters: readonly RateLimitCounter[]): Promise<CountedAttempt> {
      const keys = counters.map(([rule, subject]) => key(rule, subject));
      const multi = redis.multi();
      counters.forEach(([rule], i) => multi.incr(keys[i]!).expire(keys[i]!, rule.windowSeconds, 'NX').ttl(keys[i]!));
      const results = await multi.exec();
      if (!results) throw new Error('rate limiter: transaction aborted');
      for (const [err] of results) if (err) throw err;
      let limitedBy: CountedAttempt['limitedBy'] = null;
      counters.forEach(([rule], i) => {
        const count = Number(results[i * 3]![1]);
        if (limitedBy === null && count > rule.max) limitedBy = { rule, retryAfterSeconds: Math.max(Number(results[i * 3 + 2]![1]), 1) };
      });
      return {
        limitedBy,
        async takeBack() {
          await redis.eval(TAKE_BACK, keys.length, ...keys);
        },
      };
    },
  };
}
export type RateLimiter = ReturnType<typeof createRateLimiter>;

/**
 * The subject a client address is limited under: an IPv4 address as it is, an IPv4-mapped IPv6
 * address as its IPv4 address, any other IPv6 address by its /64 (one customer usually holds a
 * whole /64, so limiting single addresses in it limits nothing).
 */
export function clientIpSubject(ip: string): string {
  const address = ip.trim().toLowerCase().replace(/%.*$/, ''); // without an IPv6 zone (fe80::1%eth0)
  if (net.isIPv4(address) || !net.isIPv6(address)) return address;
  const groups = ipv6Groups(address);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail converted). */
function ipv6Groups(address: string): number[] {
  const parse = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((g) => {
          if (!g.includes('.')) return [parseInt(g, 16)];
          const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number];
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head, tail] = address.split('::') as [string, string | undefined];
  const first = parse(head);
  if (tail === undefined) return first;
  const last = parse(tail);
  return [...first, ...new Array<number>(8 - first.length - last.length).fill(0), ...last];
}

/** Failed sign-ins per client IP (see clientIpSubject) and per account (canonical address), for the web, SMTP AUTH and IMAP LOGIN together. */
export const LOGIN_FAILURES_PER_IP: RateLimitRule = { name: 'login-ip', max: 30, windowSeconds: 15 * 60 };
export const LOGIN_FAILURES_PER_ACCOUNT: RateLimitRule = { name: 'login-account', max: 10, windowSeconds: 15 * 60 };
/** Wrong or replayed TOTP codes per account, keyed by user id (sign-in second step, enable, disable). */
export const TOTP_FAILURES_PER_ACCOUNT: RateLimitRule = { name: 'totp-account', max: 5, windowSeconds: 15 * 60 };
/** Messages a user sends per hour (POST /api/messages/send), keyed by user id. */
export const SENT_MESSAGES_PER_USER: RateLimitRule = { name: 'send-user', max: 200, windowSeconds: 60 * 60 };
/** Drafts a user saves per minute (POST and PUT /api/drafts: each builds a message of up to the size limit). */
export const DRAFT_SAVES_PER_USER: RateLimitRule = { name: 'draft-user', max: 60, windowSeconds: 60 };
/** Recipients a user sends to per hour, all messages together (a compromised account's spam run ends here). */
export const SENT_RECIPIENTS_PER_USER: RateLimitRule = { name: 'send-recipients-user', max: 2000, windowSeconds: 60 * 60 };
