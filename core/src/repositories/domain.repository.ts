import { sql } from 'kysely';
import type { DbOrTx } from '../db/client.js';
import type { DomainTrustPolicyJson } from '../db/schema.js';

/** How strictly inbound checks apply to a domain's mail (core/src/mail/inbound-auth.ts); the defaults are the strictest. */
export interface DomainTrustPolicy {
  /** A DMARC `p=reject` failure to this domain: refused (550), filed in Junk, or delivered. */
  dmarcReject: 'enforce' | 'quarantine' | 'ignore';
  /** Mail claiming to be From this domain, from outside, that does not pass: refused, filed in Junk, or delivered. */
  ownDomainSpoofing: 'reject' | 'quarantine' | 'ignore';
  /** Greylisting of mail to this domain on the MX (core/src/mail/spam/greylist.ts). */
  greylisting: 'on' | 'off';
}

export const DEFAULT_TRUST_POLICY: DomainTrustPolicy = { dmarcReject: 'enforce', ownDomainSpoofing: 'reject', greylisting: 'on' };

function toTrustPolicy(json: DomainTrustPolicyJson | null | undefined): DomainTrustPolicy {
  return { ...DEFAULT_TRUST_POLICY, ...json };
}

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
    /** The trust policy of each of these domains that exists (names in lower case). */
    async trustPolicies(names: readonly string[]): Promise<Map<string, DomainTrustPolicy>> {
      if (names.length === 0) return new Map();
      const rows = await db.selectFrom('domains').select(['name', 'trust_policy']).where('name', 'in', [...names]).execute();
      return new Map(rows.map((r) => [r.name, toTrustPolicy(r.trust_policy)]));
    },
    /** Changes some keys of a domain's trust policy; returns the whole policy, or null when there is no such domain. */
    async updateTrustPolicy(domainId: number, change: Partial<DomainTrustPolicy>): Promise<DomainTrustPolicy | null> {
      const row = await db
        .updateTable('domains')
        .set((eb) => ({ trust_policy: sql<string>`${eb.ref('trust_policy')} || ${JSON.stringify(change)}::jsonb` }))
        .where('id', '=', domainId)
        .returning('trust_policy')
        .executeTakeFirst();
      return row ? toTrustPolicy(row.trust_policy) : null;
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
