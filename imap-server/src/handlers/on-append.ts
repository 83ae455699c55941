import { flagArgs } from '../protocol/commands/args.js';
import { ImapParseError } from '../protocol/parser.js';
import { no, ok, AUTHENTICATED, type CommandHandler } from './types.js';

/**
 * APPEND (one message: flags, date, literal; UIDPLUS APPENDUID) through the mailbox writer, so
 * threading, counters and events apply. To Sent, a message whose Message-ID is already there gets
 * the existing copy's UID (clients save what they just sent; the submission made that copy).
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `" 1-Feb-2026 10:00:00 +0100"` (date-time, RFC 3501). */
export function parseDateTime(text: string, tag: string): Date {
  const m = /^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(text);
  const month = m ? MONTHS.findIndex((x) => x.toLowerCase() === m[2]!.toLowerCase()) : -1;
  if (!m || month < 0) throw new ImapParseError(`invalid date-time ${JSON.stringify(text.slice(0, 40))}`, tag);
  const offset = (m[7] === '-' ? -1 : 1) * (Number(m[8]) * 60 + Number(m[9])) * 60_000;
  const date = new Date(Date.UTC(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6])) - offset);
  if (Number.isNaN(date.getTime())) throw new ImapParseError('invalid date-time', tag);
  return date;
}

export const append: CommandHandler = {
  states: AUTHENTICATED,
  async run(session, args) {
    const name = args.mailbox();
    const flagTokens = args.optionalList();
    const flags = flagTokens ? flagArgs(flagTokens, args.tag) : [];
    let internalDate: Date | undefined;
    if (args.remaining > 1) {
      const token = args.token('date-time');
      if (token.type !== 'string') return args.fail('the date-time must be a quoted string');
      internalDate = parseDateTime(token.value.toString('latin1'), args.tag);
    }
    const message = args.token('message literal');
    if (message.type !== 'string') return args.fail('the message must be a literal');
    args.end();
    if (flags.some((f) => f.toLowerCase() === '\\recent')) args.fail('\\Recent cannot be set');
    const mailbox = await session.services.mailboxes.find(session.userId, name);
    if (!mailbox) return no('No such mailbox', 'TRYCREATE');
    if (message.value.length === 0) return no('Empty message', 'CANNOT');
    const result = await session.services.messages.append(session.userId, mailbox.id, { raw: message.value, flags, ...(internalDate ? { internalDate } : {}) });
    if (session.selected?.id === mailbox.id) session.selected.expectNew();
    return ok(result.duplicate ? 'APPEND completed (already in Sent)' : 'APPEND completed', `APPENDUID ${result.uidvalidity} ${result.uid}`);
  },
};
