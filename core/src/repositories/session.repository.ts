import type { DbOrTx } from '../db/client.js';
import type { Role } from '../db/schema.js';

/** Web session rows (core/src/auth/session.service.ts holds the rules). Tokens are stored only as hashes. */

export interface SessionRow {
  id: number;
  userId: number;
  csrfToken: string;
  mfaPending: boolean;
  expiresAt: Date;
  lastSeenAt: Date;
  address: string;
  role: Role;
  userDisabled: boolean;
}

export function createSessionRepository(db: DbOrTx) {
  return {
    async insert(values: { userId: number; tokenHash: Buffer; csrfToken: string; mfaPending: boolean; ip: string | null; userAgent: string | null; expiresAt: Date }): Promise<void> {
      await db
        .insertInto('sessions')
        .values({
          user_id: values.userId,
          token_hash: values.tokenHash,
          csrf_token: values.csrfToken,
          mfa_pending: values.mfaPending,
          ip: values.ip,
          user_agent: values.userAgent,
          expires_at: values.expiresAt,
        })
        .execute();
    },

    /** The session with this token hash and its user. */
    async findByTokenHash(tokenHash: Buffer): Promise<SessionRow | null> {
      const row = await db
        .selectFrom('sessions')
        .innerJoin('users', 'users.id', 'sessions.user_id')
        .select(['sessions.id', 'sessions.user_id', 'sessions.csrf_token', 'sessions.mfa_pending', 'sessions.expires_at', 'sessions.last_seen_at', 'users.address', 'users.role', 'users.disabled'])
        .where('sessions.token_hash', '=', tokenHash)
        .executeTakeFirst();
      return row
        ? { id: row.id, userId: row.user_id, csrfToken: row.csrf_token, mfaPending: row.mfa_pending, expiresAt: row.expires_at, lastSeenAt: row.last_seen_at, address: row.address, role: row.role, userDisabled: row.disabled }
        : null;
    },

    async touch(sessionId: number, at: Date): Promise<void> {
      await db.updateTable('sessions').set({ last_seen_at: at }).where('id', '=', sessionId).execute();
    },

    /** Turns a pending (second factor awaited), unexpired session into a full one; false when it is not such a session. */
    async completeMfa(sessionId: number, expiresAt: Date): Promise<boolean> {
      const now = new Date();
      const result = await db
        .updateTable('sessions')
        .set({ mfa_pending: false, expires_at: expiresAt, last_seen_at: now })
        .where('id', '=', sessionId)
        .where('mfa_pending', '=', true)
        .where('expires_at', '>', now)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    async remove(sessionId: number): Promise<void> {
      await db.deleteFrom('sessions').where('id', '=', sessionId).execute();
    },

    /** Removes every session of a user, optionally but one; returns how many went. */
    async removeAllForUser(userId: number, exceptSessionId?: number): Promise<number> {
      let query = db.deleteFrom('sessions').where('user_id', '=', userId);
      if (exceptSessionId !== undefined) query = query.where('id', '!=', exceptSessionId);
      const result = await query.executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    async removeExpired(before: Date): Promise<number> {
      const result = await db.deleteFrom('sessions').where('expires_at', '<', before).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
export type SessionRepository = ReturnType<typeof createSessionRepository>;
