import type { DbOrTx } from '../db/client.js';
import { createDomainRepository } from '../repositories/domain.repository.js';
import { createAliasRepository, createUserRepository } from '../repositories/user.repository.js';
import { catchAllAddress, parseAddress, stripPlusTag } from './address.js';

/**
 * The routing rules for addresses: which local user, if any, receives mail sent to an address
 * (one rule for the MX's RCPT TO, the inbound worker and sending), and which addresses a user
 * may send as (submission and the API).
 */

export type RecipientVerdict =
  | { kind: 'local'; userId: number; address: string }
  | { kind: 'unknown'; address: string }
  | { kind: 'relay'; address: string }
  | { kind: 'invalid' };

/**
 * Who receives mail for `input`: exact user or alias first, then `user+tag@` as `user@`, then the
 * domain's catch-all alias (`@domain`), then postmaster. A disabled target never receives mail.
 * `relay` means the domain is not ours (the caller must refuse: we never relay for strangers).
 */
export async function resolveRecipient(db: DbOrTx, input: string): Promise<RecipientVerdict> {
  const parsed = parseAddress(input);
  if (!parsed) return { kind: 'invalid' };
  const domain = await createDomainRepository(db).findByName(parsed.domain);
  if (!domain) return { kind: 'relay', address: parsed.address };
  const users = createUserRepository(db);
  const exact = await users.findRecipientUserId(parsed.address);
  if (exact !== null) return { kind: 'local', userId: exact, address: parsed.address };
  const untagged = stripPlusTag(parsed);
  if (untagged) {
    const base = await users.findRecipientUserId(untagged.address);
    if (base !== null) return { kind: 'local', userId: base, address: untagged.address };
  }
  // Catch-all: any other address of the domain, when the domain has an `@domain` alias.
  const catchAll = await users.findRecipientUserId(catchAllAddress(parsed.domain));
  if (catchAll !== null) return { kind: 'local', userId: catchAll, address: parsed.address };
  // RFC 5321 4.5.1: every domain must accept postmaster. Without an explicit user or alias,
  // it reaches the first administrator.
  if (parsed.local === 'postmaster') {
    const admin = await users.firstAdminId();
    if (admin !== null) return { kind: 'local', userId: admin, address: parsed.address };
  }
  return { kind: 'unknown', address: parsed.address };
}

/**
 * May this user send as `address`? Their own address, or one an admin allowed them: an alias
 * that delivers to them, or any address of a domain whose catch-all (`@domain`) delivers to
 * them, when that alias has `allow_send`. Receiving mail for an address alone never allows
 * sending as it (a domain-admin could otherwise point a catch-all at themselves).
 */
export async function mayUseSenderAddress(db: DbOrTx, userId: number, address: string): Promise<boolean> {
  const parsed = parseAddress(address);
  if (!parsed) return false;
  const user = await createUserRepository(db).get(userId);
  if (user?.address === parsed.address) return true;
  return createAliasRepository(db).anyAllowsSending(userId, [parsed.address, catchAllAddress(parsed.domain)]);
}
