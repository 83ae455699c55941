import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../db/client.js';
import type { Role } from '../db/schema.js';
import { createSessionRepository } from '../repositories/session.repository.js';

/**
 * Web sessions: an opaque random token in an httpOnly cookie; the store keeps only its SHA-256.
 * Revocable one by one (logout) or all at once (password change). A CSRF token is bound to each
 * session and must accompany every cookie-authenticated write.
 */

export const SESSION_TTL_MS = 14 * 24 * 3600 * 1000;
/** A session waiting for its second factor lives this long unless completed. */
export const MFA_PENDING_TTL_MS = 10 * 60 * 1000;

export interface SessionUser {
  sessionId: number;
  userId: number;
  address: string;
  role: Role;
  csrfToken: string;
  /** Password checked, second factor not yet: only the TOTP step (and logout) may use it. */
  mfaPending: boolean;
}

function hashToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

export function createSessionService({ db, ttlMs = SESSION_TTL_MS }: { db: Db; ttlMs?: number }) {
  const sessions = createSessionRepository(db);
  return {
    /** With `mfaPending`, the session is short-lived and refused by everything but the second-factor step. */
    async create(userId: number, meta: { ip?: string; userAgent?: string; mfaPending?: boolean }): Promise<{ token: string; csrfToken: string; expiresAt: Date }> {
      const token = randomBytes(32).toString('base64url');
      const csrfToken = randomBytes(24).toString('base64url');
      const mfaPending = meta.mfaPending ?? false;
      const expiresAt = new Date(Date.now() + (mfaPending ? Math.min(MFA_PENDING_TTL_MS, ttlMs) : ttlMs));
      await sessions.insert({ userId, tokenHash: hashToken(token), csrfToken, mfaPending, ip: meta.ip ?? null, userAgent: meta.userAgent?.slice(0, 500) ?? null, expiresAt });
      return { token, csrfToken, expiresAt };
    },

    /** The session's user, or null when the token is unknown, expired, or the user is disabled. */
    async verify(token: string): Promise<SessionUser | null> {
      if (!token || token.length > 200) return null;
      const row = await sessions.findByTokenHash(hashToken(token));
      if (!row || row.userDisabled || row.expiresAt.getTime() <= Date.now()) return null;
      if (Date.now() - row.lastSeenAt.getTime() > 60_000) await sessions.touch(row.id, new Date());
      return { sessionId: row.id, userId: row.userId, address: row.address, role: row.role, csrfToken: row.csrfToken, mfaPending: row.mfaPending };
    },

    /** The second factor was given: the pending session becomes a full one with the full lifetime. */
    async completeMfa(sessionId: number): Promise<{ expiresAt: Date } | null> {
      const expiresAt = new Date(Date.now() + ttlMs);
      return (await sessions.completeMfa(sessionId, expiresAt)) ? { expiresAt } : null;
    },

    async revoke(sessionId: number): Promise<void> {
      await sessions.remove(sessionId);
    },

    /** Ends every session of a user (password change, disable), optionally keeping one. */
    async revokeAllForUser(userId: number, exceptSessionId?: number): Promise<number> {
      return sessions.removeAllForUser(userId, exceptSessionId);
    },

    async purgeExpired(): Promise<number> {
      return sessions.removeExpired(new Date());
    },
  };
}
export type SessionService = ReturnType<typeof createSessionService>;
