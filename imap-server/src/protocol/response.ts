import { encodeMailboxName } from './mutf7.js';

/**
 * How the server writes IMAP data: strings as quoted strings when they are short 7-bit text and
 * as literals otherwise, flag lists, mailbox names (modified UTF-7, or UTF-8 for IMAP4rev2), dates. A response is
 * built from parts (text and bytes) so message content is never copied into a string.
 */

export type Part = string | Buffer;

/** `{n}` CRLF and the bytes. */
export function literal(bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`{${bytes.length}}\r\n`), bytes]);
}

/** A BINARY[] value (RFC 3516): a literal8 `~{n}` when the bytes hold NUL, else a literal. */
export function binaryLiteral(bytes: Buffer): Buffer {
  return bytes.includes(0) ? Buffer.concat([Buffer.from(`~{${bytes.length}}\r\n`), bytes]) : literal(bytes);
}

/** A string: quoted when it is printable ASCII (and short), else a literal. */
export function imapString(value: string | Buffer): Part {
  const text = typeof value === 'string' ? value : value.toString('latin1');
  if (text.length <= 1000 && /^[\x20-\x7e]*$/.test(text)) return `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  return literal(typeof value === 'string' ? Buffer.from(value, 'utf8') : value);
}

/** A mailbox name: modified UTF-7, or with `utf8` (IMAP4rev2) UTF-8, quoted unless it holds control characters. */
export function mailboxName(name: string, utf8 = false): Part {
  if (!utf8) return imapString(encodeMailboxName(name));
  if (name.length <= 1000 && !/\p{Cc}/u.test(name)) return `"${name.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  return literal(Buffer.from(name, 'utf8'));
}

export function flagList(flags: readonly string[]): string {
  return `(${flags.join(' ')})`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** INTERNALDATE as `"dd-Mon-yyyy hh:mm:ss +hhmm"`, in the zone `zone` (minutes east of UTC; 0: UTC). */
export function internalDate(date: Date, zone = 0): string {
  const local = new Date(date.getTime() + zone * 60_000);
  const offset = `${zone < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(zone) / 60))}${pad(Math.abs(zone) % 60)}`;
  return `"${pad(local.getUTCDate())}-${MONTHS[local.getUTCMonth()]}-${local.getUTCFullYear()} ${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())} ${offset}"`;
}

/** Joins parts into one buffer: each run of text parts is encoded once, so the bytes are copied once more at most. */
export function joinParts(parts: readonly Part[]): Buffer {
  const chunks: Buffer[] = [];
  let text = '';
  for (const part of parts) {
    if (typeof part === 'string') text += part;
    else {
      if (text.length > 0) chunks.push(Buffer.from(text, 'utf8'));
      text = '';
      chunks.push(part);
    }
  }
  if (chunks.length === 0) return Buffer.from(text, 'utf8');
  if (text.length > 0) chunks.push(Buffer.from(text, 'utf8'));
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}
