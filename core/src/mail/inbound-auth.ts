import { authenticate, type AuthenticateResult, type DNSResolver } from 'mailauth';
import type { AuthCheckJson, AuthenticationJson, FilterCheckJson, FilterDecisionJson, SpoolVerdict } from '../db/schema.js';
import { createDnsResolver } from '../accounts/dns-helper.js';
import type { DbOrTx } from '../db/client.js';
import { createDomainRepository, DEFAULT_TRUST_POLICY, type DomainTrustPolicy } from '../repositories/domain.repository.js';
import { createSenderRuleRepository } from '../repositories/sender-rule.repository.js';
import { resolveRecipient } from './recipient-routing.js';
import type { SpamEngine } from './spam/engine.js';
import { DEFAULT_SPAM_THRESHOLDS, scoreMessage, type SpamThresholds } from './spam/score.js';
import { normalizeClientIp, type TrustedNetworks } from './trusted-networks.js';

/**
 * Authentication of mail received on the MX (issue 11, first slice): SPF (client IP, HELO, MAIL
 * FROM), DKIM, DMARC with alignment and ARC, verified by `mailauth` through the configured DNS
 * servers with a small answer cache; then the verdict: accept, file into Junk, or refuse.
 *
 * - DMARC `p=reject` failures are refused, `p=quarantine` failures go to Junk; each recipient
 *   domain's `dmarcReject` policy may relax that (to Junk, or to nothing).
 * - Mail From one of our own domains that does not pass (no DMARC pass, no aligned SPF or DKIM
 *   pass) is forged: refused, unless that domain's `ownDomainSpoofing` policy relaxes it.
 * - DNS trouble (timeout, SERVFAIL, no network) is `temperror`: never a refusal or Junk by itself.
 * - Clients in the trusted networks are checked and recorded but never refused or sent to Junk.
 * - Several recipient domains: refused only when every one of them would refuse; otherwise Junk
 *   when any of them asks for it.
 * - Then the spam score (core/src/mail/spam/score.ts, with the engine when one is configured):
 *   Junk at the Junk threshold, refused at the refusal threshold unless every recipient user
 *   allow-lists the sender (then it is spooled for Junk, and the filer's allow override files it).
 */

export type TrustAction = 'accept' | 'junk' | 'reject';

export interface TrustInput {
  raw: Buffer;
  /** The client's address as the socket reports it. */
  ip: string;
  helo: string | null;
  /** The envelope sender; '' for the null sender. */
  mailFrom: string;
  /** The domains of the (local) recipients, lower case. */
  rcptDomains: readonly string[];
  /** What the connection-level checks found (DNSBL, reverse DNS: core/src/mail/spam/), to be scored with the message. */
  connectionChecks?: readonly FilterCheckJson[];
  /** The recipient addresses: the spam engine is told them, and a refusal by score asks their users' allow lists. */
  rcptTo?: readonly string[];
}

export interface TrustVerdict {
  action: TrustAction;
  /** Why it is refused or filed in Junk (logged; the 550 text); null when accepted plainly. */
  reason: string | null;
  /** What refused it: the sender's policy (DMARC, our own domain) or the spam score; null when not refused. */
  refusal: 'policy' | 'spam' | null;
  /** The spam decision, as stored with the spool row and the message. */
  filter: FilterDecisionJson;
  trustedNetwork: boolean;
  authentication: AuthenticationJson;
  /** `Authentication-Results: <hostname>; …\r\n`, to prepend to the stored message. */
  header: string;
}

/** Where the filer puts a message with this verdict (a refused one is never spooled). */
export function spoolVerdictOf(action: TrustAction): SpoolVerdict {
  return action === 'junk' ? 'junk' : 'inbox';
}

// --- DNS: the configured servers, with a bounded answer cache. ---

/** The part of a `node:dns/promises` Resolver used here. */
export type DnsResolve = (name: string, rrtype: string) => Promise<unknown>;

