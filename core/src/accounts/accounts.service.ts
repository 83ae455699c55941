import type { Db } from '../db/client.js';
import type { Role } from '../db/schema.js';
import { AppError, isUniqueViolation } from '../errors.js';
import { hashPassword, passwordProblem } from '../auth/password.js';
import { isValidDomain, normalizeDomain, requireAddress, requireAliasAddress } from '../mail/address.js';
import { createDomainRepository, type DomainRow } from '../repositories/domain.repository.js';
import { createAppPasswordRepository, type SecretSealer } from '../repositories/credential.repository.js';
import { createAliasRepository, createUserRepository, type AliasRow, type UserRow } from '../repositories/user.repository.js';
import { createMailboxRepository } from '../repositories/mailbox.repository.js';
import { generateDkimKey } from './dkim.service.js';

/**
 * Domains, users and aliases: what the CLI and the admin API manage. `secrets` seals the DKIM
 * private key a new domain gets (core/src/auth/secret-box.ts, the key SECRET_KEY or DATA_DIR/secret.key).
 */
export function createAccountsService({ db, secrets }: { db: Db; secrets: SecretSealer }) {
  const domains = createDomainRepository(db);

  async function requireDomain(name: string): Promise<DomainRow> {
    const domain = await domains.findByName(normalizeDomain(name));
    if (!domain) throw new AppError('domain.not_found', `domain ${normalizeDomain(name)} is not served here; add it first with: mailyard domain add ${normalizeDomain(name)}`, 404);
    return domain;
  }

  async function requireUser(address: string): Promise<UserRow> {
    const parsed = requireAddress(address);
    const user = await createUserRepository(db).findByAddress(parsed.address);
    if (!user) throw new AppError('user.not_found', `no user ${parsed.address}`, 404);
    return user;
  }

  /**
   * Sets a user's password and, in the same transaction, revokes all their app passwords: a
   * password change or reset (perhaps after a compromise) must also lock out the mail clients
   * set up before it. Returns how many app passwords were revoked.
   */
  async function replacePassword(userId: number, password: string): Promise<number> {
    const problem = passwordProblem(password);
    if (problem) throw new AppError('password.invalid', problem);
    const passwordHash = await hashPassword(password);
    return db.transaction().execute(async (tx) => {
      await createUserRepository(tx).setPasswordHash(userId, passwordHash);
      return createAppPasswordRepository(tx).removeAll(userId);
    });
  }

  /** An address is taken when it names a user (enabled or not) or an alias. */
  async function addressTaken(address: string): Promise<boolean> {
    return (await createUserRepository(db).findByAddress(address)) !== null || (await createAliasRepository(db).exists(address));
  }

  return {
    async addDomain(name: string): Promise<DomainRow> {
      const normalized = normalizeDomain(name);
      if (!isValidDomain(normalized)) throw new AppError('domain.invalid', `"${name}" is not a valid domain name (expected e.g. example.com)`);
      try {
        // The domain and its first DKIM key are created together.
        return await db.transaction().execute(async (tx) => {
          const domain = await createDomainRepository(tx).insert(normalized);
          await generateDkimKey({ db: tx, secrets }, domain.name);
          return domain;
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw new AppError('domain.exists', `domain ${normalized} already exists`, 409);
        throw err;
      }
    },
    listDomains: () => domains.list(),
    async removeDomain(name: string): Promise<void> {
      const domain = await requireDomain(name);
      const count = await domains.countAddresses(domain.id);
      if (count > 0) throw new AppError('domain.not_empty', `domain ${domain.name} still has ${count} user(s); remove them first`, 409);
      await domains.remove(domain.id);
    },

    async addUser(input: { address: string; password: string; role?: Role }): Promise<UserRow> {
      const parsed = requireAddress(input.address);
      const problem = passwordProblem(input.password);
      if (problem) throw new AppError('password.invalid', problem);
      if (parsed.local.includes('+')) throw new AppError('address.invalid', `"${parsed.address}": "+" is reserved for plus-addressing (user+tag@domain)`);
      const domain = await requireDomain(parsed.domain);
      if (await addressTaken(parsed.address)) throw new AppError('user.exists', `${parsed.address} already exists`, 409);
      const passwordHash = await hashPassword(input.password);
      try {
        return await db.transaction().execute(async (tx) => {
          const user = await createUserRepository(tx).insert({ domainId: domain.id, address: parsed.address, passwordHash, role: input.role ?? 'user' });
          await createMailboxRepository(tx).createDefaults(user.id);
          return user;
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw new AppError('user.exists', `${parsed.address} already exists`, 409);
        throw err;
      }
    },
    async listUsers(domainName?: string): Promise<UserRow[]> {
      const domain = domainName ? await requireDomain(domainName) : undefined;
      return createUserRepository(db).list(domain?.id);
    },
    requireUser,
    requireDomain,
    async removeUser(address: string): Promise<void> {
      const user = await requireUser(address);
      await createUserRepository(db).remove(user.id);
    },
    /** Sets the password of the user at `address` (an admin reset); returns how many app passwords were revoked. */
    async setPassword(address: string, password: string): Promise<number> {
      const problem = passwordProblem(password);
      if (problem) throw new AppError('password.invalid', problem);
      const user = await requireUser(address);
      return replacePassword(user.id, password);
    },
    /** The same for a user changing their own password; returns how many app passwords were revoked. */
    changePassword: replacePassword,

    /**
     * `aliasAddress` is `local@domain`, or `@domain` for the domain's catch-all (one per domain).
     * The target receives its mail; with `allowSend` (an admin's decision) it may also send as it.
     */
    async addAlias(aliasAddress: string, targetAddress: string, options: { allowSend?: boolean } = {}): Promise<void> {
      const alias = requireAliasAddress(aliasAddress);
      const domain = await requireDomain(alias.domain);
      const target = await requireUser(targetAddress);
      const taken = alias.catchAll ? `${domain.name} already has a catch-all alias` : `${alias.address} is already a user or an alias`;
      if (await addressTaken(alias.address)) throw new AppError('alias.exists', taken, 409);
      try {
        await createAliasRepository(db).insert({ domainId: domain.id, address: alias.address, targetUserId: target.id, allowSend: options.allowSend ?? false });
      } catch (err) {
        if (isUniqueViolation(err)) throw new AppError('alias.exists', taken, 409);
        throw err;
      }
    },
    listAliases: (): Promise<AliasRow[]> => createAliasRepository(db).list(),
    async removeAlias(aliasAddress: string): Promise<void> {
      const alias = requireAliasAddress(aliasAddress);
      if (!(await createAliasRepository(db).remove(alias.address))) throw new AppError('alias.not_found', `no alias ${alias.address}`, 404);
    },
  };
}
export type AccountsService = ReturnType<typeof createAccountsService>;
