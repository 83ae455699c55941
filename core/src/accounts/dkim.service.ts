import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import type { Db, DbOrTx } from '../db/client.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { normalizeDomain } from '../mail/address.js';
import type { SecretSealer } from '../repositories/credential.repository.js';
import { createDkimKeyRepository, type StoredDkimKey } from '../repositories/dkim-key.repository.js';
import { createDomainRepository, type DomainRow } from '../repositories/domain.repository.js';

/**
 * DKIM keys per domain (stored by core/src/repositories/dkim-key.repository.ts). Keys are
 * RSA-2048; a domain has at most one active key (the one outgoing mail is signed with). Rotation
 * adds a new active key and keeps the old ones, inactive, so their DNS records can stay published
 * while signed mail is still in flight. Only `activeDkimKey` returns private material; everything
 * else returns the public half.
 *
 * Private keys are sealed at rest with the secret box (SECRET_KEY, else DATA_DIR/secret.key, as
 * the TOTP seeds are), so a database dump alone cannot sign mail. A plain PEM stored before sealing
 * existed is still read, and sealed in place the first time it is (or by `mailyard dkim seal`).
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

/** What reading or writing private keys needs: the store and the sealing box. */
export interface DkimKeyDeps<D extends DbOrTx = DbOrTx> {
  db: D;
  secrets: SecretSealer;
  /** Where sealing an old plain PEM is reported (`dkim.key_sealed`). */
  log?: Logger;
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

async function insertKey(deps: DkimKeyDeps, domain: DomainRow, selector: string, pair: { privateKeyPem: string; publicKeyB64: string }, active: boolean): Promise<DkimKeyInfo> {
  const row = await createDkimKeyRepository(deps.db).insert(domain.id, { selector, storedPrivateKey: deps.secrets.seal(pair.privateKeyPem), publicKeyB64: pair.publicKeyB64, active });
  return { domain: domain.name, ...row };
}

/** A private key stored before sealing existed. */
const isPlainPem = (stored: string) => stored.startsWith('-----BEGIN');

/** Seals a plain PEM in place and logs it; false when another process just did. */
async function sealInPlace(deps: DkimKeyDeps, key: StoredDkimKey): Promise<boolean> {
  const sealed = await createDkimKeyRepository(deps.db).replaceStoredKey(key.id, key.storedPrivateKey, deps.secrets.seal(key.storedPrivateKey));
  if (sealed) deps.log?.info({ event: 'dkim.key_sealed', domain: key.domain, selector: key.selector }, `the DKIM private key of ${key.domain} (selector ${key.selector}) was stored unsealed; it is sealed now`);
  return sealed;
}

/** The PEM of a stored key; a key sealed with another sealing key is a clear error, not a crypto one. */
function openKey(secrets: SecretSealer, key: StoredDkimKey): string {
  if (isPlainPem(key.storedPrivateKey)) return key.storedPrivateKey;
  try {
    return secrets.open(key.storedPrivateKey);
  } catch {
    throw new AppError(
      'dkim.key_unreadable',
      `the DKIM private key of ${key.domain} (selector ${key.selector}) cannot be opened: it was sealed with another key. Every service must use the same SECRET_KEY, or share the same DATA_DIR/secret.key, as the one that stored it`,
      500,
    );
  }
}

/**
 * Adds a key for `domainName`; it becomes the active one when the domain has none yet (a new
 * domain), otherwise it is stored inactive (use rotateDkimKey to switch). Works inside a
 * transaction (accounts.addDomain generates the first key in the one that creates the domain).
 */
export async function generateDkimKey(deps: DkimKeyDeps, domainName: string, selector?: string): Promise<DkimKeyInfo> {
  const { db } = deps;
  const pair = await generateDkimKeyPair();
  const domain = await requireDomain(db, domainName, false);
  const hasActive = await createDkimKeyRepository(db).hasActive(domain.id);
  return insertKey(deps, domain, await pickSelector(db, domain.id, selector), pair, !hasActive);
}

/** A new active key for the domain; the previous keys stay, inactive. */
export async function rotateDkimKey(deps: DkimKeyDeps<Db>, domainName: string, selector?: string): Promise<DkimKeyInfo> {
  const pair = await generateDkimKeyPair(); // outside the transaction: it takes a while
  return deps.db.transaction().execute(async (tx) => {
    const domain = await requireDomain(tx, domainName, true); // serializes rotations of one domain
    const chosen = await pickSelector(tx, domain.id, selector);
    await createDkimKeyRepository(tx).deactivate(domain.id);
    return insertKey({ ...deps, db: tx }, domain, chosen, pair, true);
  });
}

/**
 * The key to sign the domain's mail with, or null when it has none. The only private-key reader.
 * A plain PEM from before sealing is sealed in place on the way.
 */
export async function activeDkimKey(deps: DkimKeyDeps, domainName: string): Promise<DkimSigningKey | null> {
  const name = normalizeDomain(domainName);
  const key = await createDkimKeyRepository(deps.db).findActiveSigningKey(name);
  if (!key) return null;
  const privateKeyPem = openKey(deps.secrets, key);
  if (isPlainPem(key.storedPrivateKey)) await sealInPlace(deps, key);
  return { domain: name, selector: key.selector, privateKeyPem };
}

/** Seals every private key still stored as a plain PEM (`mailyard dkim seal`); returns how many it sealed. */
export async function sealLegacyDkimKeys(deps: DkimKeyDeps): Promise<number> {
  let sealed = 0;
  for (const key of await createDkimKeyRepository(deps.db).listUnsealed()) if (await sealInPlace(deps, key)) sealed += 1;
  return sealed;
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
