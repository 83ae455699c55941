/**
 * The mbox format (mboxrd, as mutt, Thunderbird and Google Takeout read it): each message starts
 * with a `From <sender> <asctime date>` line, its body lines that start with `>*From ` get one
 * more `>` (so no body line can pass for a separator; reading takes one off again), and a blank
 * line ends it. Lines end in LF in the file; messages are stored with CRLF.
 */

import { AppError } from '../../errors.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `Sat Dec  5 10:00:00 2026`, in UTC. */
export function asctime(date: Date): string {
  return `${DAYS[date.getUTCDay()]} ${MONTHS[date.getUTCMonth()]} ${String(date.getUTCDate()).padStart(2, ' ')} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} ${date.getUTCFullYear()}`;
}

const SEPARATOR = /^From (\S*)\s+(?:\w{3} )?(\w{3}) +(\d{1,2}) (\d{1,2}):(\d{2})(?::(\d{2}))? (?:[A-Z]{3,4} |[+-]\d{4} )?(\d{4})\s*$/;

/** The date of a `From ` separator line, read as UTC; null when the line is not one. */
export function parseSeparator(line: string): { date: Date } | null {
  const m = SEPARATOR.exec(line);
  if (!m) return null;
  const month = MONTHS.indexOf(m[2]!);
  if (month < 0) return null;
  const date = new Date(Date.UTC(Number(m[7]), month, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0)));
  return Number.isNaN(date.getTime()) ? null : { date };
}

/** One message as mbox text: the separator, the lines with LF endings and `From ` quoted, a blank line. */
export function toMboxEntry(message: Buffer, options: { sender?: string; date: Date }): Buffer {
  const sender = options.sender && /^[^\s]+$/.test(options.sender) ? options.sender : 'MAILER-DAEMON';
  const text = message.toString('latin1').replace(/\r\n/g, '\n');
  const quoted = text.replace(/^(>*From )/gm, '>$1');
  const body = quoted.endsWith('\n') ? quoted : `${quoted}\n`;
  return Buffer.from(`From ${sender} ${asctime(options.date)}\n${body}\n`, 'latin1');
}

export interface MboxMessage {
  /** The message with CRLF line endings and the `>From ` quoting taken off. */
  raw: Buffer;
  /** From the separator line. */
  date: Date;
  /** Its position: the byte offset of its separator in the file. */
  offset: number;
}

/**
 * Reads messages from an mbox stream one at a time, holding one message in memory. A `From ` line
 * counts as a separator at the start of the file or after a blank line, and only when it parses.
 * Anything else before the first separator is refused (AppError 'import.invalid').
 */
export async function* readMbox(input: AsyncIterable<Buffer>): AsyncGenerator<MboxMessage> {
  let pending: Buffer = Buffer.alloc(0);
  let lines: string[] = [];
  let current: { date: Date; offset: number } | null = null;
  let position = 0;
  let previousBlank = true;

  const finish = (): MboxMessage | null => {
    if (!current) return null;
    // The blank line before the next separator belongs to the format, not the message.
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    const text = lines.map((l) => l.replace(/^>(>*From )/, '$1')).join('\r\n');
    return { raw: Buffer.from(`${text}\r\n`, 'latin1'), date: current.date, offset: current.offset };
  };

  const take = function* (line: string, offset: number): Generator<MboxMessage> {
    const separator = previousBlank && line.startsWith('From ') ? parseSeparator(line) : null;
    if (separator) {
      const done = finish();
      if (done) yield done;
      current = { date: separator.date, offset };
      lines = [];
    } else if (current) {
      lines.push(line);
    } else if (line.trim() !== '') {
      throw new AppError('import.invalid', 'not an mbox file: it does not start with a "From " line', 400);
    }
    previousBlank = line === '';
  };

  for await (const chunk of input) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let start = 0;
    for (let nl = pending.indexOf(10, start); nl >= 0; nl = pending.indexOf(10, start)) {
      const end = nl > start && pending[nl - 1] === 13 ? nl - 1 : nl;
      yield* take(pending.toString('latin1', start, end), position + start);
      start = nl + 1;
    }
    position += start;
    pending = pending.subarray(start);
  }
  if (pending.length > 0) yield* take(pending.toString('latin1'), position);
  const last = finish();
  if (last) yield last;
}
