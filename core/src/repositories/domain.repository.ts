import type { DbOrTx } from '../db/client.js';

export interface DomainRow {
  id: number;
  name: string;
  createdAt: Date;
}

export function createDomainRepository(db: DbOrTx) {
  return {
    async insert(name: string): Promise<DomainRow> {
      const row = await db.insertInto('domains').values({ name }).returningAll().executeTakeFirstOrThrow();
      return { id: row.id, name: row.name, createdAt: row.created_at };
    },
    async findByName(name: string): Promise<DomainRow | null> {
      const row = await db.selectFrom('domains').selectAll().where('name', '=', name).executeTakeFirst();
      return row ? { id: row.id, name: row.name, createdAt: row.created_at } : null;
    },
    async list(): Promise<DomainRow[]> {
      const rows = await db.selectFrom('domains').selectAll().orderBy('name').execute();
      return rows.map((row) => ({ id: row.id, name: row.name, createdAt: row.created_at }));
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
