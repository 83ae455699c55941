import fs from 'node:fs';
import https from 'node:https';
import { Resolver } from 'node:dns/promises';
import type { Redis } from 'ioredis';
import type { Db } from '../../db/client.js';
import type { Logger } from '../../log/logger.js';
import { createDomainRepository } from '../../repositories/domain.repository.js';
import { createAcmeChallengeStore, withAcmeLock } from './acme-challenges.js';
import { acmeCertificateFile, describeCertificate, loadAccountKey, readAcmeCertificate, writeAcmeCertificate } from './acme-files.js';

/**
 * One ACME run (RFC 8555, HTTP-01, with `acme-client`): works out the names the certificate must
 * cover (MAIL_HOSTNAME, then mta-sts., autoconfig. and autodiscover. of each domain served, each
 * only if it resolves: one missing DNS record must not cost the whole certificate), and orders a
 * new certificate when the one in DATA_DIR is missing, lacks a name (a domain was added) or expires
 * within `renewBeforeMs`. One run at a time in the deployment (a Redis lock); the challenges are in
 * Redis, where every backend replica answers them. Every service then picks the new file up.
 */

export interface AcmeSettings {
  email: string;
  directoryUrl: string;
  /** A private CA's certificate (PEM) to trust for the ACME server's own HTTPS (pebble in tests). */
  caFile?: string;
  renewBeforeMs: number;
  dataDir: string;
  hostname: string;
  /** Resolvers for checking that the optional names exist (empty: the system's). */
  dnsServers: string[];
}

export interface AcmeDeps {
  db: Db;
  redis: Redis;
  log: Logger;
}

export type AcmeOutcome =
  | { status: 'issued'; names: string[]; serial: string; validTo: Date; reason: string }
  | { status: 'fresh' }
  /** Another replica holds the lock: its certificate arrives through DATA_DIR. */
  | { status: 'busy' };

/** A run longer than this lets another replica take over (the lock expires). */
const LOCK_TTL_MS = 10 * 60_000;
const SERVICE_PREFIXES = ['mta-sts', 'autoconfig', 'autodiscover'] as const;

/** MAIL_HOSTNAME first, then the service names of each domain that resolve (A or AAAA). */
export async function certificateNames(hostname: string, domains: readonly string[], resolves: (name: string) => Promise<boolean>): Promise<{ names: string[]; skipped: string[] }> {
  const candidates = domains.flatMap((domain) => SERVICE_PREFIXES.map((prefix) => `${prefix}.${domain.toLowerCase()}`));
  const names = [hostname.toLowerCase()];
  const skipped: string[] = [];
  for (const name of candidates) {
    if (names.includes(name)) continue;
    if (await resolves(name)) names.push(name);
    else skipped.push(name);
  }
  return { names, skipped };
}

function dnsResolves(servers: string[]): (name: string) => Promise<boolean> {
  const resolver = new Resolver({ timeout: 3000, tries: 2 });
  if (servers.length > 0) resolver.setServers(servers);
  const any = (lookup: Promise<string[]>) => lookup.then((addresses) => addresses.length > 0, () => false);
  return async (name) => (await any(resolver.resolve4(name))) || (await any(resolver.resolve6(name)));
}

/** Why a new certificate is needed for `names`, or null when the stored one will do. */
export function renewalReason(dataDir: string, names: readonly string[], renewBeforeMs: number, now = new Date()): string | null {
  let current: ReturnType<typeof describeCertificate>;
  try {
    current = describeCertificate(readAcmeCertificate(acmeCertificateFile(dataDir)).cert);
  } catch {
    return 'missing';
  }
  if (names.some((name) => !current.names.includes(name))) return 'names';
  if (current.validTo.getTime() - now.getTime() < renewBeforeMs) return 'expiry';
  return null;
}

/** acme-client (with axios) is loaded only when a certificate is ordered: every service imports core. */
async function loadAcmeClient(caFile: string | undefined) {
  const acme = (await import('acme-client')).default;
  // It sends every request through one axios instance: a private CA is trusted there.
  if (caFile) acme.axios.defaults.httpsAgent = new https.Agent({ ca: fs.readFileSync(caFile) });
  return acme;
}

export async function runAcme(deps: AcmeDeps, settings: AcmeSettings): Promise<AcmeOutcome> {
  const domains = (await createDomainRepository(deps.db).list()).map((d) => d.name);
  const { names, skipped } = await certificateNames(settings.hostname, domains, dnsResolves(settings.dnsServers));
  if (skipped.length > 0) deps.log.warn({ event: 'acme.names_skipped', names: skipped, reason: 'no A or AAAA record' });
  if (renewalReason(settings.dataDir, names, settings.renewBeforeMs) === null) return { status: 'fresh' };

  const outcome = await withAcmeLock(deps.redis, LOCK_TTL_MS, async (): Promise<AcmeOutcome> => {
    // Checked again under the lock: another replica may have just stored one.
    const reason = renewalReason(settings.dataDir, names, settings.renewBeforeMs);
    if (reason === null) return { status: 'fresh' };
    deps.log.info({ event: 'acme.ordering', names, reason, directory: settings.directoryUrl });
    const acme = await loadAcmeClient(settings.caFile);
    const challenges = createAcmeChallengeStore(deps.redis);
    const accountKey = await loadAccountKey(settings.dataDir, () => acme.crypto.createPrivateRsaKey(2048));
    const client = new acme.Client({ directoryUrl: settings.directoryUrl, accountKey });
    const [key, csr] = await acme.crypto.createCsr({ commonName: names[0], altNames: names }, await acme.crypto.createPrivateRsaKey(2048));
    const cert = await client.auto({
      csr,
      email: settings.email,
      termsOfServiceAgreed: true,
      challengePriority: ['http-01'],
      // The CA checks port 80 itself; acme-client's own pre-check would need this host's public DNS.
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, challenge, keyAuthorization) => challenges.put(challenge.token, keyAuthorization),
      challengeRemoveFn: async (_authz, challenge) => challenges.remove(challenge.token),
    });
    writeAcmeCertificate(settings.dataDir, { cert, key: key.toString() });
    const issued = describeCertificate(Buffer.from(cert));
    return { status: 'issued', names, serial: issued.serial, validTo: issued.validTo, reason };
  });
  return outcome ?? { status: 'busy' };
}
