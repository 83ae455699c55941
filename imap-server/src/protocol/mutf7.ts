/**
 * Modified UTF-7 (RFC 3501 section 5.1.3), the encoding of mailbox names on the wire: printable
 * ASCII stands for itself except `&`, which is `&-`; any other run of characters is `&`, its
 * UTF-16BE code units in base64 with `,` for `/` and no padding, then `-`.
 */

export class MailboxNameEncodingError extends Error {
  readonly code = 'imap.mailbox_name_encoding';
}

const isDirect = (code: number) => code >= 0x20 && code <= 0x7e;

export function encodeMailboxName(name: string): string {
  let out = '';
  let pending: number[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    const bytes = Buffer.alloc(pending.length * 2);
    pending.forEach((unit, i) => bytes.writeUInt16BE(unit, i * 2));
    out += `&${bytes.toString('base64').replace(/=+$/, '').replace(/\//g, ',')}-`;
    pending = [];
  };
  for (let i = 0; i < name.length; i++) {
    const unit = name.charCodeAt(i);
    if (isDirect(unit)) {
      flush();
      out += unit === 0x26 ? '&-' : name[i];
    } else pending.push(unit);
  }
  flush();
  return out;
}

/** Decodes a wire name; throws MailboxNameEncodingError on a malformed `&...-` run. */
export function decodeMailboxName(wire: string): string {
  let out = '';
  for (let i = 0; i < wire.length; i++) {
    const c = wire[i]!;
    const code = wire.charCodeAt(i);
    if (!isDirect(code)) throw new MailboxNameEncodingError('mailbox names are 7-bit (modified UTF-7)');
    if (c !== '&') {
      out += c;
      continue;
    }
    const end = wire.indexOf('-', i + 1);
    if (end < 0) throw new MailboxNameEncodingError('unterminated &-sequence in a mailbox name');
    const run = wire.slice(i + 1, end);
    i = end;
    if (run === '') {
      out += '&';
      continue;
    }
    if (!/^[A-Za-z0-9+,]+$/.test(run)) throw new MailboxNameEncodingError('invalid modified base64 in a mailbox name');
    const bytes = Buffer.from(run.replace(/,/g, '/'), 'base64');
    if (bytes.length % 2 !== 0 || bytes.length === 0) throw new MailboxNameEncodingError('invalid UTF-16 in a mailbox name');
    let decoded = '';
    for (let j = 0; j < bytes.length; j += 2) decoded += String.fromCharCode(bytes.readUInt16BE(j));
    out += decoded;
  }
  return out;
}
