import type { DbOrTx } from '../db/client.js';
import type { Role } from '../db/schema.js';
import { AppError } from '../errors.js';
import { normalizeDomain } from '../mail/address.js';
import type { DomainRow } from '../repositories/domain.repository.js';

/**
 * Who may administer what. The one place for the rule:
 * - `admin`: every domain, user, alias, domain-admin grant and the audit log;
 * - `domain-admin`: only the users and aliases of the domains listed for them in domain_admins.
 *   Anything outside those domains looks absent (404). They cannot add or remove domains, grant
 *   the admin role, touch an admin account, grant domain-admin rights or read the audit log (403);
 * - `user`: nothing (403 auth.forbidden on every admin route).
 */

export interface AdminActor {
  userId: number;
  address: string;
  role: Role;
}

export function forbidden(message = 'you are not allowed to do this'): AppError {
  return new AppError('auth.forbidden', message, 403);
}

/** Any admin area at all: admins and domain-admins. */
export function requireAdminArea(actor: AdminActor): void {
  if (actor.role !== 'admin' && actor.role !== 'domain-admin') throw forbidden('administrators only');
}

/** Server-wide actions: domains, domain-admin grants, the audit log, the admin role. */
export function requireFullAdmin(actor: AdminActor): void {
  if (actor.role !== 'admin') throw forbidden('server administrators only');
}

/** The domains `actor` may manage (all of them for an admin, none for a plain user). */
export async function domainsVisibleTo(db: DbOrTx, actor: AdminActor): Promise<DomainRow[]> {
  if (actor.role === 'user') return [];
  let query = db.selectFrom('domains').select(['domains.id', 'domains.name', 'domains.created_at']).orderBy('domains.name');
  if (actor.role !== 'admin') {
    query = query.innerJoin('domain_admins', 'domain_admins.domain_id', 'domains.id').where('domain_admins.user_id', '=', actor.userId);
  }
  const rows = await query.execute();
  return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at }));
}

/**
 * Whether `actor` may manage users and aliases of `domainName`. An admin may manage any name
 * (an unknown domain then fails with domain.not_found where it is used).
 */
export async function canManageDomain(db: DbOrTx, actor: AdminActor, domainName: string): Promise<boolean> {
  if (actor.role === 'admin') return true;
  if (actor.role !== 'domain-admin') return false;
  const name = normalizeDomain(domainName);
  return (await domainsVisibleTo(db, actor)).some((d) => d.name === name);
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
  totpEnabled: boolean;
  createdAt: Date;
}

/** Users visible to `actor`, optionally one domain's or one user (by id). */
export async function listUsersVisibleTo(db: DbOrTx, actor: AdminActor, filter: { domainName?: string; userId?: number } = {}): Promise<AdminUserView[]> {
  if (actor.role === 'user') return [];
  let query = db
    .selectFrom('users')
    .innerJoin('domains', 'domains.id', 'users.domain_id')
    .select(['users.id', 'users.address', 'domains.name as domain', 'users.role', 'users.display_name', 'users.disabled', 'users.quota_bytes', 'users.totp_enabled', 'users.created_at'])
    .orderBy('users.address');
  if (actor.role !== 'admin') {
    query = query.where('users.domain_id', 'in', db.selectFrom('domain_admins').select('domain_id').where('domain_admins.user_id', '=', actor.userId));
  }
  if (filter.domainName !== undefined) query = query.where('domains.name', '=', normalizeDomain(filter.domainName));
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
    totpEnabled: r.totp_enabled,
    createdAt: r.created_at,
  }));
}

/** One user `actor` may manage, or 404 user.not_found (also for users outside their domains). */
export async function requireManagedUser(db: DbOrTx, actor: AdminActor, userId: number): Promise<AdminUserView> {
  const [user] = await listUsersVisibleTo(db, actor, { userId });
  if (!user) throw new AppError('user.not_found', `no user with id ${userId}`, 404);
  // A domain-admin may not act on an administrator account even inside their own domain.
  if (actor.role !== 'admin' && user.role === 'admin') throw forbidden('only server administrators may change an administrator');
  return user;
}

/** Role, disabled flag and quota (null: no quota). Password and deletion go through the accounts service. */
export async function updateUserSettings(db: DbOrTx, userId: number, changes: { role?: Role; disabled?: boolean; quotaBytes?: number | null }): Promise<void> {
  const set: { role?: Role; disabled?: boolean; quota_bytes?: number | null; updated_at: Date } = { updated_at: new Date() };
  if (changes.role !== undefined) set.role = changes.role;
  if (changes.disabled !== undefined) set.disabled = changes.disabled;
  if (changes.quotaBytes !== undefined) set.quota_bytes = changes.quotaBytes;
  await db.updateTable('users').set(set).where('id', '=', userId).execute();
}

/** Grants `userId` the management of `domainId`; false when it was already granted. */
export async function grantDomainAdmin(db: DbOrTx, userId: number, domainId: number): Promise<boolean> {
  const row = await db.insertInto('domain_admins').values({ user_id: userId, domain_id: domainId }).onConflict((oc) => oc.doNothing()).returning('user_id').executeTakeFirst();
  return row !== undefined;
}

/** Revokes a grant; false when there was none. */
export async function revokeDomainAdmin(db: DbOrTx, userId: number, domainId: number): Promise<boolean> {
  const result = await db.deleteFrom('domain_admins').where('user_id', '=', userId).where('domain_id', '=', domainId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
