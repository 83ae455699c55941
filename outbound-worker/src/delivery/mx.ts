import type { MxRecord } from 'node:dns';
import type { Resolver } from 'node:dns/promises';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';

/**
 * Where mail for a domain goes (RFC 5321 §5.1, RFC 7505), looked up with a `Resolver` the caller
 * built with the configured DNS servers. Never `dns.lookup`: it reads the system resolver and
 * ignores `setServers`, so the caller must also connect to the addresses returned here, not to
 * the host names.
 *
 * - `hosts`: MX hosts by preference (random order among equal preferences, at most
 *   MAX_MX_HOSTS), each with its IPv4 then IPv6 addresses; hosts with no address are left out.
 *   A domain without MX records is its own mail host (implicit MX, priority 0).
 * - `null-mx`: the domain says it accepts no mail (MX "." only): bounce at once.
 * - `no-domain`: NXDOMAIN (or a name that cannot exist): bounce at once.
 * - `temp-failure`: SERVFAIL, timeout, refused, no usable address...: retry later.
 * - `private`: every address found is loopback, private, link-local... (`isPrivateAddress`): a
 *   permanent failure, unless the operator allows it (OUTBOUND_ALLOW_PRIVATE, `allowPrivate`).
 *   Mail is never sent into the operator's own network because a remote domain points there.
 */
export type Destination =
  | { kind: 'hosts'; hosts: Array<{ exchange: string; priority: number; addresses: string[] }> }
  | { kind: 'null-mx' }
  | { kind: 'no-domain' }
  | { kind: 'temp-failure'; reason: string }
  | { kind: 'private'; reason: string };

/** The part of a `node:dns/promises` Resolver this module uses. */
export type MxResolver = Pick<Resolver, 'resolveMx' | 'resolve4' | 'resolve6'>;

export interface ResolveOptions {
  /** Chooses the order among MX hosts of equal preference; Math.random by default. */
  random?: () => number;
  /** Keep loopback, private, link-local and unique-local addresses (tests, private networks). */
  allowPrivate?: boolean;
}

export const MAX_MX_HOSTS = 10;

type Host = { exchange: string; priority: number; addresses: string[] };

/**
 * Addresses mail must not be sent to from the Internet-facing worker: unspecified, loopback,
 * RFC 1918, CGNAT (100.64/10), link-local, multicast and reserved IPv4; ::, ::1, unique-local
 * (fc00::/7), link-local (fe80::/10) and multicast IPv6; and IPv4-mapped IPv6 of any of these.
 */
const NOT_PUBLIC = new BlockList();
for (const [net, prefix] of [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.168.0.0', 16], ['224.0.0.0', 4], ['240.0.0.0', 4]] as const) {
  NOT_PUBLIC.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8]] as const) NOT_PUBLIC.addSubnet(net, prefix, 'ipv6');

/** The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, `::ffff:7f00:1`), else null. */
function mappedIPv4(ip: string): string | null {
  const m = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/.exec(new URL(`http://[${ip}]/`).hostname);
  if (!m) return null;
  const [hi, lo] = [parseInt(m[1]!, 16), parseInt(m[2]!, 16)];
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** True for an address that is not on the public Internet (see NOT_PUBLIC); false for anything else. */
export function isPrivateAddress(ip: string): boolean {
  if (isIPv4(ip)) return NOT_PUBLIC.check(ip, 'ipv4');
  if (!isIPv6(ip)) return false;
  const v4 = mappedIPv4(ip);
  return v4 !== null ? NOT_PUBLIC.check(v4, 'ipv4') : NOT_PUBLIC.check(ip, 'ipv6');
}

/** Hosts with their non-public addresses removed; `private` when that leaves none. */
function publicOnly(hosts: Host[], options: ResolveOptions): Destination {
  if (options.allowPrivate) return { kind: 'hosts', hosts };
  const kept = hosts.map((h) => ({ ...h, addresses: h.addresses.filter((ip) => !isPrivateAddress(ip)) })).filter((h) => h.addresses.length > 0);
  if (kept.length > 0) return { kind: 'hosts', hosts: kept };
  const found = hosts.map((h) => `${h.exchange} (${h.addresses.join(', ')})`).join(', ');
  return { kind: 'private', reason: `resolves to a private address only: ${found}` };
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code !== '' ? code : 'EUNKNOWN';
}

/** `[192.0.2.1]` / `[IPv6:2001:db8::1]` → the address; null for a malformed literal; undefined if not a literal. */
function addressLiteral(domain: string): string | null | undefined {
  const m = domain.trim().match(/^\[(.*)\]$/);
  if (!m) return undefined;
  const inner = m[1]!;
  if (isIPv4(inner)) return inner;
  const v6 = inner.match(/^ipv6:(.*)$/i);
  if (v6 && isIPv6(v6[1]!)) return v6[1]!.toLowerCase();
  return null;
}

// eslint-disable-next-line no-control-regex
const NOT_IN_A_NAME = /[\s\x00-\x1f\x7f,/\\[\]]/;

/**
 * Lower-case A-label form without the trailing dot, or '' when it cannot be a domain name.
 * Only internationalised names go through domainToASCII: the URL host parser it uses would also
 * rewrite ASCII names that look like numbers ("0x7f.1" → "127.0.0.1").
 */
function normalizeName(domain: string): string {
  const name = domain.trim().replace(/\.$/, '');
  const ascii = /^[\x20-\x7e]*$/.test(name) ? name.toLowerCase() : domainToASCII(name).toLowerCase();
  if (ascii === '' || ascii.length > 253 || NOT_IN_A_NAME.test(ascii)) return '';
  return ascii.split('.').every((label) => label.length >= 1 && label.length <= 63) ? ascii : '';
}

const isRoot = (exchange: string) => exchange === '' || exchange === '.';

/** Sorted by preference, shuffled among equal preferences (RFC 5321 §5.1), duplicates removed. */
function order(records: MxRecord[], random: () => number): Array<{ exchange: string; priority: number }> {
  const byPriority = new Map<number, string[]>();
  for (const r of records) {
    const exchange = r.exchange.toLowerCase().replace(/\.$/, '');
    const list = byPriority.get(r.priority) ?? [];
    list.push(exchange);
    byPriority.set(r.priority, list);
  }
  const out: Array<{ exchange: string; priority: number }> = [];
  const seen = new Set<string>();
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    const list = byPriority.get(priority)!;
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [list[i], list[j]] = [list[j]!, list[i]!];
    }
    for (const exchange of list) {
      if (seen.has(exchange)) continue;
      seen.add(exchange);
      out.push({ exchange, priority });
    }
  }
  return out;
}