export interface DnsCacheOptions {
  /** Answers are kept at most this long (ms). */
  maxTtlMs?: number;
  /** "No such name / no data" answers are kept this long (ms). */
  negativeTtlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

const NEGATIVE_CODES = new Set(['ENOTFOUND', 'ENODATA']);

/**
 * Wraps a lookup with a cache: answers and NXDOMAIN/NODATA are kept for a bounded time, failures
 * (timeout, SERVFAIL, refused) never; the oldest entry goes when full; concurrent lookups of one
 * name share one query.
 */
export function cachingDnsResolver(resolve: DnsResolve, options: DnsCacheOptions = {}): DNSResolver & { size(): number } {
  const maxTtlMs = options.maxTtlMs ?? 300_000;
  const negativeTtlMs = options.negativeTtlMs ?? 60_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { expires: number; answer: Promise<unknown> }>();
  const lookup = (name: string, rrtype: string): Promise<unknown> => {
    const key = `${rrtype} ${name.toLowerCase()}`;
    const hit = cache.get(key);
    if (hit && hit.expires > now()) return hit.answer;
    cache.delete(key);
    const answer = resolve(name, rrtype);
    const entry = { expires: Number.POSITIVE_INFINITY, answer };
    while (cache.size >= maxEntries) cache.delete(cache.keys().next().value!);
    cache.set(key, entry);
    answer.then(
      () => (entry.expires = now() + maxTtlMs),
      (err: { code?: string }) => {
        if (NEGATIVE_CODES.has(err?.code ?? '')) entry.expires = now() + negativeTtlMs;
        else if (cache.get(key) === entry) cache.delete(key);
      },
    );
    return answer;
  };
  return Object.assign(lookup as DNSResolver, { size: () => cache.size });
}

/** A resolver on the configured DNS servers (DNS_SERVERS; the system's when empty), with the cache. */
export function createAuthDnsResolver(servers: readonly string[], options: DnsCacheOptions & { timeoutMs?: number } = {}): DNSResolver {
  const resolver = createDnsResolver([...servers], { timeoutMs: options.timeoutMs ?? 2_000, tries: 2 });
  return cachingDnsResolver((name, rrtype) => resolver.resolve(name, rrtype), options);
}

// --- The checks. ---

const TEMPERROR: AuthCheckJson = { result: 'temperror', domain: null };

/** What the checks found, as the policy needs it. */
export interface AuthFacts {
  authentication: AuthenticationJson;
  /** The domain of the (single) From address; null when there is none or several. */
  fromDomain: string | null;
  /** The (single) From address; null when there is none or several. */
  fromAddress: string | null;
  /** An SPF or DKIM pass aligned (relaxed) with the From domain. */
  alignedPass: boolean;
  /** Some check could not finish for a DNS failure. */
  temporary: boolean;
  /**
   * A check that could have aligned with the From domain (SPF of an aligned MAIL FROM/HELO, or a
   * DKIM signature by an aligned domain) could not finish: a DMARC fail then proves nothing.
   * A temperror on an unaligned domain does not count: the sender controls that domain's DNS.
   */
  alignedTemperror: boolean;
  /** The `Authentication-Results:` field, folded, ending in CRLF. */
  header: string;
}

function domainOfAddress(address: string): string | null {
  const at = address.lastIndexOf('@');
  return at >= 0 ? address.slice(at + 1).toLowerCase().replace(/\.$/, '') : null;
}

/** Relaxed alignment: one domain is the other or a parent of it. */
function aligned(a: string, b: string): boolean {
  a = a.toLowerCase();
  b = b.toLowerCase();
  return a === b || a.endsWith(`.${b}`) || b.endsWith(`.${a}`);
}

function normalizeResult(result: string | undefined): string {
  return result === 'temperr' ? 'temperror' : (result ?? 'none');
}

/** The Authentication-Results field from mailauth's header block, with nothing but printable text and proper folding. */
function authResultsField(headers: string, hostname: string): string {
  const start = headers.indexOf('Authentication-Results:');
  const block = start >= 0 ? headers.slice(start) : `Authentication-Results: ${hostname}; none`;
  const lines = block.split(/\r?\n/).filter((line) => line !== '');
  const field = [lines[0]!, ...lines.slice(1).filter((l) => /^[ \t]/.test(l))].map((l) => l.replace(/[^\t\x20-\x7e]/g, '?'));
  return `${field.join('\r\n')}\r\n`;
}

/** The results of a mailauth run, reduced to what is stored and what the policy needs. */
export function toAuthFacts(result: AuthenticateResult, hostname: string): AuthFacts {
  const fromAddresses = result.dkim.headerFrom ?? [];
  const fromAddress = fromAddresses.length === 1 ? fromAddresses[0]!.toLowerCase() : null;
  const fromDomain = fromAddress !== null ? domainOfAddress(fromAddress) : null;
  const signatures = result.dkim.results ?? [];
  const dkimPass = signatures.filter((s) => s.status.result === 'pass');
  const dkimBest = dkimPass.find((s) => fromDomain && aligned(s.signingDomain, fromDomain)) ?? dkimPass[0] ?? signatures[0];
  const spf = result.spf || null;
  const spfResult = normalizeResult(spf?.status.result);
  const dmarc = result.dmarc || null;
  const arc = result.arc || null;
  const authentication: AuthenticationJson = {
    spf: { result: spfResult, domain: spf?.domain ?? null },
    dkim: dkimBest ? { result: normalizeResult(dkimBest.status.result), domain: dkimBest.signingDomain ?? null } : { result: 'none', domain: null },
    dmarc: dmarc ? { result: normalizeResult(dmarc.status.result), domain: dmarc.domain ?? fromDomain, policy: dmarc.policy ?? null } : { result: 'none', domain: fromDomain, policy: null },
    arc: arc ? { result: normalizeResult(arc.status.result), domain: arc.signature ? arc.signature.signingDomain : null } : { result: 'none', domain: null },
  };
  const alignedPass =
    fromDomain !== null &&
    (dkimPass.some((s) => aligned(s.signingDomain, fromDomain)) || (spfResult === 'pass' && spf?.domain !== undefined && aligned(spf.domain, fromDomain)));
  const temporary = [authentication.spf, authentication.dmarc, ...signatures.map((s) => ({ result: normalizeResult(s.status.result) }))].some((c) => c.result === 'temperror');
  const alignedTemperror =
    fromDomain !== null &&
    (signatures.some((s) => normalizeResult(s.status.result) === 'temperror' && s.signingDomain !== undefined && aligned(s.signingDomain, fromDomain)) ||
      (spfResult === 'temperror' && spf?.domain !== undefined && aligned(spf.domain, fromDomain)));
  return { authentication, fromDomain, fromAddress, alignedPass, temporary, alignedTemperror, header: authResultsField(result.headers, hostname) };
}

/** When the checks did not finish in time: everything is a temporary error (the mail is still received). */
function timedOutFacts(hostname: string): AuthFacts {
  return {
    authentication: { spf: TEMPERROR, dkim: TEMPERROR, dmarc: { ...TEMPERROR, policy: null }, arc: TEMPERROR },
    fromDomain: null,
    fromAddress: null,
    alignedPass: false,
    temporary: true,
    alignedTemperror: true,
    header: `Authentication-Results: ${hostname};\r\n spf=temperror;\r\n dkim=temperror;\r\n dmarc=temperror (checks timed out)\r\n`,
  };
}

export interface CheckOptions {
  resolver: DNSResolver;
  /** This server's name (MAIL_HOSTNAME), the authserv-id of Authentication-Results. */
  hostname: string;
  /** A bound on all lookups of one message; past it the checks are `temperror` (default 20 s). */
  timeoutMs?: number;
}

/** Runs SPF, DKIM, DMARC and ARC on one message. Throws only on a fault of the verifier itself. */
export async function checkMessage(input: Omit<TrustInput, 'rcptDomains'>, options: CheckOptions): Promise<AuthFacts> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), options.timeoutMs ?? 20_000);
  });
  try {
    const result = await Promise.race([
      authenticate(input.raw, {
        resolver: options.resolver,
        ip: normalizeClientIp(input.ip),
        helo: input.helo ?? undefined,
        sender: input.mailFrom || undefined,
        mta: options.hostname,
        disableBimi: true,
      }),
      timeout,
    ]);
    return result ? toAuthFacts(result, options.hostname) : timedOutFacts(options.hostname);
  } finally {
    clearTimeout(timer);
  }
}

