import type { DbOrTx } from '../db/client.js';

/**
 * DKIM keys per domain (table dkim_keys). The private key is stored as the caller gives it
 * (sealed: core/src/accounts/dkim.service.ts seals and opens it); only `findActiveSigningKey` and
 * `listUnsealed` return that column, everything else returns the public half.
 */

export interface DkimKeyRow {
  selector: string;
  publicKeyB64: string;
  active: boolean;
  createdAt: Date;
}

/** A key's private half as stored (sealed, or a plain PEM from before sealing). */
export interface StoredDkimKey {
  id: number;
  domain: string;
  selector: string;
  storedPrivateKey: string;
}

export function createDkimKeyRepository(db: DbOrTx) {
  return {
    async insert(domainId: number, key: { selector: string; storedPrivateKey: string; publicKeyB64: string; active: boolean }): Promise<DkimKeyRow> {
      const row = await db
        .insertInto('dkim_keys')
        .values({ domain_id: domainId, selector: key.selector, private_key_pem: key.storedPrivateKey, public_key_b64: key.publicKeyB64, active: key.active })
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
    /** The id, selector and stored private key of the domain's active key (by domain name), or null. */
    async findActiveSigningKey(domainName: string): Promise<StoredDkimKey | null> {
      const row = await db
        .selectFrom('dkim_keys')
        .innerJoin('domains', 'domains.id', 'dkim_keys.domain_id')
        .select(['dkim_keys.id', 'domains.name', 'dkim_keys.selector', 'dkim_keys.private_key_pem'])
        .where('domains.name', '=', domainName)
        .where('dkim_keys.active', '=', true)
        .executeTakeFirst();
      return row ? { id: row.id, domain: row.name, selector: row.selector, storedPrivateKey: row.private_key_pem } : null;
    },
    /** Every key whose private key is still a plain PEM (stored before sealing existed). */
    async listUnsealed(): Promise<StoredDkimKey[]> {
      const rows = await db
        .selectFrom('dkim_keys')
        .innerJoin('domains', 'domains.id', 'dkim_keys.domain_id')
        .select(['dkim_keys.id', 'domains.name', 'dkim_keys.selector', 'dkim_keys.private_key_pem'])
        .where('dkim_keys.private_key_pem', 'like', '-----BEGIN%')
        .orderBy('dkim_keys.id')
        .execute();
      return rows.map((r) => ({ id: r.id, domain: r.name, selector: r.selector, storedPrivateKey: r.private_key_pem }));
    },
    /** Replaces a stored private key if it is still `from` (two processes sealing it at once: one wins); true when replaced. */
    async replaceStoredKey(id: number, from: string, to: string): Promise<boolean> {
      const result = await db.updateTable('dkim_keys').set({ private_key_pem: to }).where('id', '=', id).where('private_key_pem', '=', from).executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
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
