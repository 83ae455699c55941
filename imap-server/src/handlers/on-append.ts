import type { ImapAppendInput } from '@mailyard/core';
import { flagArgs } from '../protocol/commands/args.js';
import { encodeBinaryParts } from '../protocol/message/index.js';
import { ImapParseError } from '../protocol/parser.js';
import { no, ok, AUTHENTICATED, type CommandHandler } from './types.js';

/**
 * APPEND and MULTIAPPEND (flags, date, literal per message; UIDPLUS APPENDUID) through the mailbox writer, so
 * threading, counters and events apply. To Sent, a message whose Message-ID is already there gets
 * the existing copy's UID (clients save what they just sent; the submission made that copy).
 * A message sent as a literal8 (BINARY, RFC 3516) may hold NUL: its binary parts are stored in base64.
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** An APPEND date-time, `" 1-Feb-2026 10:00:00 +0100"` (RFC 3501): the instant, and the zone it was given in (minutes east of UTC). */
export function parseDateTime(text: string, tag: string): { date: Date; zone: number } {
  const m = /^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(text);
  const month = m ? MONTHS.findIndex((x) => x.toLowerCase() === m[2]!.toLowerCase()) : -1;
  if (!m || month < 0) throw new ImapParseError(`invalid date-time ${JSON.stringify(text.slice(0, 40))}`, tag);
  const zone = (m[7] === '-' ? -1 : 1) * (Number(m[8]) * 60 + Number(m[9]));
  if (Number(m[9]) > 59 || Math.abs(zone) > 1439) throw new ImapParseError(`invalid zone in date-time ${JSON.stringify(text.slice(0, 40))}`, tag);
  const date = new Date(Date.UTC(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6])) - zone * 60_000);
  if (Number.isNaN(date.getTime())) throw new ImapParseError('invalid date-time', tag);
  return { date, zone };
}

export const append: CommandHandler = {
  states: AUTHENTICATED,
  async run(session, args) {
    const first = args.peek();
    if (first?.type === 'string' && first.literal8) args.fail('a literal8 (~{n}) is allowed only for APPEND message data');
    const name = args.mailbox();
    // APPEND takes one message; MULTIAPPEND (RFC 3502) more, each with its own flags and date.
    const messages: ImapAppendInput[] = [];
    let unstorable = false;
    do {
      const flagTokens = args.optionalList();
      const flags = flagTokens ? flagArgs(flagTokens, args.tag) : [];
      if (flags.some((f) => f.toLowerCase() === '\\recent')) args.fail('\\Recent cannot be set');
      let internalDate: { date: Date; zone: number } | undefined;
      const next = args.peek();
      if (next?.type === 'string' && !next.literal) {
        const token = args.token('date-time');
        if (token.type !== 'string') return args.fail('the date-time must be a quoted string');
        internalDate = parseDateTime(token.value.toString('latin1'), args.tag);
      }
      const message = args.token('message literal');
      if (message.type !== 'string' || !message.literal) return args.fail('the message must be a literal');
      const raw = message.literal8 ? encodeBinaryParts(message.value) : message.value;
      if (!raw) unstorable = true;
      messages.push({ raw: raw ?? message.value, flags, ...(internalDate ? { internalDate: internalDate.date, internalDateZone: internalDate.zone } : {}) });
    } while (args.remaining > 0);
    args.end();
    const mailbox = await session.services.mailboxes.find(session.userId, name);
    if (!mailbox) return no('No such mailbox', 'TRYCREATE');
    if (messages.some((m) => m.raw.length === 0)) return no('Empty message', 'CANNOT');
    if (unstorable) return no('NUL outside a binary MIME part cannot be stored', 'UNKNOWN-CTE');
    const result = await session.services.messages.append(session.userId, mailbox, messages);
    if (session.selected?.id === mailbox.id) session.noteOwnAppend(session.selected, result.appended);
    const uids = result.appended.map((a) => a.uid);
    const already = result.appended.every((a) => a.duplicate);
    return ok(already ? 'APPEND completed (already in Sent)' : 'APPEND completed', `APPENDUID ${result.uidvalidity} ${uidSet(uids)}`);
  },
};

/** UIDs as an IMAP uid-set, runs of consecutive UIDs as ranges (`5:7,9`). */
function uidSet(uids: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < uids.length; ) {
    let j = i;
    while (j + 1 < uids.length && uids[j + 1] === uids[j]! + 1) j++;
    parts.push(j > i ? `${uids[i]}:${uids[j]}` : String(uids[i]));
    i = j + 1;
  }
  return parts.join(',');
}