interface Addresses {
  addresses: string[];
  /** Codes of lookups that failed for a reason other than "no such name / no such record". */
  failures: string[];
  /** Both lookups said NXDOMAIN. */
  nxdomain: boolean;
}

async function addressesOf(resolver: MxResolver, name: string): Promise<Addresses> {
  const settle = async (lookup: Promise<string[]>) => {
    try {
      return { addresses: await lookup, code: null };
    } catch (err) {
      return { addresses: [] as string[], code: errorCode(err) };
    }
  };
  const [v4, v6] = await Promise.all([settle(resolver.resolve4(name)), settle(resolver.resolve6(name))]);
  const failures = [v4.code, v6.code].filter((c): c is string => c !== null && c !== 'ENODATA' && c !== 'ENOTFOUND');
  return { addresses: [...new Set([...v4.addresses, ...v6.addresses])], failures, nxdomain: v4.code === 'ENOTFOUND' && v6.code === 'ENOTFOUND' };
}

export async function resolveDestination(resolver: MxResolver, domain: string, options: ResolveOptions = {}): Promise<Destination> {
  const literal = addressLiteral(domain);
  if (literal === null) return { kind: 'no-domain' };
  if (literal !== undefined) return publicOnly([{ exchange: literal, priority: 0, addresses: [literal] }], options);

  const name = normalizeName(domain);
  if (name === '') return { kind: 'no-domain' };

  let records: MxRecord[];
  try {
    records = await resolver.resolveMx(name);
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ENOTFOUND' || code === 'EBADNAME') return { kind: 'no-domain' };
    if (code !== 'ENODATA') return { kind: 'temp-failure', reason: `MX lookup for ${name} failed: ${code}` };
    records = [];
  }

  if (records.length === 0) {
    // Implicit MX (RFC 5321 §5.1): the domain itself, if it has an address.
    const own = await addressesOf(resolver, name);
    if (own.addresses.length > 0) return publicOnly([{ exchange: name, priority: 0, addresses: own.addresses }], options);
    if (own.nxdomain) return { kind: 'no-domain' };
    if (own.failures.length > 0) return { kind: 'temp-failure', reason: `address lookup for ${name} (no MX records) failed: ${own.failures.join(', ')}` };
    return { kind: 'temp-failure', reason: `${name} has no MX records and no A/AAAA address` };
  }

  // RFC 7505: a null MX ("." ) means no mail. A null MX published next to real ones is a
  // misconfiguration; the real ones are used.
  const usable = records.filter((r) => !isRoot(r.exchange));
  if (usable.length === 0) return { kind: 'null-mx' };

  const candidates = order(usable, options.random ?? Math.random).slice(0, MAX_MX_HOSTS);
  const resolved = await Promise.all(candidates.map(async (c) => ({ ...c, ...(await addressesOf(resolver, c.exchange)) })));
  const hosts: Host[] = resolved.filter((h) => h.addresses.length > 0).map(({ exchange, priority, addresses }) => ({ exchange, priority, addresses }));
  if (hosts.length > 0) return publicOnly(hosts, options);

  const detail = resolved.map((h) => `${h.exchange} (${h.failures.length > 0 ? h.failures.join(', ') : h.nxdomain ? 'NXDOMAIN' : 'no A/AAAA'})`).join(', ');
  return { kind: 'temp-failure', reason: `no MX host of ${name} has an address: ${detail}` };
}
