import type { DbOrTx } from '../db/client.js';
import type { Role } from '../db/schema.js';

/** A user as the rest of the code sees it: the password hash never leaves this file except via getPasswordHash. */
export interface UserRow {
  id: number;
  domainId: number;
  address: string;
  role: Role;
  displayName: string | null;
  disabled: boolean;
  createdAt: Date;
}

const publicColumns = ['id', 'domain_id', 'address', 'role', 'display_name', 'disabled', 'created_at'] as const;

function toUser(row: { id: number; domain_id: number; address: string; role: Role; display_name: string | null; disabled: boolean; created_at: Date }): UserRow {
  return { id: row.id, domainId: row.domain_id, address: row.address, role: row.role, displayName: row.display_name, disabled: row.disabled, createdAt: row.created_at };
}

export function createUserRepository(db: DbOrTx) {
  return {
    async insert(values: { domainId: number; address: string; passwordHash: string; role: Role }): Promise<UserRow> {
      const row = await db
        .insertInto('users')
        .values({ domain_id: values.domainId, address: values.address, password_hash: values.passwordHash, role: values.role })
        .returning(publicColumns)
        .executeTakeFirstOrThrow();
      return toUser(row);
    },
    async findByAddress(address: string): Promise<UserRow | null> {
      const row = await db.selectFrom('users').select(publicColumns).where('address', '=', address).executeTakeFirst();
      return row ? toUser(row) : null;
    },
    async list(domainId?: number): Promise<UserRow[]> {
      let query = db.selectFrom('users').select(publicColumns).orderBy('address');
      if (domainId !== undefined) query = query.where('domain_id', '=', domainId);
      return (await query.execute()).map(toUser);
    },
    async getPasswordHash(userId: number): Promise<string | null> {
      const row = await db.selectFrom('users').select('password_hash').where('id', '=', userId).executeTakeFirst();
      return row?.password_hash ?? null;
    },
    async setPasswordHash(userId: number, passwordHash: string): Promise<void> {
      await db.updateTable('users').set({ password_hash: passwordHash, updated_at: new Date() }).where('id', '=', userId).execute();
    },
    async remove(userId: number): Promise<void> {
      await db.deleteFrom('users').where('id', '=', userId).execute();
    },
  };
}
export type UserRepository = ReturnType<typeof createUserRepository>;

export interface AliasRow {
  id: number;
  address: string;
  targetUserId: number;
  targetAddress: string;
}

export function createAliasRepository(db: DbOrTx) {
  return {
    async insert(values: { domainId: number; address: string; targetUserId: number }): Promise<void> {
      await db.insertInto('aliases').values({ domain_id: values.domainId, address: values.address, target_user_id: values.targetUserId }).execute();
    },
    async exists(address: string): Promise<boolean> {
      return (await db.selectFrom('aliases').select('id').where('address', '=', address).executeTakeFirst()) !== undefined;
    },
    async list(): Promise<AliasRow[]> {
      const rows = await db
        .selectFrom('aliases')
        .innerJoin('users', 'users.id', 'aliases.target_user_id')
        .select(['aliases.id', 'aliases.address', 'aliases.target_user_id', 'users.address as target_address'])
        .orderBy('aliases.address')
        .execute();
      return rows.map((r) => ({ id: r.id, address: r.address, targetUserId: r.target_user_id, targetAddress: r.target_address }));
    },
    async remove(address: string): Promise<boolean> {
      const result = await db.deleteFrom('aliases').where('address', '=', address).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
  };
}
export type AliasRepository = ReturnType<typeof createAliasRepository>;

/**
 * Who receives mail for an exact address: an enabled user or the user an alias points to.
 * One indexed query; used on the SMTP RCPT hot path and again by the inbound worker.
 */
export async function findRecipientUserId(db: DbOrTx, address: string): Promise<number | null> {
  const row = await db
    .selectFrom('users')
    .select('id')
    .where('address', '=', address)
    .where('disabled', '=', false)
    .unionAll(
      db
        .selectFrom('aliases')
        .innerJoin('users', 'users.id', 'aliases.target_user_id')
        .select('users.id')
        .where('aliases.address', '=', address)
        .where('users.disabled', '=', false),
    )
    .executeTakeFirst();
  return row?.id ?? null;
}
