import { sql } from 'kysely';
import { type DbOrTx, PREPARED } from '../db/client.js';
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

/** A user as sign-in sees it (core/src/auth/authenticate.ts only). */
export interface SignInCredentials {
  id: number;
  address: string;
  role: Role;
  passwordHash: string;
  disabled: boolean;
  totpEnabled: boolean;
}

/** What the admin API shows of a user: never the password hash or the TOTP secret. */
export interface AdminUserView {
  id: number;
  address: string;
  domain: string;
  role: Role;
  displayName: string | null;
  disabled: boolean;
  quotaBytes: number | null;
  /** Bytes of mail stored (core/src/mail/quota.ts). */
  usedBytes: number;
  totpEnabled: boolean;
  createdAt: Date;
}

/** The user's display name (null: none) and plain-text signature ('' for none). */
export interface UserProfile {
  displayName: string | null;
  signature: string;
}

/** A user's storage: bytes used and their quota (null: none). */
export interface QuotaUsage {
  usedBytes: number;
  quotaBytes: number | null;
}

const publicColumns = ['id', 'domain_id', 'address', 'role', 'display_name', 'disabled', 'created_at'] as const;

function toUser(row: { id: number; domain_id: number; address: string; role: Role; display_name: string | null; disabled: boolean; created_at: Date }): UserRow {
  return { id: row.id, domainId: row.domain_id, address: row.address, role: row.role, displayName: row.display_name, disabled: row.disabled, createdAt: row.created_at };
}

