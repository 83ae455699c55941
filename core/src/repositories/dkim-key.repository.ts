import type { DbOrTx } from '../db/client.js';

/**
 * DKIM keys per domain (table dkim_keys). Only `findActiveSigningKey` returns private material;
 * everything else returns the public half.
 */

export interface DkimKeyRow {
  selector: string;
  publicKeyB64: string;
  active: boolean;
  createdAt: Date;
}

export function createDkimKeyRepository(db: DbOrTx) {
  return {
    async insert(domainId: number, key: { selector: string; privateKeyPem: string; publicKeyB64: string; active: boolean }): Promise<DkimKeyRow> {
      const row = await db
        .insertInto('dkim_keys')
        .values({ domain_id: domainId, selector: key.selector, private_key_pem: key.privateKeyPem, public_key_b64: key.publicKeyB64, active: key.active })
        .returning(['selector', 'public_key_b64', 'active', 'created_at'])
        .executeTakeFirstOrThrow();
      return { selector: row.selector, publicKeyB64: row.public_key_b64, active: row.active, createdAt: row.created_at };
    },
    /** The selectors the domain's keys use (active or not). */
    async selectors(domainId: number): Promise<string[]> {
      const rows = await db.selectFrom('dkim_keys').select('selector').where('domain_id', '=', domainId).execute();
      return rows.map((r) => r.selector);
    },
    async hasActive(domainId: number): Promise<boolean> {
      return (await db.selectFrom('dkim_keys').select('id').where('domain_id', '=', domainId).where('active', '=', true).executeTakeFirst()) !== undefined;
    },
    /** Makes the domain's active key inactive (before another becomes active). */
    async deactivate(domainId: number): Promise<void> {
      await db.updateTable('dkim_keys').set({ active: false }).where('domain_id', '=', domainId).where('active', '=', true).execute();
    },
    /** The selector and private key of the domain's active key (by domain name), or null. */
    async findActiveSigningKey(domainName: string): Promise<{ selector: string; privateKeyPem: string } | null> {
      const row = await db
        .selectFrom('dkim_keys')
        .innerJoin('domains', 'domains.id', 'dkim_keys.domain_id')
        .select(['dkim_keys.selector', 'dkim_keys.private_key_pem'])
        .where('domains.name', '=', domainName)
        .where('dkim_keys.active', '=', true)
        .executeTakeFirst();
      return row ? { selector: row.selector, privateKeyPem: row.private_key_pem } : null;
    },
    /** Every key of the domain (by domain name; public halves), newest first. */
    async list(domainName: string): Promise<DkimKeyRow[]> {
      const rows = await db
        .selectFrom('dkim_keys')
        .innerJoin('domains', 'domains.id', 'dkim_keys.domain_id')
        .select(['dkim_keys.selector', 'dkim_keys.public_key_b64', 'dkim_keys.active', 'dkim_keys.created_at'])
        .where('domains.name', '=', domainName)
        .orderBy('dkim_keys.id', 'desc')
        .execute();
      return rows.map((r) => ({ selector: r.selector, publicKeyB64: r.public_key_b64, active: r.active, createdAt: r.created_at }));
    },
  };
}
export type DkimKeyRepository = ReturnType<typeof createDkimKeyRepository>;