// --- The policy. ---

function fromSetting(setting: 'enforce' | 'reject' | 'quarantine' | 'ignore'): TrustAction {
  return setting === 'ignore' ? 'accept' : setting === 'quarantine' ? 'junk' : 'reject';
}

/**
 * The verdict from the facts and the domains' policies (`policies` maps our domains, and only
 * them, to their policy). Pure: the unit tests state the rules on it.
 */
export function decideTrust(
  facts: Pick<AuthFacts, 'authentication' | 'fromDomain' | 'alignedPass' | 'temporary' | 'alignedTemperror'>,
  rcptDomains: readonly string[],
  policies: ReadonlyMap<string, DomainTrustPolicy>,
  trustedNetwork: boolean,
): { action: TrustAction; reason: string | null } {
  const { dmarc } = facts.authentication;
  const passes = dmarc.result === 'pass' || facts.alignedPass;
  let verdict: { action: TrustAction; reason: string | null } = { action: 'accept', reason: null };

  const own = facts.fromDomain !== null ? policies.get(facts.fromDomain) : undefined;
  if (own && !passes && !facts.temporary) {
    verdict = { action: fromSetting(own.ownDomainSpoofing), reason: `claims to be from our domain ${facts.fromDomain} but does not pass SPF, DKIM or DMARC` };
  }
  // A DMARC fail while an aligned check could not run is not acted on (RFC 7489 6.6.2: temperror).
  if (verdict.action === 'accept' && dmarc.result === 'fail' && !facts.alignedTemperror && (dmarc.policy === 'reject' || dmarc.policy === 'quarantine')) {
    const domains = rcptDomains.length > 0 ? rcptDomains : [''];
    const actions = domains.map((d): TrustAction => {
      const setting = (policies.get(d) ?? DEFAULT_TRUST_POLICY).dmarcReject;
      if (setting === 'ignore') return 'accept';
      return dmarc.policy === 'reject' ? fromSetting(setting) : 'junk';
    });
    // Refused only if every recipient domain refuses; otherwise Junk if any of them asks for more than delivery.
    const action: TrustAction = actions.every((a) => a === 'reject') ? 'reject' : actions.some((a) => a !== 'accept') ? 'junk' : 'accept';
    verdict = { action, reason: `DMARC policy ${dmarc.policy} of ${dmarc.domain ?? 'the sender'}: fail` };
  }
  if (verdict.action !== 'accept' && trustedNetwork) return { action: 'accept', reason: `trusted network (${verdict.reason})` };
  return verdict.action === 'accept' ? { action: 'accept', reason: null } : verdict;
}

