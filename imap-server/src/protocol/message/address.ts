/**
 * RFC 5322 address lists as RFC 3501 ENVELOPE address structures: `(name adl mailbox host)`,
 * groups as a start marker `(NIL NIL "group" NIL)` and an end marker `(NIL NIL NIL NIL)`.
 * Lenient like Dovecot: a comment names an address that has no display name, a missing domain
 * or local part reads `MISSING_DOMAIN`/`MISSING_MAILBOX`, RFC 2047 encoded words stay encoded.
 */
import { imapNString } from './imap-string.js';

export interface EnvelopeAddress {
  name?: string;
  route?: string;
  mailbox?: string;
  host?: string;
}

type Token = { kind: 'word' | 'quoted'; text: string } | { kind: 'special'; text: string } | { kind: 'comment'; text: string };

const SPECIALS = '<>@,;:[]';

function tokenize(s: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
    } else if (c === '"' || c === '(') {
      const close = c === '"' ? '"' : ')';
      let depth = 0;
      let text = '';
      for (i++; i < s.length; i++) {
        const d = s[i]!;
        if (d === '\\' && i + 1 < s.length) {
          text += s[++i];
          continue;
        }
        if (c === '(' && d === '(') depth++;
        if (d === close && depth-- === 0) break;
        text += d;
      }
      i++;
      tokens.push({ kind: c === '"' ? 'quoted' : 'comment', text: c === '(' ? text.trim() : text });
    } else if (c === '[') {
      const close = s.indexOf(']', i);
      const endAt = close === -1 ? s.length : close + 1;
      tokens.push({ kind: 'word', text: s.slice(i, endAt) });
      i = endAt;
    } else if (SPECIALS.includes(c)) {
      tokens.push({ kind: 'special', text: c });
      i++;
    } else {
      let j = i;
      while (j < s.length && !' \t\r\n"()'.includes(s[j]!) && !SPECIALS.includes(s[j]!)) j++;
      tokens.push({ kind: 'word', text: s.slice(i, j) });
      i = j;
    }
  }
  return tokens;
}

const isWord = (t: Token) => t.kind === 'word' || t.kind === 'quoted';
const joinWords = (ts: Token[], sep: string) => ts.filter(isWord).map((t) => t.text).join(sep);

/** One mailbox from its tokens; undefined when they hold no address at all (e.g. only a comment). */
function toMailbox(tokens: Token[]): EnvelopeAddress | undefined {
  if (!tokens.some((t) => t.kind !== 'comment')) return undefined;
  const comments = tokens.filter((t) => t.kind === 'comment' && t.text.length > 0);
  const open = tokens.findIndex((t) => t.kind === 'special' && t.text === '<');
  let phrase = '';
  let spec = tokens;
  let route: string | undefined;
  if (open !== -1) {
    phrase = joinWords(tokens.slice(0, open), ' ');
    const close = tokens.findIndex((t, k) => k > open && t.kind === 'special' && t.text === '>');
    spec = tokens.slice(open + 1, close === -1 ? tokens.length : close);
    const colon = spec.findIndex((t) => t.kind === 'special' && t.text === ':');
    if (colon !== -1) {
      route = spec
        .slice(0, colon)
        .filter((t) => t.kind !== 'comment')
        .map((t) => t.text)
        .join('');
      spec = spec.slice(colon + 1);
    }
  }
  const at = spec.map((t) => t.kind === 'special' && t.text === '@').lastIndexOf(true);
  const local = joinWords(at === -1 ? spec : spec.slice(0, at), '');
  const domain = at === -1 ? '' : joinWords(spec.slice(at + 1), '');
  const name = phrase || comments.at(-1)?.text;
  return {
    name: name || undefined,
    route: route || undefined,
    mailbox: local || 'MISSING_MAILBOX',
    host: domain || 'MISSING_DOMAIN',
  };
}

/** Parses an address-list header value into envelope addresses (group markers included). */
export function parseAddressList(value: string): EnvelopeAddress[] {
  const out: EnvelopeAddress[] = [];
  let current: Token[] = [];
  let inAngle = false;
  let inGroup = false;
  const flush = () => {
    const mailbox = toMailbox(current);
    if (mailbox) out.push(mailbox);
    current = [];
  };
  for (const t of tokenize(value)) {
    if (t.kind === 'special') {
      if (t.text === '<') inAngle = true;
      else if (t.text === '>') inAngle = false;
      else if (!inAngle && t.text === ',') {
        flush();
        continue;
      } else if (!inAngle && !inGroup && t.text === ':') {
        out.push({ mailbox: joinWords(current, ' ') });
        current = [];
        inGroup = true;
        continue;
      } else if (!inAngle && inGroup && t.text === ';') {
        flush();
        out.push({});
        inGroup = false;
        continue;
      }
    }
    current.push(t);
  }
  flush();
  if (inGroup) out.push({});
  return out;
}

/** `((name adl mailbox host)...)`, or NIL for an empty list. */
export function formatAddresses(addresses: EnvelopeAddress[]): string {
  if (addresses.length === 0) return 'NIL';
  const items = addresses.map(
    (a) => `(${imapNString(a.name)} ${imapNString(a.route)} ${imapNString(a.mailbox)} ${imapNString(a.host)})`,
  );
  return `(${items.join('')})`;
}
