import { Resolver } from 'node:dns/promises';
import { dkimTxtRecord } from './dkim.service.js';

/**
 * The DNS records a domain needs for this server to receive mail and for its outgoing mail to
 * pass SPF/DKIM/DMARC, and a live check of what is actually published. A lookup failure
 * (NXDOMAIN, no data, timeout) is reported on the record as ok:false with the error code.
 */

export type DnsPurpose = 'mx' | 'spf' | 'dkim' | 'dmarc' | 'mta-sts';

export interface ExpectedRecord {
  type: 'MX' | 'TXT';
  name: string;
  value: string;
  purpose: DnsPurpose;
  /** MX preference. */
  priority?: number;
}

export interface CheckedRecord extends ExpectedRecord {
  ok: boolean;
  /** What is published (MX: `<priority> <exchange>`; TXT: the relevant strings, chunks joined). */
  found: string[];
  /** The resolver's error code (ENOTFOUND, ENODATA, ETIMEOUT…) when the lookup failed. */
  error?: string;
}

/** The lookups checkRecords needs; node:dns/promises Resolver has them. */
export interface DnsLookup {
  resolveMx(name: string): Promise<Array<{ exchange: string; priority: number }>>;
  resolveTxt(name: string): Promise<string[][]>;
}

export interface ExpectedRecordsOptions {
  /** MAIL_HOSTNAME: where MX points. */
  mailHostname: string;
  /** The domain's active DKIM key (public half); no DKIM record without one. */
  dkim?: { selector: string; publicKeyB64: string } | null;
  /** Dates the MTA-STS policy id (default: today). */
  stsDate?: Date;
}

function bare(host: string): string {
  return host.trim().toLowerCase().replace(/\.$/, '');
}

function stsId(date: Date): string {
  return date.toISOString().slice(0, 10).replace(/-/g, '');
}

export function expectedRecords(domain: string, options: ExpectedRecordsOptions): ExpectedRecord[] {
  const name = bare(domain);
  const records: ExpectedRecord[] = [
    { type: 'MX', name, value: bare(options.mailHostname), purpose: 'mx', priority: 10 },
    { type: 'TXT', name, value: 'v=spf1 mx -all', purpose: 'spf' },
  ];
  if (options.dkim) records.push({ type: 'TXT', name: `${options.dkim.selector}._domainkey.${name}`, value: dkimTxtRecord(options.dkim.publicKeyB64), purpose: 'dkim' });
  records.push(
    { type: 'TXT', name: `_dmarc.${name}`, value: `v=DMARC1; p=quarantine; rua=mailto:postmaster@${name}`, purpose: 'dmarc' },
    { type: 'TXT', name: `_mta-sts.${name}`, value: `v=STSv1; id=${stsId(options.stsDate ?? new Date())}`, purpose: 'mta-sts' },
  );
  return records;
}

/** A resolver asking `servers` (e.g. DNS_SERVERS; `host:port` allowed), or the system's when empty. */
export function createDnsResolver(servers: string[] = [], options: { timeoutMs?: number; tries?: number } = {}): Resolver {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 3000, tries: options.tries ?? 2 });
  if (servers.length > 0) resolver.setServers(servers);
  return resolver;
}

/** The value of tag `tag` in a `k=v; k=v` record, whitespace removed (DKIM p= may be folded). */
function tagValue(record: string, tag: string): string | undefined {
  for (const part of record.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim().toLowerCase() === tag) return part.slice(eq + 1).replace(/\s+/g, '');
  }
  return undefined;
}

function startsWithTag(record: string, version: string): boolean {
  return new RegExp(`^\\s*v\\s*=\\s*${version}(\\s|;|$)`, 'i').test(record);
}

function spfAuthorizes(spf: string, mailHostname: string | undefined): boolean {
  const terms = spf.toLowerCase().split(/\s+/).slice(1);
  if (terms.some((t) => /^[+]?mx([:/]|$)/.test(t))) return true;
  return mailHostname !== undefined && spf.toLowerCase().includes(bare(mailHostname));
}

async function checkOne(record: ExpectedRecord, dns: DnsLookup, mailHostname: string | undefined): Promise<CheckedRecord> {
  try {
    if (record.type === 'MX') {
      const mx = await dns.resolveMx(record.name);
      const found = mx.sort((a, b) => a.priority - b.priority).map((m) => `${m.priority} ${bare(m.exchange)}`);
      return { ...record, ok: mx.some((m) => bare(m.exchange) === bare(record.value)), found };
    }
    const txt = (await dns.resolveTxt(record.name)).map((chunks) => chunks.join(''));
    switch (record.purpose) {
      case 'spf': {
        const found = txt.filter((t) => startsWithTag(t, 'spf1'));
        return { ...record, ok: found.some((t) => spfAuthorizes(t, mailHostname)), found };
      }
      case 'dkim': {
        const want = tagValue(record.value, 'p');
        const found = txt.filter((t) => tagValue(t, 'p') !== undefined);
        return { ...record, ok: found.some((t) => tagValue(t, 'p') === want), found };
      }
      case 'dmarc': {
        const found = txt.filter((t) => startsWithTag(t, 'DMARC1'));
        return { ...record, ok: found.length > 0, found };
      }
      default: {
        const found = txt.filter((t) => startsWithTag(t, 'STSv1'));
        return { ...record, ok: found.length > 0, found };
      }
    }
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return { ...record, ok: false, found: [], error: typeof code === 'string' ? code : 'ERROR' };
  }
}

/**
 * Looks each expected record up. MX: one exchange is the expected host. SPF: a v=spf1 record
 * authorizing `mx` (or naming the host). DKIM: a record whose p= equals ours. DMARC / MTA-STS:
 * a v=DMARC1 / v=STSv1 record exists. Never throws for DNS failures.
 */
export async function checkRecords(records: ExpectedRecord[], dns: DnsLookup): Promise<CheckedRecord[]> {
  const mailHostname = records.find((r) => r.type === 'MX')?.value;
  return Promise.all(records.map((r) => checkOne(r, dns, mailHostname)));
}
