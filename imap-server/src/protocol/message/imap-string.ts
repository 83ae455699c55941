/**
 * IMAP string syntax for FETCH replies (RFC 3501 section 4.3): a quoted string when the value is
 * plain printable ASCII, a literal otherwise. Literal lengths count UTF-8 bytes, so the returned
 * text must be written to the socket as UTF-8.
 */

// Anything that cannot go inside a quoted string as is: CR, LF, quotes, backslash, 8-bit.
const NEEDS_LITERAL = /[\r\n"\\\u0080-\uffff]/;

/** `"value"` or `{n}\r\nvalue`. NUL bytes, which no IMAP string may hold, are dropped. */
export function imapString(value: string): string {
  const clean = value.includes('\0') ? value.replace(/\0/g, '') : value;
  if (!NEEDS_LITERAL.test(clean)) return `"${clean}"`;
  return `{${Buffer.byteLength(clean, 'utf8')}}\r\n${clean}`;
}

/** A string, or NIL when there is none. */
export function imapNString(value: string | undefined): string {
  return value === undefined ? 'NIL' : imapString(value);
}
