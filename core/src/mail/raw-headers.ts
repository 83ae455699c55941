/**
 * Byte-level work on a message's header section, leaving everything else byte-exact (a DKIM
 * signature covers the body; the submission path only adds or drops whole header fields).
 */

/** Where the header section ends: the index of the empty line's first byte, and its length. */
function headerEnd(raw: Buffer): { end: number; separator: number } {
  let pos = 0;
  while (pos < raw.length) {
    if (raw[pos] === 0x0a) return { end: pos, separator: 1 };
    if (raw[pos] === 0x0d && raw[pos + 1] === 0x0a) return { end: pos, separator: 2 };
    const eol = raw.indexOf(0x0a, pos);
    if (eol === -1) break;
    pos = eol + 1;
  }
  return { end: raw.length, separator: 0 };
}

/** The header section (with its final line break, without the empty line) and the body. */
export function splitMessage(raw: Buffer): { header: Buffer; body: Buffer } {
  const { end, separator } = headerEnd(raw);
  return { header: raw.subarray(0, end), body: raw.subarray(end + separator) };
}

export interface HeaderField {
  /** Lower-cased field name. */
  name: string;
  /** The whole field as it appears, folding and line breaks included. */
  raw: string;
  /** The value, unfolded and trimmed. */
  value: string;
}

/** The header fields in order (latin1, so bytes survive the round trip). */
export function headerFields(header: Buffer): HeaderField[] {
  const text = header.toString('latin1');
  const fields: HeaderField[] = [];
  for (const part of text.split(/(?=\r?\n(?![ \t]))/)) {
    const field = part.replace(/^\r?\n/, '');
    if (field.trim() === '') continue;
    const colon = field.indexOf(':');
    if (colon <= 0) continue;
    fields.push({ name: field.slice(0, colon).trim().toLowerCase(), raw: field, value: field.slice(colon + 1).replace(/\r?\n[ \t]/g, ' ').trim() });
  }
  return fields;
}

/** RFC 5321 §6.3: a message with more Received fields than this is taken to be in a mail loop. */
export const MAX_RECEIVED_FIELDS = 50;

/** How many fields named `name` (any case) the header section holds; the body is not looked at. */
export function countHeaderFields(raw: Buffer, name: string): number {
  const wanted = name.toLowerCase();
  return headerFields(splitMessage(raw).header).filter((f) => f.name === wanted).length;
}

/** True when the message carries more than MAX_RECEIVED_FIELDS Received fields (a loop: `554 5.4.6`). */
export function isMailLoop(raw: Buffer): boolean {
  return countHeaderFields(raw, 'received') > MAX_RECEIVED_FIELDS;
}

/**
 * The message with the fields named in `drop` removed and `prepend` lines (no line breaks; CRLF
 * added) put first. The body is untouched.
 */
export function rewriteHeader(raw: Buffer, options: { drop?: string[]; prepend?: string[] }): Buffer {
  const { header, body } = splitMessage(raw);
  const drop = new Set((options.drop ?? []).map((n) => n.toLowerCase()));
  const kept = headerFields(header).filter((f) => !drop.has(f.name));
  const lines = [...(options.prepend ?? []), ...kept.map((f) => f.raw.replace(/\r?\n$/, ''))];
  return Buffer.concat([Buffer.from(lines.map((l) => `${l.replace(/\r?\n$/, '')}\r\n`).join(''), 'latin1'), Buffer.from('\r\n'), body]);
}
