import type { DbOrTx } from '../db/client.js';

export interface DomainRow {
  id: number;
  name: string;
  createdAt: Date;
}

function toDomain(row: { id: number; name: string; created_at: Date }): DomainRow {
  return { id: row.id, name: row.name, createdAt: row.created_at };
}

export function createDomainRepository(db: DbOrTx) {
  return {
    async insert(name: string): Promise<DomainRow> {
      const row = await db.insertInto('domains').values({ name }).returningAll().executeTakeFirstOrThrow();
      return toDomain(row);
    },
    /** `lock`: hold the row (FOR UPDATE) until the caller's transaction ends, serializing changes to the domain. */
    async findByName(name: string, options: { lock?: boolean } = {}): Promise<DomainRow | null> {
      let query = db.selectFrom('domains').selectAll().where('name', '=', name);
      if (options.lock) query = query.forUpdate();
      const row = await query.executeTakeFirst();
      return row ? toDomain(row) : null;
    },
    async list(): Promise<DomainRow[]> {
      const rows = await db.selectFrom('domains').selectAll().orderBy('name').execute();
      return rows.map(toDomain);
    },
    async countAddresses(domainId: number): Promise<number> {
      const users = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).where('domain_id', '=', domainId).executeTakeFirstOrThrow();
      return users.n;
    },
    async remove(domainId: number): Promise<void> {
      await db.deleteFrom('domains').where('id', '=', domainId).execute();
    },
  };
}
export type DomainRepository = ReturnType<typeof createDomainRepository>;

/** Who administers which domain (table domain_admins): the grants of the domain-admin role. */
export function createDomainAdminRepository(db: DbOrTx) {
  return {
    /** The domains `userId` administers, by name. */
    async listDomains(userId: number): Promise<DomainRow[]> {
      const rows = await db
        .selectFrom('domains')
        .innerJoin('domain_admins', 'domain_admins.domain_id', 'domains.id')
        .select(['domains.id', 'domains.name', 'domains.created_at'])
        .where('domain_admins.user_id', '=', userId)
        .orderBy('domains.name')
        .execute();
      return rows.map(toDomain);
    },
    /** Grants `userId` the management of `domainId`; false when it was already granted. */
    async grant(userId: number, domainId: number): Promise<boolean> {
      const row = await db.insertInto('domain_admins').values({ user_id: userId, domain_id: domainId }).onConflict((oc) => oc.doNothing()).returning('user_id').executeTakeFirst();
      return row !== undefined;
    },
    /** Revokes a grant; false when there was none. */
    async revoke(userId: number, domainId: number): Promise<boolean> {
      const result = await db.deleteFrom('domain_admins').where('user_id', '=', userId).where('domain_id', '=', domainId).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
  };
}
export type DomainAdminRepository = ReturnType<typeof createDomainAdminRepository>;
