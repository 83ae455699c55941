import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../db/client.js';
import type { Role } from '../db/schema.js';

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
  return {
    /** With `mfaPending`, the session is short-lived and refused by everything but the second-factor step. */
    async create(userId: number, meta: { ip?: string; userAgent?: string; mfaPending?: boolean }): Promise<{ token: string; csrfToken: string; expiresAt: Date }> {
      const token = randomBytes(32).toString('base64url');
      const csrfToken = randomBytes(24).toString('base64url');
      const mfaPending = meta.mfaPending ?? false;
      const expiresAt = new Date(Date.now() + (mfaPending ? Math.min(MFA_PENDING_TTL_MS, ttlMs) : ttlMs));
      await db
        .insertInto('sessions')
        .values({
          user_id: userId,
          token_hash: hashToken(token),
          csrf_token: csrfToken,
          mfa_pending: mfaPending,
          ip: meta.ip ?? null,
          user_agent: meta.userAgent?.slice(0, 500) ?? null,
          expires_at: expiresAt,
        })
        .execute();
      return { token, csrfToken, expiresAt };
    },

    /** The session's user, or null when the token is unknown, expired, or the user is disabled. */
    async verify(token: string): Promise<SessionUser | null> {
      if (!token || token.length > 200) return null;
      const row = await db
        .selectFrom('sessions')
        .innerJoin('users', 'users.id', 'sessions.user_id')
        .select(['sessions.id', 'sessions.user_id', 'sessions.csrf_token', 'sessions.mfa_pending', 'sessions.expires_at', 'sessions.last_seen_at', 'users.address', 'users.role', 'users.disabled'])
        .where('sessions.token_hash', '=', hashToken(token))
        .executeTakeFirst();
      if (!row || row.disabled || row.expires_at.getTime() <= Date.now()) return null;
      if (Date.now() - row.last_seen_at.getTime() > 60_000) {
        await db.updateTable('sessions').set({ last_seen_at: new Date() }).where('id', '=', row.id).execute();
      }
      return { sessionId: row.id, userId: row.user_id, address: row.address, role: row.role, csrfToken: row.csrf_token, mfaPending: row.mfa_pending };
    },

    /** The second factor was given: the pending session becomes a full one with the full lifetime. */
    async completeMfa(sessionId: number): Promise<{ expiresAt: Date } | null> {
      const expiresAt = new Date(Date.now() + ttlMs);
      const result = await db
        .updateTable('sessions')
        .set({ mfa_pending: false, expires_at: expiresAt, last_seen_at: new Date() })
        .where('id', '=', sessionId)
        .where('mfa_pending', '=', true)
        .where('expires_at', '>', new Date())
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0 ? { expiresAt } : null;
    },

    async revoke(sessionId: number): Promise<void> {
      await db.deleteFrom('sessions').where('id', '=', sessionId).execute();
    },

    /** Ends every session of a user (password change, disable), optionally keeping one. */
    async revokeAllForUser(userId: number, exceptSessionId?: number): Promise<number> {
      let query = db.deleteFrom('sessions').where('user_id', '=', userId);
      if (exceptSessionId !== undefined) query = query.where('id', '!=', exceptSessionId);
      const result = await query.executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    async purgeExpired(): Promise<number> {
      const result = await db.deleteFrom('sessions').where('expires_at', '<', new Date()).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
export type SessionService = ReturnType<typeof createSessionService>;