/** See `routingFacts`: what the routing rules are decided from. */
export interface RoutingFacts {
  domains: Set<string>;
  recipients: Map<string, number>;
  firstAdmin: number | null;
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
    /** What the user shows as sender: their display name (the From name) and compose signature. */
    async profile(userId: number): Promise<UserProfile> {
      const row = await db.selectFrom('users').select(['display_name', 'signature']).where('id', '=', userId).executeTakeFirstOrThrow();
      return { displayName: row.display_name, signature: row.signature };
    },
    async updateProfile(userId: number, changes: Partial<UserProfile>): Promise<void> {
      const set = { ...(changes.displayName !== undefined && { display_name: changes.displayName }), ...(changes.signature !== undefined && { signature: changes.signature }) };
      if (Object.keys(set).length > 0) await db.updateTable('users').set({ ...set, updated_at: sql`now()` }).where('id', '=', userId).execute();
    },
    async get(userId: number): Promise<UserRow | null> {
      const row = await db.selectFrom('users').select(publicColumns).where('id', '=', userId).executeTakeFirst();
      return row ? toUser(row) : null;
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
    /** What sign-in checks: the account password hash, whether the account is disabled, whether TOTP is on. */
    async findSignInCredentials(address: string): Promise<SignInCredentials | null> {
      const row = await db.selectFrom('users').select(['id', 'address', 'role', 'password_hash', 'disabled', 'totp_enabled']).where('address', '=', address).executeTakeFirst();
      return row ? { id: row.id, address: row.address, role: row.role, passwordHash: row.password_hash, disabled: row.disabled, totpEnabled: row.totp_enabled } : null;
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
    /**
     * Users with their domain, by address; optionally only those of the domains `managedBy`
     * administers (domain_admins), of one domain, or one user.
     */
    async listAdminViews(filter: { managedBy?: number; domainName?: string; userId?: number } = {}): Promise<AdminUserView[]> {
      let query = db
        .selectFrom('users')
        .innerJoin('domains', 'domains.id', 'users.domain_id')
        .select(['users.id', 'users.address', 'domains.name as domain', 'users.role', 'users.display_name', 'users.disabled', 'users.quota_bytes', 'users.used_bytes', 'users.totp_enabled', 'users.created_at'])
        .orderBy('users.address');
      if (filter.managedBy !== undefined) {
        query = query.where('users.domain_id', 'in', db.selectFrom('domain_admins').select('domain_id').where('domain_admins.user_id', '=', filter.managedBy));
      }
      if (filter.domainName !== undefined) query = query.where('domains.name', '=', filter.domainName);
      if (filter.userId !== undefined) query = query.where('users.id', '=', filter.userId);
      const rows = await query.execute();
      return rows.map((r) => ({
        id: r.id,
        address: r.address,
        domain: r.domain,
        role: r.role,
        displayName: r.display_name,
        disabled: r.disabled,
        quotaBytes: r.quota_bytes,
        usedBytes: r.used_bytes,
        totpEnabled: r.totp_enabled,
        createdAt: r.created_at,
      }));
    },
    /** Role, disabled flag and quota (null: no quota); what is not given stays. */
    async updateSettings(userId: number, changes: { role?: Role; disabled?: boolean; quotaBytes?: number | null }): Promise<void> {
      const set: { role?: Role; disabled?: boolean; quota_bytes?: number | null; updated_at: Date } = { updated_at: new Date() };
      if (changes.role !== undefined) set.role = changes.role;
      if (changes.disabled !== undefined) set.disabled = changes.disabled;
      if (changes.quotaBytes !== undefined) set.quota_bytes = changes.quotaBytes;
      await db.updateTable('users').set(set).where('id', '=', userId).execute();
    },
    /** Bytes used and the quota; null when there is no such user. */
    async usage(userId: number): Promise<QuotaUsage | null> {
      const row = await db.selectFrom('users').select(['used_bytes', 'quota_bytes']).where('id', '=', userId).executeTakeFirst();
      return row ? { usedBytes: row.used_bytes, quotaBytes: row.quota_bytes } : null;
    },
    /**
     * What recipient routing needs for a batch of addresses, in ONE indexed query (the SMTP RCPT
     * hot path; the inbound worker asks once for all the recipients of the jobs it runs together):
     * which of `domains` are ours, the enabled user each of `addresses` delivers to (a user's own
     * address, else the user an alias points to), and, when `withFirstAdmin`, the first (oldest)
     * enabled administrator. Addresses that reach nobody are absent.
     */
    async routingFacts(domains: readonly string[], addresses: readonly string[], withFirstAdmin: boolean): Promise<RoutingFacts> {
      const { rows } = await sql<{ kind: 'domain' | 'user' | 'alias' | 'admin'; key: string; user_id: string | number | null }>`${PREPARED}
        SELECT 'domain' AS kind, name AS key, NULL::bigint AS user_id FROM domains WHERE name = ANY(${[...domains]}::text[])
        UNION ALL
        SELECT 'user', address, id FROM users WHERE address = ANY(${[...addresses]}::text[]) AND NOT disabled
        UNION ALL
        SELECT 'alias', a.address, u.id FROM aliases a JOIN users u ON u.id = a.target_user_id WHERE a.address = ANY(${[...addresses]}::text[]) AND NOT u.disabled
        UNION ALL
        (SELECT 'admin', '', id FROM users WHERE ${withFirstAdmin} AND role = 'admin' AND NOT disabled ORDER BY id LIMIT 1)
      `.execute(db);
      const facts: RoutingFacts = { domains: new Set(), recipients: new Map(), firstAdmin: null };
      for (const r of rows) {
        if (r.kind === 'domain') facts.domains.add(r.key);
        else if (r.kind === 'admin') facts.firstAdmin = Number(r.user_id);
        // A user's own address wins over an alias of the same address.
        else if (r.kind === 'user' || !facts.recipients.has(r.key)) facts.recipients.set(r.key, Number(r.user_id));
      }
      return facts;
    },
  };
}
export type UserRepository = ReturnType<typeof createUserRepository>;

export interface AliasRow {
  id: number;
  address: string;
  targetUserId: number;
  targetAddress: string;
  /** The target may also send as it (aliases grant receiving only, unless an admin allows this). */
  allowSend: boolean;
}

export function createAliasRepository(db: DbOrTx) {
  return {
    async insert(values: { domainId: number; address: string; targetUserId: number; allowSend: boolean }): Promise<void> {
      await db.insertInto('aliases').values({ domain_id: values.domainId, address: values.address, target_user_id: values.targetUserId, allow_send: values.allowSend }).execute();
    },
    async exists(address: string): Promise<boolean> {
      return (await db.selectFrom('aliases').select('id').where('address', '=', address).executeTakeFirst()) !== undefined;
    },
    async list(): Promise<AliasRow[]> {
      const rows = await db
        .selectFrom('aliases')
        .innerJoin('users', 'users.id', 'aliases.target_user_id')
        .select(['aliases.id', 'aliases.address', 'aliases.target_user_id', 'aliases.allow_send', 'users.address as target_address'])
        .orderBy('aliases.address')
        .execute();
      return rows.map((r) => ({ id: r.id, address: r.address, targetUserId: r.target_user_id, targetAddress: r.target_address, allowSend: r.allow_send }));
    },
    /** Whether any of these alias addresses (an exact alias, a catch-all `@domain`) delivers to this user and lets them send as it. */
    async anyAllowsSending(userId: number, addresses: readonly string[]): Promise<boolean> {
      if (addresses.length === 0) return false;
      const row = await db.selectFrom('aliases').select('id').where('target_user_id', '=', userId).where('allow_send', '=', true).where('address', 'in', [...addresses]).executeTakeFirst();
      return row !== undefined;
    },
    async remove(address: string): Promise<boolean> {
      const result = await db.deleteFrom('aliases').where('address', '=', address).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
  };
}
export type AliasRepository = ReturnType<typeof createAliasRepository>;
