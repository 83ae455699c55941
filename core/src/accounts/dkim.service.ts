import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import type { Db, DbOrTx } from '../db/client.js';
import { AppError } from '../errors.js';
import { normalizeDomain } from '../mail/address.js';

/**
 * DKIM keys per domain (table dkim_keys). Keys are RSA-2048; a domain has at most one active key
 * (the one outgoing mail is signed with). Rotation adds a new active key and keeps the old ones,
 * inactive, so their DNS records can stay published while signed mail is still in flight.
 * Only `activeDkimKey` returns private material; everything else returns the public half.
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

async function requireDomainId(db: DbOrTx, domainName: string, lock: boolean): Promise<{ id: number; name: string }> {
  const name = normalizeDomain(domainName);
  let query = db.selectFrom('domains').select(['id', 'name']).where('name', '=', name);
  if (lock) query = query.forUpdate();
  const row = await query.executeTakeFirst();
  if (!row) throw new AppError('domain.not_found', `domain ${name} is not served here`, 404);
  return row;
}

/** `selector` if given (must be unused), else `myYYYYMM`, then `myYYYYMM-2`, `-3`… until unused. */
async function pickSelector(db: DbOrTx, domainId: number, wanted: string | undefined): Promise<string> {
  const taken = new Set((await db.selectFrom('dkim_keys').select('selector').where('domain_id', '=', domainId).execute()).map((r) => r.selector));
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

async function insertKey(db: DbOrTx, domain: { id: number; name: string }, selector: string, pair: { privateKeyPem: string; publicKeyB64: string }, active: boolean): Promise<DkimKeyInfo> {
  const row = await db
    .insertInto('dkim_keys')
    .values({ domain_id: domain.id, selector, private_key_pem: pair.privateKeyPem, public_key_b64: pair.publicKeyB64, active })
    .returning(['selector', 'public_key_b64', 'active', 'created_at'])
    .executeTakeFirstOrThrow();
  return { domain: domain.name, selector: row.selector, publicKeyB64: row.public_key_b64, active: row.active, createdAt: row.created_at };
}

/**
 * Adds a key for `domainName`; it becomes the active one when the domain has none yet (a new
 * domain), otherwise it is stored inactive (use rotateDkimKey to switch). Works inside a
 * transaction (accounts.addDomain generates the first key in the one that creates the domain).
 */
export async function generateDkimKey(db: DbOrTx, domainName: string, selector?: string): Promise<DkimKeyInfo> {
  const pair = await generateDkimKeyPair();
  const domain = await requireDomainId(db, domainName, false);
  const hasActive = await db.selectFrom('dkim_keys').select('id').where('domain_id', '=', domain.id).where('active', '=', true).executeTakeFirst();
  return insertKey(db, domain, await pickSelector(db, domain.id, selector), pair, !hasActive);
}

/** A new active key for the domain; the previous keys stay, inactive. */
export async function rotateDkimKey(db: Db, domainName: string, selector?: string): Promise<DkimKeyInfo> {
  const pair = await generateDkimKeyPair(); // outside the transaction: it takes a while
  return db.transaction().execute(async (tx) => {
    const domain = await requireDomainId(tx, domainName, true); // serializes rotations of one domain
    const chosen = await pickSelector(tx, domain.id, selector);
    await tx.updateTable('dkim_keys').set({ active: false }).where('domain_id', '=', domain.id).where('active', '=', true).execute();
    return insertKey(tx, domain, chosen, pair, true);
  });
}

/** The key to sign the domain's mail with, or null when it has none. The only private-key reader. */
export async function activeDkimKey(db: DbOrTx, domainName: string): Promise<DkimSigningKey | null> {
  const name = normalizeDomain(domainName);
  const row = await db
    .selectFrom('dkim_keys')
    .innerJoin('domains', 'domains.id', 'dkim_keys.domain_id')
    .select(['dkim_keys.selector', 'dkim_keys.private_key_pem'])
    .where('domains.name', '=', name)
    .where('dkim_keys.active', '=', true)
    .executeTakeFirst();
  return row ? { domain: name, selector: row.selector, privateKeyPem: row.private_key_pem } : null;
}

/** Every key of the domain (public halves), newest first. */
export async function listDkimKeys(db: DbOrTx, domainName: string): Promise<DkimKeyInfo[]> {
  const name = normalizeDomain(domainName);
  const rows = await db
    .selectFrom('dkim_keys')
    .innerJoin('domains', 'domains.id', 'dkim_keys.domain_id')
    .select(['dkim_keys.selector', 'dkim_keys.public_key_b64', 'dkim_keys.active', 'dkim_keys.created_at'])
    .where('domains.name', '=', name)
    .orderBy('dkim_keys.id', 'desc')
    .execute();
  return rows.map((r) => ({ domain: name, selector: r.selector, publicKeyB64: r.public_key_b64, active: r.active, createdAt: r.created_at }));
}

/** The public half of the domain's active key (what DNS must publish), or null. */
export async function activeDkimPublicKey(db: DbOrTx, domainName: string): Promise<DkimKeyInfo | null> {
  return (await listDkimKeys(db, domainName)).find((k) => k.active) ?? null;
}