// --- The domains' policies, cached briefly. ---

export interface TrustPolicyCacheOptions {
  /** A domain's policy (or that it is not ours) is kept this long (ms); 0 reads the store every time. */
  ttlMs: number;
  maxEntries: number;
  now?: () => number;
}

/**
 * Wraps the policy lookup with a per-domain cache, so a burst of mail costs one `domains` read per
 * domain per few seconds instead of one per message. Domains that are not ours (most From domains)
 * are remembered too; a failed lookup is never remembered. The price is staleness: an admin's
 * policy change reaches a running MX within `ttlMs`.
 */
export function cachingTrustPolicies(
  lookup: (names: readonly string[]) => Promise<ReadonlyMap<string, DomainTrustPolicy>>,
  options: TrustPolicyCacheOptions,
): (names: readonly string[]) => Promise<Map<string, DomainTrustPolicy>> {
  const now = options.now ?? Date.now;
  const cache = new Map<string, { policy: DomainTrustPolicy | null; expires: number }>();
  return async (names) => {
    const at = now();
    const out = new Map<string, DomainTrustPolicy>();
    const missing: string[] = [];
    for (const name of names) {
      const hit = cache.get(name);
      if (hit && hit.expires > at) {
        if (hit.policy) out.set(name, hit.policy);
      } else missing.push(name);
    }
    if (missing.length === 0) return out;
    const found = await lookup(missing);
    const expires = now() + options.ttlMs;
    for (const name of missing) {
      const policy = found.get(name) ?? null;
      if (policy) out.set(name, policy);
      if (options.ttlMs <= 0) continue;
      cache.delete(name);
      while (cache.size >= options.maxEntries) cache.delete(cache.keys().next().value!);
      cache.set(name, { policy, expires });
    }
    return out;
  };
}

