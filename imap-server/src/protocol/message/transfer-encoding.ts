/**
 * Content-Transfer-Encoding (RFC 2045 section 6) for BINARY (RFC 3516): removing base64 and
 * quoted-printable, the identity encodings (7bit, 8bit, binary) left as they are; and base64 lines
 * for storing a binary part that came in an APPEND literal8. Lenient like the readers mail meets:
 * stray characters in base64 are skipped, an `=` not followed by two hex digits is kept as is.
 */

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const TAB = 0x09;
const EQ = 0x3d;

/** Encodings that leave the bytes as they are; an absent header means 7bit. */
export function isIdentityEncoding(encoding: string | undefined): boolean {
  return encoding === undefined || encoding === '' || ['7bit', '8bit', 'binary'].includes(encoding.toLowerCase());
}

/** The bytes with `encoding` (a Content-Transfer-Encoding value) removed; null when it is not one we know. */
export function decodeTransferEncoding(encoding: string | undefined, body: Buffer): Buffer | null {
  if (isIdentityEncoding(encoding)) return body;
  switch (encoding!.toLowerCase()) {
    case 'base64':
      return Buffer.from(body.toString('latin1').replace(/[^A-Za-z0-9+/]/g, ''), 'base64');
    case 'quoted-printable':
      return decodeQuotedPrintable(body);
    default:
      return null;
  }
}

function hexValue(b: number | undefined): number {
  if (b === undefined) return -1;
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  return -1;
}

/**
 * Quoted-printable (RFC 2045 6.7): `=XX` is a byte, trailing spaces and tabs on a line are not
 * data, a line ending in `=` continues on the next (a soft break), every other line break is CRLF.
 */
export function decodeQuotedPrintable(input: Buffer): Buffer {
  // A bare LF becomes CRLF: at most twice the input.
  const out = Buffer.allocUnsafe(input.length * 2);
  let n = 0;
  for (let start = 0; start < input.length; ) {
    const lf = input.indexOf(LF, start);
    const next = lf === -1 ? input.length : lf + 1;
    let end = lf === -1 ? input.length : lf;
    if (end > start && input[end - 1] === CR) end--;
    while (end > start && (input[end - 1] === SP || input[end - 1] === TAB)) end--;
    let soft = false;
    for (let i = start; i < end; i++) {
      const b = input[i]!;
      if (b === EQ) {
        if (i === end - 1) {
          soft = true;
          break;
        }
        const hi = hexValue(input[i + 1]);
        const lo = i + 2 < end ? hexValue(input[i + 2]) : -1;
        if (hi >= 0 && lo >= 0) {
          out[n++] = hi * 16 + lo;
          i += 2;
          continue;
        }
      }
      out[n++] = b;
    }
    if (lf !== -1 && !soft) {
      out[n++] = CR;
      out[n++] = LF;
    }
    start = next;
  }
  return Buffer.from(out.subarray(0, n));
}

/** Base64 in lines of 76 characters joined by CRLF (no line break after the last). */
export function encodeBase64Lines(bytes: Buffer): Buffer {
  const text = bytes.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += 76) lines.push(text.slice(i, i + 76));
  return Buffer.from(lines.join('\r\n'), 'latin1');
}
