import type { DbOrTx } from '../db/client.js';
import type { Role } from '../db/schema.js';
import { AppError } from '../errors.js';
import { normalizeDomain } from '../mail/address.js';
import { createDomainAdminRepository, createDomainRepository, type DomainRow } from '../repositories/domain.repository.js';
import { createUserRepository, type AdminUserView } from '../repositories/user.repository.js';

/**
 * Who may administer what. The one place for the rule:
 * - `admin`: every domain, user, alias, domain-admin grant and the audit log;
 * - `domain-admin`: only the users and aliases of the domains listed for them in domain_admins.
 *   Anything outside those domains looks absent (404). They cannot add or remove domains, grant
 *   the admin role, grant domain-admin rights, let an alias send, or read the audit log (403).
 *   They may change only users whose every scope is within their own: not an admin, and not a
 *   domain-admin of any domain they do not manage (403), or taking over that user would reach
 *   beyond their domains;
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
  return actor.role === 'admin' ? createDomainRepository(db).list() : createDomainAdminRepository(db).listDomains(actor.userId);
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

/** Users visible to `actor`, optionally one domain's or one user (by id). */
export async function listUsersVisibleTo(db: DbOrTx, actor: AdminActor, filter: { domainName?: string; userId?: number } = {}): Promise<AdminUserView[]> {
  if (actor.role === 'user') return [];
  return createUserRepository(db).listAdminViews({
    managedBy: actor.role === 'admin' ? undefined : actor.userId,
    domainName: filter.domainName === undefined ? undefined : normalizeDomain(filter.domainName),
    userId: filter.userId,
  });
}

/**
 * One user `actor` may change, or 404 user.not_found (also for users outside their domains), or
 * 403 when the user's rights reach beyond the actor's: an administrator, or a domain-admin of a
 * domain the actor does not manage, even when the user's own address is in the actor's domain.
 */
export async function requireManagedUser(db: DbOrTx, actor: AdminActor, userId: number): Promise<AdminUserView> {
  const [user] = await listUsersVisibleTo(db, actor, { userId });
  if (!user) throw new AppError('user.not_found', `no user with id ${userId}`, 404);
  if (actor.role === 'admin') return user;
  if (user.role === 'admin') throw forbidden('only server administrators may change an administrator');
  const managed = new Set((await domainsVisibleTo(db, actor)).map((d) => d.id));
  const theirs = await createDomainAdminRepository(db).listDomains(user.id);
  if (theirs.some((d) => !managed.has(d.id))) throw forbidden('this user administers a domain you do not manage; only server administrators may change them');
  return user;
}
