import type { FilterCheckJson } from '../../db/schema.js';

/**
 * The built-in content rules of the spam score (issue 11), used when no engine (rspamd) answered.
 * Few and plain on purpose: each looks at something a person can check in the message source and
 * adds the points given here. Pure: they read the raw bytes only (headers, and the body of a
 * single-part HTML message).
 */

/** The GTUBE test string: any filter scores a message carrying it as certain spam. */
export const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';

export const RULE_POINTS = {
  gtube: 1000,
  subjectCapitals: 1.5,
  noDate: 1,
  noMessageId: 1,
  htmlOnlyLink: 2,
  manyRecipients: 1.5,
} as const;

/** To + Cc addresses from this many on count as a mass mailing. */
export const MANY_RECIPIENTS = 30;

/** The header fields (unfolded, names lower case; a repeated field keeps its first value) and the body. */
function split(raw: Buffer): { headers: Map<string, string>; body: string } {
  const text = raw.toString('latin1');
  const end = /\r?\n\r?\n/.exec(text);
  const head = end ? text.slice(0, end.index) : text;
  const body = end ? text.slice(end.index + end[0].length) : '';
  const headers = new Map<string, string>();
  for (const field of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = field.indexOf(':');
    if (colon <= 0) continue;
    const name = field.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, field.slice(colon + 1).trim());
  }
  return { headers, body };
}

function decodeBody(body: string, encoding: string | undefined): string {
  const cte = (encoding ?? '').toLowerCase();
  if (cte === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('latin1');
  if (cte === 'quoted-printable') return body.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return body;
}

/** A subject of at least 10 letters with no lower-case letter ("WIN A FREE PRIZE NOW"). */
function shouted(subject: string): boolean {
  const letters = subject.replace(/[^A-Za-z]/g, '');
  return letters.length >= 10 && letters === letters.toUpperCase();
}

/** A single-part HTML message whose whole visible text is a link or little more (under 40 characters). */
function htmlOnlyLink(headers: Map<string, string>, body: string): boolean {
  if (!/^text\/html\b/i.test(headers.get('content-type') ?? '')) return false;
  const html = decodeBody(body, headers.get('content-transfer-encoding'));
  if (!/<a\s[^>]*href\s*=/i.test(html)) return false;
  const visible = html
    .replace(/<(style|script)\b[^]*?<\/\1\s*>/gi, '')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&nbsp;|\s+/g, ' ')
    .trim();
  return visible.length < 40;
}

function countAddresses(headers: Map<string, string>): number {
  return ['to', 'cc'].reduce((n, name) => n + (headers.get(name)?.match(/@/g)?.length ?? 0), 0);
}

/** The content rules that fire on this message, each with its points. */
export function contentChecks(raw: Buffer): FilterCheckJson[] {
  const { headers, body } = split(raw);
  const checks: FilterCheckJson[] = [];
  const rule = (result: string, score: number, detail: string) => checks.push({ check: 'rule', result, score, detail });
  if (raw.includes(GTUBE)) rule('gtube', RULE_POINTS.gtube, 'contains the GTUBE anti-spam test string');
  if (shouted(headers.get('subject') ?? '')) rule('subject-capitals', RULE_POINTS.subjectCapitals, 'the subject is written in capitals');
  if (!headers.has('date')) rule('no-date', RULE_POINTS.noDate, 'has no Date header');
  if (!headers.has('message-id')) rule('no-message-id', RULE_POINTS.noMessageId, 'has no Message-ID header');
  if (htmlOnlyLink(headers, body)) rule('html-only-link', RULE_POINTS.htmlOnlyLink, 'is HTML only, with little more than a link');
  const recipients = countAddresses(headers);
  if (recipients >= MANY_RECIPIENTS) rule('many-recipients', RULE_POINTS.manyRecipients, `is addressed to ${recipients} recipients at once`);
  return checks;
}
