import type { ImapMessageRow } from '@mailyard/core';
import { BadCharsetError, parseSearch, type SearchKey } from '../protocol/commands/search.js';
import { formatSequenceSet, inSequenceSet } from '../protocol/commands/sequence-set.js';
import { MimeMessage } from '../protocol/message/index.js';
import type { Token } from '../protocol/parser.js';
import { withContents } from './content-batch.js';
import type { ImapSession } from './session.js';
import { no, ok, SELECTED, type CommandHandler, type Reply } from './types.js';

/**
 * SEARCH and UID SEARCH over the selected mailbox: sequence and UID sets, flags and keywords,
 * internal dates, sizes and MODSEQ are decided on the session's snapshot; FROM/TO/CC/SUBJECT/BODY
 * on the store's text columns (`searchText`); TEXT on those and the whole header; BCC, HEADER and
 * the SENT* dates (the Date header's own calendar day) on the message's own header fields, read
 * from the bytes a batch at a time (content-batch.ts: one query per 32 messages, one batch in memory).
 * `RETURN (MIN MAX COUNT ALL)` answers ESEARCH (RFC 4731), as does every SEARCH once IMAP4rev2 is
 * enabled; `RETURN (SAVE)` keeps the result for `$` (SEARCHRES, RFC 5182).
 */

const DAY = 86_400_000;
/** The calendar day of an instant in a zone (minutes east of UTC), as days since 1970-01-01. */
const dayOf = (date: Date, zone = 0) => Math.floor((date.getTime() + zone * 60_000) / DAY);

type Matcher = (row: ImapMessageRow, seq: number) => boolean;

async function compile(session: ImapSession, key: SearchKey, star: { seq: number; uid: number }): Promise<Matcher> {
  const selected = session.selected!;
  switch (key.type) {
    case 'all':
      return () => true;
    case 'none':
      return () => false;
    case 'recent':
      return (row) => selected.isRecent(row.uid);
    case 'saved':
      return (row) => selected.savedUids.has(row.uid);
    case 'seq':
      return (_row, seq) => inSequenceSet(key.set, seq, star.seq);
    case 'uid':
      return (row) => inSequenceSet(key.set, row.uid, star.uid);
    case 'flag': {
      const flag = key.flag.toLowerCase();
      return (row) => row.flags.some((f) => f.toLowerCase() === flag) === key.present;
    }
    case 'size':
      return (row) => (key.larger ? row.size > key.size : row.size < key.size);
    case 'modseq':
      return (row) => row.modseq >= key.modseq;
    case 'date': {
      const inRange = (day: number) => (key.op === 'before' ? day < key.day : key.op === 'on' ? day === key.day : day >= key.day);
      // INTERNALDATE's calendar day in the zone it was given in (RFC 3501 6.4.4: "disregarding time and timezone").
      if (!key.sent) return (row) => inRange(dayOf(row.internalDate, row.internalDateZone));
      // SENT*: the calendar date the Date header states, in its own time zone (RFC 3501 6.4.4).
      const days = new Map<number, number>();
      for await (const { row, mime } of parsed(session, selected.rows())) {
        const stated = headerDay(headerFields(mime, 'Date')[0] ?? '');
        if (stated !== null) days.set(row.id, stated);
      }
      return (row) => inRange(days.get(row.id) ?? (row.sentDate ? dayOf(row.sentDate) : dayOf(row.internalDate, row.internalDateZone)));
    }
    case 'text': {
      if (key.field === 'bcc') return compile(session, { type: 'header', name: 'Bcc', value: key.value }, star);
      const uids = new Set(await session.services.messages.searchText(session.userId, selected.id, key.field, key.value, selected.lastUid));
      if (key.field !== 'text') return (row) => uids.has(row.uid);
      // TEXT is the whole header as well as the body: fields the store does not index count too.
      const wanted = key.value.toLowerCase();
      for await (const { row, mime } of parsed(session, selected.rows().filter((r) => !uids.has(r.uid)))) {
        if (headerFields(mime, null).some((v) => v.toLowerCase().includes(wanted))) uids.add(row.uid);
      }
      return (row) => uids.has(row.uid);
    }
    case 'header': {
      const wanted = key.value.toLowerCase();
      const matching = new Set<number>();
      for await (const { row, mime } of parsed(session, selected.rows())) {
        if (headerFields(mime, key.name).some((v) => v.toLowerCase().includes(wanted))) matching.add(row.id);
      }
      return (row) => matching.has(row.id);
    }
    case 'not': {
      const inner = await compile(session, key.key, star);
      return (row, seq) => !inner(row, seq);
    }
    case 'or': {
      const a = await compile(session, key.a, star);
      const b = await compile(session, key.b, star);
      return (row, seq) => a(row, seq) || b(row, seq);
    }
    case 'and': {
      const all: Matcher[] = [];
      for (const k of key.keys) all.push(await compile(session, k, star));
      return (row, seq) => all.every((m) => m(row, seq));
    }
  }
}

