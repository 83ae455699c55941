import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import type { Db, DbOrTx } from '../db/client.js';
import { AppError } from '../errors.js';
import { normalizeDomain } from '../mail/address.js';
import { createDkimKeyRepository } from '../repositories/dkim-key.repository.js';
import { createDomainRepository, type DomainRow } from '../repositories/domain.repository.js';

/**
 * DKIM keys per domain (stored by core/src/repositories/dkim-key.repository.ts). Keys are
 * RSA-2048; a domain has at most one active key (the one outgoing mail is signed with). Rotation
 * adds a new active key and keeps the old ones, inactive, so their DNS records can stay published
 * while signed mail is still in flight. Only `activeDkimKey` returns private material; everything
 * else returns the public half.
 */

const generateKeyPairAsync = promisify(generateKeyPair);

export interface DkimKeyInfo {
  domain: string;
  selector: string;
  publicKeyB64: string;
  active: boolean;
  createdAt: Date;
}

/** What the signer needs. */
export interface DkimSigningKey {
  domain: string;
  selector: string;
  privateKeyPem: string;
}

const selectorPattern = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** The TXT record value to publish at `<selector>._domainkey.<domain>`. */
export function dkimTxtRecord(publicKeyB64: string): string {
  return `v=DKIM1; k=rsa; p=${publicKeyB64}`;
}

/** A fresh RSA-2048 pair: PKCS#8 PEM private key, base64 DER SubjectPublicKeyInfo (DKIM p=). */
export async function generateDkimKeyPair(): Promise<{ privateKeyPem: string; publicKeyB64: string }> {
  const { privateKey, publicKey } = await generateKeyPairAsync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyB64: publicKey.toString('base64') };
}

function defaultSelectorBase(now: Date): string {
  return `my${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
}

async function requireDomain(db: DbOrTx, domainName: string, lock: boolean): Promise<DomainRow> {
  const name = normalizeDomain(domainName);
  const domain = await createDomainRepository(db).findByName(name, { lock });
  if (!domain) throw new AppError('domain.not_found', `domain ${name} is not served here`, 404);
  return domain;
}

/** `selector` if given (must be unused), else `myYYYYMM`, then `myYYYYMM-2`, `-3`… until unused. */
async function pickSelector(db: DbOrTx, domainId: number, wanted: string | undefined): Promise<string> {
  const taken = new Set(await createDkimKeyRepository(db).selectors(domainId));
  if (wanted !== undefined) {
    const selector = wanted.trim().toLowerCase();
    if (!selectorPattern.test(selector)) throw new AppError('dkim.selector_invalid', `"${wanted}" is not a valid DKIM selector (letters, digits and "-")`);
    if (taken.has(selector)) throw new AppError('dkim.selector_exists', `selector ${selector} is already used for this domain`, 409);
    return selector;
  }
  const base = defaultSelectorBase(new Date());
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
}

async function insertKey(db: DbOrTx, domain: DomainRow, selector: string, pair: { privateKeyPem: string; publicKeyB64: string }, active: boolean): Promise<DkimKeyInfo> {
  const row = await createDkimKeyRepository(db).insert(domain.id, { selector, ...pair, active });
  return { domain: domain.name, ...row };
}

/**
 * Adds a key for `domainName`; it becomes the active one when the domain has none yet (a new
 * domain), otherwise it is stored inactive (use rotateDkimKey to switch). Works inside a
 * transaction (accounts.addDomain generates the first key in the one that creates the domain).
 */
export async function generateDkimKey(db: DbOrTx, domainName: string, selector?: string): Promise<DkimKeyInfo> {
  const pair = await generateDkimKeyPair();
  const domain = await requireDomain(db, domainName, false);
  const hasActive = await createDkimKeyRepository(db).hasActive(domain.id);
  return insertKey(db, domain, await pickSelector(db, domain.id, selector), pair, !hasActive);
}

/** A new active key for the domain; the previous keys stay, inactive. */
export async function rotateDkimKey(db: Db, domainName: string, selector?: string): Promise<DkimKeyInfo> {
  const pair = await generateDkimKeyPair(); // outside the transaction: it takes a while
  return db.transaction().execute(async (tx) => {
    const domain = await requireDomain(tx, domainName, true); // serializes rotations of one domain
    const chosen = await pickSelector(tx, domain.id, selector);
    await createDkimKeyRepository(tx).deactivate(domain.id);
    return insertKey(tx, domain, chosen, pair, true);
  });
}

/** The key to sign the domain's mail with, or null when it has none. The only private-key reader. */
export async function activeDkimKey(db: DbOrTx, domainName: string): Promise<DkimSigningKey | null> {
  const name = normalizeDomain(domainName);
  const key = await createDkimKeyRepository(db).findActiveSigningKey(name);
  return key ? { domain: name, ...key } : null;
}

/** Every key of the domain (public halves), newest first. */
export async function listDkimKeys(db: DbOrTx, domainName: string): Promise<DkimKeyInfo[]> {
  const name = normalizeDomain(domainName);
  return (await createDkimKeyRepository(db).list(name)).map((k) => ({ domain: name, ...k }));
}

/** The public half of the domain's active key (what DNS must publish), or null. */
export async function activeDkimPublicKey(db: DbOrTx, domainName: string): Promise<DkimKeyInfo | null> {
  return (await listDkimKeys(db, domainName)).find((k) => k.active) ?? null;
}