// --- The service the MX uses. ---

export interface InboundTrustDeps {
  db: DbOrTx;
  resolver: DNSResolver;
  hostname: string;
  trustedNetworks: TrustedNetworks;
  timeoutMs?: number;
  /** rspamd when RSPAMD_URL is set; absent: the built-in content rules. */
  spamEngine?: SpamEngine;
  /** SPAM_JUNK_THRESHOLD, SPAM_REJECT_THRESHOLD; default 6 and 15. */
  spamThresholds?: SpamThresholds;
  /** How long a domain's trust policy is cached (ms; default 5 s): how late a policy change may reach the MX. */
  policyCacheMs?: number;
  /** The policy cache's clock (tests); Date.now by default. */
  now?: () => number;
}

/** Checks a message and decides; throws when the store cannot be read (the MX answers 451). */
export function createInboundTrust(deps: InboundTrustDeps) {
  const domains = createDomainRepository(deps.db);
  const trustPolicies = cachingTrustPolicies((names) => domains.trustPolicies(names), { ttlMs: deps.policyCacheMs ?? 5_000, maxEntries: 10_000, now: deps.now });
  const senderRules = createSenderRuleRepository(deps.db);
  /** Whether every local user among the recipients allow-lists the sender (the From address, else MAIL FROM). */
  async function allowedByEveryRecipient(rcptTo: readonly string[], sender: string): Promise<boolean> {
    const userIds = new Set<number>();
    for (const rcpt of rcptTo) {
      const verdict = await resolveRecipient(deps.db, rcpt);
      if (verdict.kind === 'local') userIds.add(verdict.userId);
    }
    if (userIds.size === 0) return false;
    const rules = await senderRules.decide([...userIds], sender);
    return [...userIds].every((id) => rules.get(id) === 'allow');
  }
  return {
    isTrustedNetwork: (ip: string) => deps.trustedNetworks.contains(ip),
    async verify(input: TrustInput): Promise<TrustVerdict> {
      const rcptTo = input.rcptTo ?? [];
      const [facts, engine] = await Promise.all([
        checkMessage(input, { resolver: deps.resolver, hostname: deps.hostname, timeoutMs: deps.timeoutMs }),
        // The engine's failure is its null answer: the built-in rules decide then.
        deps.spamEngine ? deps.spamEngine.check({ raw: input.raw, ip: input.ip, helo: input.helo, mailFrom: input.mailFrom, rcptTo }).catch(() => null) : null,
      ]);
      const names = [...new Set([...input.rcptDomains, ...(facts.fromDomain ? [facts.fromDomain] : [])])];
      const policies = await trustPolicies(names);
      const trustedNetwork = deps.trustedNetworks.contains(input.ip);
      const policy = decideTrust(facts, input.rcptDomains, policies, trustedNetwork);
      const thresholds = deps.spamThresholds ?? DEFAULT_SPAM_THRESHOLDS;
      const scored = scoreMessage({ raw: input.raw, authentication: facts.authentication, policy, trustedNetwork, connectionChecks: input.connectionChecks, engine, thresholds });
      const verdict = { ...scored, trustedNetwork, authentication: facts.authentication, header: facts.header };
      const sender = facts.fromAddress ?? input.mailFrom;
      if (scored.refusal !== 'spam' || !(await allowedByEveryRecipient(rcptTo, sender))) return verdict;
      // Spooled for Junk: the filer's allow override files it in each (allowing) user's Inbox.
      const reason = `Spam score ${scored.filter.score} would have refused it, but every recipient allow-lists ${sender}.`;
      return { ...verdict, action: 'junk', refusal: null, reason, filter: { ...scored.filter, reason } };
    },
  };
}
export type InboundTrust = ReturnType<typeof createInboundTrust>;
