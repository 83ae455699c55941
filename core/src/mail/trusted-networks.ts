import { BlockList, isIPv4, isIPv6 } from 'node:net';

/**
 * Trusted networks (SMTP_TRUSTED_NETWORKS): clients in these CIDRs are the operator's own hosts.
 * Their mail is still authenticated and the results recorded, but never refused or sent to Junk by
 * a DMARC or own-domain verdict, never greylisted nor DNSBL/reverse-DNS checked (core/src/mail/spam/)
 * and, in a later slice, never rate-limited. This is the one place that says whether a client is trusted.
 */

export const DEFAULT_TRUSTED_NETWORKS = '127.0.0.0/8,::1/128';

export interface TrustedNetworks {
  /** The CIDRs as configured (empty for `none`). */
  readonly cidrs: readonly string[];
  contains(ip: string): boolean;
}

/** `::ffff:1.2.3.4` (an IPv4 client on a dual-stack socket) as `1.2.3.4`; other addresses as given. */
export function normalizeClientIp(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? m[1]! : ip;
}

/** Parses `a.b.c.d/n,x::/n` (or `none`); throws with the bad entry named. */
export function parseTrustedNetworks(text: string): TrustedNetworks {
  const list = new BlockList();
  const cidrs: string[] = [];
  const trimmed = text.trim();
  if (trimmed.toLowerCase() !== 'none') {
    for (const entry of trimmed.split(',').map((s) => s.trim()).filter(Boolean)) {
      const [address = '', prefixText] = entry.split('/');
      const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
      const max = family === 'ipv4' ? 32 : 128;
      const prefix = prefixText === undefined ? max : Number(prefixText);
      if (!family || !/^\d*$/.test(prefixText ?? '') || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
        throw new Error(`not a CIDR: ${JSON.stringify(entry)}`);
      }
      list.addSubnet(address, prefix, family);
      cidrs.push(`${address}/${prefix}`);
    }
  }
  // The MX asks about the same client at MAIL, RCPT and DATA, and a busy MX sees few distinct
  // clients: the answers are remembered (a BlockList check builds a SocketAddress each time).
  // The memo is emptied when it reaches its bound, so a scan from many addresses cannot grow it.
  const known = new Map<string, boolean>();
  const check = (ip: string): boolean => {
    const client = normalizeClientIp(ip);
    if (isIPv4(client)) return list.check(client, 'ipv4');
    return isIPv6(client) && list.check(client, 'ipv6');
  };
  return {
    cidrs,
    contains(ip: string): boolean {
      let trusted = known.get(ip);
      if (trusted === undefined) {
        trusted = check(ip);
        if (known.size >= MEMO_SIZE) known.clear();
        known.set(ip, trusted);
      }
      return trusted;
    },
  };
}

/** Client addresses whose answer `contains` remembers at most. */
const MEMO_SIZE = 4096;
