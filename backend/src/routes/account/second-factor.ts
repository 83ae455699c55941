import type { FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';
import { AppError, base32Decode, TOTP_FAILURES_PER_ACCOUNT, TOTP_STEP_SECONDS, TOTP_WINDOW, verifyTotp, type RateLimiter } from '@mailyard/core';

// Records `step` as the user's last accepted one unless that one is the same or later: atomic, so
// two requests racing with the same code cannot both pass.
const CLAIM_STEP = `
local last = redis.call('GET', KEYS[1])
if last and tonumber(last) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1`;

// Past this, every step inside the window is later than the one remembered.
const CLAIM_TTL_SECONDS = (2 * TOTP_WINDOW + 2) * TOTP_STEP_SECONDS;

/**
 * Checks TOTP codes for the API: rate-limited per account (by user id; wrong and replayed codes
 * count), and a code is accepted at most once — once a time step was accepted, that step and
 * every earlier one is refused for the user (RFC 6238 section 5.2). Each try is counted before the
 * code is checked, so parallel guesses cannot all pass the limit; a right code takes back only its
 * own count, so someone holding the password cannot earn fresh guesses from the owner's sign-ins.
 */
export function createSecondFactor(deps: { redis: Redis; limiter: RateLimiter }) {
  return {
    /** Throws `totp.invalid` / `totp.replayed` with `status`, or 429 `auth.rate_limited`. */
    async verify(reply: FastifyReply, userId: number, secret: string, code: string, status: 400 | 401): Promise<void> {
      const attempt = await deps.limiter.attempt([[TOTP_FAILURES_PER_ACCOUNT, String(userId)]]);
      if (attempt.limitedBy) {
        const seconds = attempt.limitedBy.retryAfterSeconds;
        reply.header('retry-after', String(seconds));
        throw new AppError('auth.rate_limited', `too many wrong codes; try again in ${Math.ceil(seconds / 60)} minute(s)`, 429);
      }
      const step = verifyTotp(base32Decode(secret), code);
      if (step === null) throw new AppError('totp.invalid', 'wrong or expired code', status);
      const claimed = await deps.redis.eval(CLAIM_STEP, 1, `totp:last-step:${userId}`, String(step), String(CLAIM_TTL_SECONDS));
      if (Number(claimed) !== 1) throw new AppError('totp.replayed', 'this code was already used; wait for the next one', status);
      await attempt.takeBack();
    },
  };
}
export type SecondFactor = ReturnType<typeof createSecondFactor>;
