import type { DbOrTx } from '../db/client.js';
import { createAliasRepository, createUserRepository } from '../repositories/user.repository.js';
import { catchAllAddress, parseAddress, stripPlusTag, type ParsedAddress } from './address.js';

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
  return (await resolveRecipients(db, [input]))[0]!;
}

/**
 * `resolveRecipient` for many addresses in ONE query, whatever their number (the inbound worker
 * resolves the recipients of all the jobs it runs together at once). Verdicts line up with
 * `inputs`. Nothing is cached: each call reads the current users, aliases and domains.
 */
export async function resolveRecipients(db: DbOrTx, inputs: readonly string[]): Promise<RecipientVerdict[]> {
  const parsed = inputs.map((input) => parseAddress(input));
  const valid = parsed.filter((p): p is ParsedAddress => p !== null);
  if (valid.length === 0) return parsed.map(() => ({ kind: 'invalid' }));
  const candidates = valid.flatMap((p) => [p.address, stripPlusTag(p)?.address ?? [], catchAllAddress(p.domain)].flat());
  const facts = await createUserRepository(db).routingFacts(
    [...new Set(valid.map((p) => p.domain))],
    [...new Set(candidates)],
    valid.some((p) => p.local === 'postmaster'),
  );
  return parsed.map((p): RecipientVerdict => {
    if (!p) return { kind: 'invalid' };
    if (!facts.domains.has(p.domain)) return { kind: 'relay', address: p.address };
    const exact = facts.recipients.get(p.address);
    if (exact !== undefined) return { kind: 'local', userId: exact, address: p.address };
    const untagged = stripPlusTag(p);
    const base = untagged ? facts.recipients.get(untagged.address) : undefined;
    if (untagged && base !== undefined) return { kind: 'local', userId: base, address: untagged.address };
    // Catch-all: any other address of the domain, when the domain has an `@domain` alias.
    const catchAll = facts.recipients.get(catchAllAddress(p.domain));
    if (catchAll !== undefined) return { kind: 'local', userId: catchAll, address: p.address };
    // RFC 5321 4.5.1: every domain must accept postmaster. Without an explicit user or alias,
    // it reaches the first administrator.
    if (p.local === 'postmaster' && facts.firstAdmin !== null) return { kind: 'local', userId: facts.firstAdmin, address: p.address };
    return { kind: 'unknown', address: p.address };
  });
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