/**
 * The messages of `rows` parsed, in order, their bytes loaded a batch at a time; one deleted
 * meanwhile is left out (it matches nothing). Each criterion reads its own pass: nothing is cached
 * across criteria, so memory stays one batch whatever the mailbox size.
 */
async function* parsed(session: ImapSession, rows: readonly ImapMessageRow[]): AsyncGenerator<{ row: ImapMessageRow; mime: MimeMessage }> {
  for await (const { row, content } of withContents(session, rows)) yield { row, mime: MimeMessage.parse(content) };
}

/** The unfolded values of a message's header field (every field when `name` is null). */
function headerFields(mime: MimeMessage, name: string | null): string[] {
  const header = mime.section(name === null ? { path: [], kind: 'HEADER' } : { path: [], kind: 'HEADER.FIELDS', fields: [name] }).toString('utf8');
  return header
    .replace(/\r?\n[ \t]+/g, ' ')
    .split(/\r?\n/)
    .filter(Boolean)
    .map((l) => l.slice(l.indexOf(':') + 1).trim());
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** The day number of the date a Date header states (`Sat, 24 Mar 2007 23:00:00 +0200` → 24 Mar 2007), or null. */
function headerDay(value: string): number | null {
  const m = /(\d{1,2})\s+([A-Za-z]{3})[a-z]*\s+(\d{2,4})/.exec(value);
  const month = m ? MONTHS.indexOf(m[2]!.toLowerCase()) : -1;
  if (!m || month < 0) return null;
  const year = Number(m[3]) < 100 ? Number(m[3]) + (Number(m[3]) < 50 ? 2000 : 1900) : Number(m[3]);
  return Math.floor(Date.UTC(year, month, Number(m[1])) / DAY);
}

export function usesModseq(key: SearchKey): boolean {
  if (key.type === 'modseq') return true;
  if (key.type === 'not') return usesModseq(key.key);
  if (key.type === 'or') return usesModseq(key.a) || usesModseq(key.b);
  if (key.type === 'and') return key.keys.some(usesModseq);
  return false;
}

/** The selected mailbox's messages that match `key`, in sequence order, with their sequence numbers (SEARCH and SORT). */
export async function matchingMessages(session: ImapSession, key: SearchKey): Promise<Array<{ row: ImapMessageRow; seq: number }>> {
  if (usesModseq(key)) await session.enableCondstore();
  const selected = session.selected!;
  const rows = selected.rows();
  const matcher = await compile(session, key, { seq: rows.length, uid: selected.lastUid });
  const matches: Array<{ row: ImapMessageRow; seq: number }> = [];
  rows.forEach((row, i) => {
    if (matcher(row, i + 1)) matches.push({ row, seq: i + 1 });
  });
  return matches;
}

/** Whether a SEARCH asks to save its result: `RETURN (... SAVE ...)`, read from the raw tokens (so a failed parse knows too). */
function asksToSave(tokens: readonly Token[]): boolean {
  const [first, list] = tokens;
  return first?.type === 'atom' && first.value.toUpperCase() === 'RETURN' && list?.type === 'list' && list.items.some((t) => t.type === 'atom' && t.value.toUpperCase() === 'SAVE');
}

async function search(session: ImapSession, tokens: readonly Token[], tag: string, byUid: boolean): Promise<Reply> {
  const selected = session.selected!;
  const saves = asksToSave(tokens);
  try {
    const reply = await answerSearch(session, tokens, tag, byUid);
    if (reply.status !== 'OK' && saves) selected.savedUids = new Set();
    return reply;
  } catch (err) {
    // A SEARCH (SAVE) that fails leaves `$` empty (RFC 5182 2.1).
    if (saves) selected.savedUids = new Set();
    throw err;
  }
}

async function answerSearch(session: ImapSession, tokens: readonly Token[], tag: string, byUid: boolean): Promise<Reply> {
  let command;
  try {
    command = parseSearch(tokens, tag);
  } catch (err) {
    if (err instanceof BadCharsetError) return no(`Charset ${err.message} is not supported`, 'BADCHARSET (UTF-8 US-ASCII)');
    throw err;
  }
  const matches = await matchingMessages(session, command.key);
  const hits = matches.map((m) => m.row);
  const numbers = matches.map((m) => (byUid ? m.row.uid : m.seq));
  // IMAP4rev2 answers a plain SEARCH with ESEARCH (RFC 9051 6.4.4), as RETURN () would be.
  const asked = command.returns ?? (session.rev2 ? [] : undefined);
  const returns = asked && (asked.length === 0 ? ['ALL'] : asked);
  // With MIN and/or MAX but neither ALL nor COUNT, only those messages count: MODSEQ is theirs
  // (RFC 7162 3.1.5) and SAVE keeps them alone (RFC 5182 2.4).
  const extremesOnly = returns && !returns.includes('ALL') && !returns.includes('COUNT') && (returns.includes('MIN') || returns.includes('MAX'));
  const reported = extremesOnly && hits.length > 0 ? [...(returns.includes('MIN') ? [hits[0]!] : []), ...(returns.includes('MAX') ? [hits.at(-1)!] : [])] : hits;
  if (returns?.includes('SAVE')) session.selected!.savedUids = new Set(reported.map((h) => h.uid));
  const modseq = usesModseq(command.key) && reported.length > 0 ? Math.max(...reported.map((h) => h.modseq)) : null;
  // SAVE alone: no ESEARCH (RFC 5182 2.1).
  if (returns && returns.every((r) => r === 'SAVE')) return ok(`${byUid ? 'UID ' : ''}SEARCH completed`);
  if (returns) {
    const data: string[] = [];
    if (numbers.length > 0) {
      if (returns.includes('MIN')) data.push(`MIN ${Math.min(...numbers)}`);
      if (returns.includes('MAX')) data.push(`MAX ${Math.max(...numbers)}`);
      if (returns.includes('ALL')) data.push(`ALL ${formatSequenceSet(numbers)}`);
    }
    if (returns.includes('COUNT')) data.push(`COUNT ${numbers.length}`);
    if (modseq !== null) data.push(`MODSEQ ${modseq}`);
    await session.send(`* ESEARCH (TAG "${tag}")${byUid ? ' UID' : ''}${data.map((d) => ` ${d}`).join('')}`);
  } else {
    await session.send(`* SEARCH${numbers.map((n) => ` ${n}`).join('')}${modseq !== null ? ` (MODSEQ ${modseq})` : ''}`);
  }
  return ok(`${byUid ? 'UID ' : ''}SEARCH completed`);
}

export const searchCommand: CommandHandler = {
  states: SELECTED,
  expungeAllowed: false,
  run: (session, args, command) => search(session, command.args, args.tag, false),
};
export const uidSearch: CommandHandler = {
  states: SELECTED,
  run: (session, args, command) => search(session, command.args, args.tag, true),
};
