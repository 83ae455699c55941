import { ImapParseError, type Token } from '../parser.js';
import { parseNumber, tokenText } from './args.js';
import { parseSequenceSet, type SequenceSet } from './sequence-set.js';

/**
 * SEARCH criteria (RFC 3501 6.4.4, RFC 7162 MODSEQ, RFC 5182's `$`) into a tree the session
 * evaluates, and the ESEARCH `RETURN (...)` options (RFC 4731, SEARCHRES's SAVE). Dates are the
 * day only (`1-Feb-2026`), compared in UTC.
 */

export type TextField = 'from' | 'to' | 'cc' | 'bcc' | 'subject' | 'body' | 'text';
export type DateOp = 'before' | 'on' | 'since';

export type SearchKey =
  | { type: 'all' }
  | { type: 'none' }
  | { type: 'recent' }
  /** `$`: the saved search result (SEARCHRES). */
  | { type: 'saved' }
  | { type: 'seq'; set: SequenceSet }
  | { type: 'uid'; set: SequenceSet }
  | { type: 'flag'; flag: string; present: boolean }
  | { type: 'text'; field: TextField; value: string }
  | { type: 'header'; name: string; value: string }
  | { type: 'date'; sent: boolean; op: DateOp; day: number }
  | { type: 'size'; larger: boolean; size: number }
  | { type: 'modseq'; modseq: number }
  | { type: 'not'; key: SearchKey }
  | { type: 'or'; a: SearchKey; b: SearchKey }
  | { type: 'and'; keys: SearchKey[] };

export type ReturnOption = 'MIN' | 'MAX' | 'COUNT' | 'ALL' | 'SAVE';

export interface SearchCommand {
  /** Present: answer ESEARCH with these (ALL when the list is empty). */
  returns?: ReturnOption[];
  key: SearchKey;
}

const FLAG_KEYS: Record<string, { flag: string; present: boolean }> = {
  ANSWERED: { flag: '\\Answered', present: true },
  UNANSWERED: { flag: '\\Answered', present: false },
  DELETED: { flag: '\\Deleted', present: true },
  UNDELETED: { flag: '\\Deleted', present: false },
  DRAFT: { flag: '\\Draft', present: true },
  UNDRAFT: { flag: '\\Draft', present: false },
  FLAGGED: { flag: '\\Flagged', present: true },
  UNFLAGGED: { flag: '\\Flagged', present: false },
  SEEN: { flag: '\\Seen', present: true },
  UNSEEN: { flag: '\\Seen', present: false },
};
const TEXT_KEYS: Record<string, TextField> = { FROM: 'from', TO: 'to', CC: 'cc', BCC: 'bcc', SUBJECT: 'subject', BODY: 'body', TEXT: 'text' };
const DATE_KEYS: Record<string, { sent: boolean; op: DateOp }> = {
  BEFORE: { sent: false, op: 'before' },
  ON: { sent: false, op: 'on' },
  SINCE: { sent: false, op: 'since' },
  SENTBEFORE: { sent: true, op: 'before' },
  SENTON: { sent: true, op: 'on' },
  SENTSINCE: { sent: true, op: 'since' },
};
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

/** `1-Feb-2026` → the UTC day number (days since the epoch). */
export function parseSearchDate(text: string, tag: string | null): number {
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(text);
  const month = m ? MONTHS.indexOf(m[2]!.toUpperCase()) : -1;
  if (!m || month < 0) throw new ImapParseError(`invalid date ${JSON.stringify(text.slice(0, 30))}`, tag);
  return Date.UTC(Number(m[3]), month, Number(m[1])) / 86_400_000;
}

class KeyReader {
  i = 0;
  constructor(
    readonly tokens: readonly Token[],
    readonly tag: string | null,
  ) {}
  fail(message: string): never {
    throw new ImapParseError(message, this.tag);
  }
  nextToken(what: string): Token {
    const t = this.tokens[this.i++];
    if (!t) this.fail(`missing ${what}`);
    return t;
  }
  text(what: string): string {
    return tokenText(this.nextToken(what), what, this.tag);
  }
}

