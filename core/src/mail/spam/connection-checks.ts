import { isIPv4, isIPv6 } from 'node:net';
import type { DNSResolver } from 'mailauth';
import type { FilterCheckJson } from '../../db/schema.js';
import { normalizeClientIp } from '../trusted-networks.js';
import { expandIpv6 } from './greylist.js';

/**
 * Connection-level checks of an MX client (issue 11), run once per connection: DNSBL lookups in
 * the configured zones (DNSBL_ZONES) and forward-confirmed reverse DNS. They only produce scored
 * checks (`FilterCheckJson`); the spam score adds them up with the message's own. A resolver
 * failure (timeout, SERVFAIL, no network) is `temperror` with score 0: it never counts against the
 * sender. Clients in the trusted networks are not checked (the caller does not ask).
 */

export interface ConnectionCheckDeps {
  /** The configured resolver with its cache (`createAuthDnsResolver`). */
  resolver: DNSResolver;
  /** DNSBL zones, e.g. `zen.spamhaus.org`; none by default. */
  dnsblZones: readonly string[];
  /** Score of a listing in one zone (DNSBL_SCORE). */
  dnsblScore: number;
}

/** Score of a reverse DNS that is missing or does not confirm the address. */
export const RDNS_FAIL_SCORE = 1;

/** "No such name" or "no such record": an answer, not a failure. */
const NO_ANSWER = new Set(['ENOTFOUND', 'ENODATA']);

function isNoAnswer(err: unknown): boolean {
  return NO_ANSWER.has((err as { code?: string })?.code ?? '');
}

/** The DNS name under which an address is looked up: `4.3.2.1` for 1.2.3.4, nibbles reversed for IPv6 (RFC 5782). */
export function reversedIp(ip: string): string | null {
  const client = normalizeClientIp(ip);
  if (isIPv4(client)) return client.split('.').reverse().join('.');
  if (isIPv6(client)) {
    const hex = expandIpv6(client).map((g) => g.padStart(4, '0')).join('');
    return [...hex].reverse().join('.');
  }
  return null;
}

async function dnsblCheck(deps: ConnectionCheckDeps, reversed: string, zone: string): Promise<FilterCheckJson> {
  try {
    const answers = (await deps.resolver(`${reversed}.${zone}`, 'A')) as string[];
    const codes = answers.filter((a) => a.startsWith('127.'));
    if (codes.length > 0) return { check: 'dnsbl', result: 'listed', score: deps.dnsblScore, detail: `listed on ${zone} (${codes.join(', ')})` };
    return { check: 'dnsbl', result: 'clear', score: 0, detail: `not listed on ${zone}` };
  } catch (err) {
    if (isNoAnswer(err)) return { check: 'dnsbl', result: 'clear', score: 0, detail: `not listed on ${zone}` };
    return { check: 'dnsbl', result: 'temperror', score: 0, detail: `${zone} did not answer (${(err as Error).message})` };
  }
}

/** Forward-confirmed reverse DNS: a PTR name of the address must resolve back to it. */
async function rdnsCheck(deps: ConnectionCheckDeps, client: string, reversed: string): Promise<FilterCheckJson> {
  const v4 = isIPv4(client);
  const ptrName = `${reversed}.${v4 ? 'in-addr.arpa' : 'ip6.arpa'}`;
  let names: string[];
  try {
    names = (await deps.resolver(ptrName, 'PTR')) as string[];
  } catch (err) {
    if (isNoAnswer(err)) return { check: 'rdns', result: 'none', score: RDNS_FAIL_SCORE, detail: `no reverse DNS for ${client}` };
    return { check: 'rdns', result: 'temperror', score: 0, detail: `reverse DNS lookup failed (${(err as Error).message})` };
  }
  if (names.length === 0) return { check: 'rdns', result: 'none', score: RDNS_FAIL_SCORE, detail: `no reverse DNS for ${client}` };
  const same = (a: string) => (v4 ? a === client : isIPv6(a) && expandIpv6(a).join(':') === expandIpv6(client).join(':'));
  let failed: Error | null = null;
  // At most a few names: a PTR set is usually one name.
  for (const name of names.slice(0, 5)) {
    try {
      const addresses = (await deps.resolver(name, v4 ? 'A' : 'AAAA')) as string[];
      if (addresses.some(same)) return { check: 'rdns', result: 'pass', score: 0, detail: `${client} is ${name}` };
    } catch (err) {
      if (!isNoAnswer(err)) failed = err as Error;
    }
  }
  if (failed) return { check: 'rdns', result: 'temperror', score: 0, detail: `forward lookup of ${names[0]} failed (${failed.message})` };
  return { check: 'rdns', result: 'fail', score: RDNS_FAIL_SCORE, detail: `${names[0]} does not resolve to ${client}` };
}

/** The DNSBL and reverse DNS checks of one client, in parallel. Never throws. */
export async function checkConnection(deps: ConnectionCheckDeps, input: { ip: string; helo: string | null }): Promise<FilterCheckJson[]> {
  const client = normalizeClientIp(input.ip);
  const reversed = reversedIp(client);
  if (!reversed) return [];
  return Promise.all([...deps.dnsblZones.map((zone) => dnsblCheck(deps, reversed, zone)), rdnsCheck(deps, client, reversed)]);
}
