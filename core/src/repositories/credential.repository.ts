import type { DbOrTx } from '../db/client.js';

/**
 * The second credentials of a user: app passwords (IMAP/SMTP clients) and the TOTP secret.
 * Every query is scoped by user; hashes and secrets are returned only by the methods that need them.
 */

export interface AppPasswordRow {
  id: number;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export function createAppPasswordRepository(db: DbOrTx) {
  return {
    async list(userId: number): Promise<AppPasswordRow[]> {
      const rows = await db.selectFrom('app_passwords').select(['id', 'name', 'created_at', 'last_used_at']).where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
      return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at, lastUsedAt: r.last_used_at }));
    },
    async count(userId: number): Promise<number> {
      const row = await db.selectFrom('app_passwords').select((eb) => eb.fn.countAll<string>().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow();
      return Number(row.n);
    },
    /** Throws a unique violation when the user already has one with this name. */
    async insert(userId: number, name: string, passwordHash: string): Promise<AppPasswordRow> {
      const row = await db
        .insertInto('app_passwords')
        .values({ user_id: userId, name, password_hash: passwordHash })
        .returning(['id', 'name', 'created_at', 'last_used_at'])
        .executeTakeFirstOrThrow();
      return { id: row.id, name: row.name, createdAt: row.created_at, lastUsedAt: row.last_used_at };
    },
    /** The user's app password hashes, for sign-in to try in turn (core/src/auth/authenticate.ts only). */
    async hashes(userId: number): Promise<Array<{ id: number; passwordHash: string }>> {
      const rows = await db.selectFrom('app_passwords').select(['id', 'password_hash']).where('user_id', '=', userId).execute();
      return rows.map((r) => ({ id: r.id, passwordHash: r.password_hash }));
    },
    async markUsed(userId: number, id: number): Promise<void> {
      await db.updateTable('app_passwords').set({ last_used_at: new Date() }).where('user_id', '=', userId).where('id', '=', id).execute();
    },
    /** Removes every app password of the user (their password changed); returns how many there were. */
    async removeAll(userId: number): Promise<number> {
      const result = await db.deleteFrom('app_passwords').where('user_id', '=', userId).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
    /** The removed row's name, or null when the user has no app password with this id. */
    async remove(userId: number, id: number): Promise<string | null> {
      const row = await db.deleteFrom('app_passwords').where('user_id', '=', userId).where('id', '=', id).returning('name').executeTakeFirst();
      return row?.name ?? null;
    },
  };
}
export type AppPasswordRepository = ReturnType<typeof createAppPasswordRepository>;

export interface TotpState {
  secret: string | null;
  enabled: boolean;
}

/** Seals a secret for storage and opens it again; core/src/auth/secret-box.ts implements it. */
export interface SecretSealer {
  seal(plain: string): string;
  open(stored: string): string;
}

/** TOTP state per user; the seed is sealed at rest with `box` (a SecretBox). */
export function createTotpRepository(db: DbOrTx, box: SecretSealer) {
  return {
    async get(userId: number): Promise<TotpState | null> {
      const row = await db.selectFrom('users').select(['totp_secret', 'totp_enabled']).where('id', '=', userId).executeTakeFirst();
      return row ? { secret: row.totp_secret === null ? null : box.open(row.totp_secret), enabled: row.totp_enabled } : null;
    },
    /** Stores a new secret, not yet enabled. Refused (false) while TOTP is enabled. */
    async setPendingSecret(userId: number, secret: string): Promise<boolean> {
      const result = await db.updateTable('users').set({ totp_secret: box.seal(secret), updated_at: new Date() }).where('id', '=', userId).where('totp_enabled', '=', false).executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
    /** Enables TOTP only if the secret is still the one the code was checked against. */
    async enable(userId: number, secret: string): Promise<boolean> {
      const row = await db.selectFrom('users').select('totp_secret').where('id', '=', userId).executeTakeFirst();
      if (!row?.totp_secret || box.open(row.totp_secret) !== secret) return false;
      const result = await db
        .updateTable('users')
        .set({ totp_enabled: true, updated_at: new Date() })
        .where('id', '=', userId)
        .where('totp_secret', '=', row.totp_secret)
        .where('totp_enabled', '=', false)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
    async disable(userId: number): Promise<void> {
      await db.updateTable('users').set({ totp_enabled: false, totp_secret: null, updated_at: new Date() }).where('id', '=', userId).execute();
    },
  };
}
export type TotpRepository = ReturnType<typeof createTotpRepository>;