function readKey(r: KeyReader): SearchKey {
  const token = r.nextToken('search key');
  if (token.type === 'list') return readAll(new KeyReader(token.items, r.tag));
  if (token.type === 'string') r.fail('a search key must be an atom');
  const word = token.value.toUpperCase();
  if (word === 'ALL') return { type: 'all' };
  if (word === 'RECENT') return { type: 'recent' };
  if (word === 'OLD') return { type: 'not', key: { type: 'recent' } };
  if (word === 'NEW') return { type: 'and', keys: [{ type: 'recent' }, { type: 'flag', flag: '\\Seen', present: false }] };
  if (FLAG_KEYS[word]) return { type: 'flag', ...FLAG_KEYS[word] };
  if (word === 'KEYWORD' || word === 'UNKEYWORD') return { type: 'flag', flag: r.text('keyword'), present: word === 'KEYWORD' };
  if (TEXT_KEYS[word]) return { type: 'text', field: TEXT_KEYS[word], value: r.text('search text') };
  if (word === 'HEADER') return { type: 'header', name: r.text('header name'), value: r.text('header text') };
  if (DATE_KEYS[word]) return { type: 'date', ...DATE_KEYS[word], day: parseSearchDate(r.text('date'), r.tag) };
  if (word === 'LARGER' || word === 'SMALLER') return { type: 'size', larger: word === 'LARGER', size: parseNumber(r.text('size'), 'size', r.tag) };
  if (word === '$') return { type: 'saved' };
  if (word === 'UID') {
    const set = r.text('UID set');
    return set === '$' ? { type: 'saved' } : { type: 'uid', set: parseSequenceSet(set, r.tag) };
  }
  if (word === 'NOT') return { type: 'not', key: readKey(r) };
  if (word === 'OR') return { type: 'or', a: readKey(r), b: readKey(r) };
  if (word === 'MODSEQ') {
    // MODSEQ [<entry-name> <entry-type>] <mod-sequence-valzer>
    const first = r.text('modseq');
    if (first.startsWith('/') || first.startsWith('"')) {
      r.text('entry type');
      return { type: 'modseq', modseq: parseNumber(r.text('modseq'), 'modseq', r.tag) };
    }
    return { type: 'modseq', modseq: parseNumber(first, 'modseq', r.tag) };
  }
  if (/^[\d*]/.test(word)) return { type: 'seq', set: parseSequenceSet(token.value, r.tag) };
  return r.fail(`unknown search key ${JSON.stringify(token.value.slice(0, 30))}`);
}

function readAll(r: KeyReader): SearchKey {
  const keys: SearchKey[] = [];
  while (r.i < r.tokens.length) keys.push(readKey(r));
  if (keys.length === 0) r.fail('missing search key');
  return keys.length === 1 ? keys[0]! : { type: 'and', keys };
}

/** A SEARCH command's arguments: `[RETURN (...)] [CHARSET <name>] <keys>`. Throws 'imap.badcharset' for charsets other than UTF-8/US-ASCII. */
export function parseSearch(tokens: readonly Token[], tag: string | null): SearchCommand {
  let i = 0;
  const out: SearchCommand = { key: { type: 'all' } };
  const first = tokens[0];
  if (first?.type === 'atom' && first.value.toUpperCase() === 'RETURN') {
    const list = tokens[1];
    if (list?.type !== 'list') throw new ImapParseError('RETURN needs a list', tag);
    out.returns = list.items.map((t) => {
      const v = tokenText(t, 'return option', tag).toUpperCase();
      if (!['MIN', 'MAX', 'COUNT', 'ALL', 'SAVE'].includes(v)) throw new ImapParseError(`unknown RETURN option ${v.slice(0, 20)}`, tag);
      return v as ReturnOption;
    });
    i = 2;
  }
  const charset = tokens[i];
  if (charset?.type === 'atom' && charset.value.toUpperCase() === 'CHARSET') {
    const name = tokens[i + 1] ? tokenText(tokens[i + 1]!, 'charset', tag).toUpperCase() : '';
    if (!name) throw new ImapParseError('missing charset', tag);
    if (name !== 'UTF-8' && name !== 'US-ASCII') throw new BadCharsetError(name);
    i += 2;
  }
  out.key = readAll(new KeyReader(tokens.slice(i), tag));
  return out;
}

export class BadCharsetError extends Error {
  readonly code = 'imap.badcharset';
}
