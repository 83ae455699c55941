import { describe, expect, it } from 'vitest';
import { encodeBinaryParts, MimeMessage } from './index.js';
import { decodeQuotedPrintable, decodeTransferEncoding } from './transfer-encoding.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const crlf = (lines: string[]) => b(lines.join('\r\n'));

describe('removing a Content-Transfer-Encoding', () => {
  it('decodes quoted-printable: hex bytes, soft breaks, trailing whitespace, CRLF for every hard break', () => {
    expect(decodeQuotedPrintable(b('a=3Db=00=\r\nc \t\r\nd=\t\r\ne\nf=4g=')).toString('latin1')).toBe('a=b\0c\r\nde\r\nf=4g');
    expect(decodeQuotedPrintable(b('=e4=C3=A4\r\n')).toString('latin1')).toBe('\xe4\xc3\xa4\r\n');
  });

  it('decodes base64 across lines and stray whitespace, keeps identity encodings, knows no others', () => {
    expect(decodeTransferEncoding('BASE64', b(' aGVs \r\n\tbG8=\r\n'))!.toString()).toBe('hello');
    expect(decodeTransferEncoding(undefined, b('as is'))!.toString()).toBe('as is');
    expect(decodeTransferEncoding('8bit', b('\xe4'))!.toString('latin1')).toBe('\xe4');
    expect(decodeTransferEncoding('x-uuencode', b('begin'))).toBeNull();
  });
});

describe('BINARY sections', () => {
  const raw = crlf([
    'Content-Type: multipart/mixed; boundary=b',
    '',
    '--b',
    'Content-Type: message/rfc822',
    '',
    'Subject: inner',
    'Content-Transfer-Encoding: base64 (a comment)',
    '',
    'aW5uZXI=',
    '--b--',
    '',
  ]);
  const m = MimeMessage.parse(raw);

  it('decodes a part inside a message/rfc822 part, gives the message and structured parts as stored', () => {
    expect(m.binary([1, 1])).toEqual({ bytes: b('inner') });
    expect(m.binary([])).toEqual({ bytes: raw });
    expect(m.binary([1])).toEqual({ bytes: m.section({ path: [1] }) });
    expect(m.binary([7])).toEqual({ bytes: Buffer.alloc(0) });
  });

  it('decodes the body of a single-part message as part 1, and names an unknown encoding', () => {
    expect(MimeMessage.parse(crlf(['Content-Transfer-Encoding: quoted-printable', '', 'x=3D1'])).binary([1])).toEqual({ bytes: b('x=1') });
    expect(MimeMessage.parse(crlf(['Content-Transfer-Encoding: x-gzip', '', 'zz'])).binary([1])).toEqual({ unknownEncoding: 'x-gzip' });
  });
});

describe('storing a literal8 message', () => {
  it('re-encodes the parts holding NUL as base64, nested ones and ones without an encoding field included', () => {
    const raw = crlf(['Content-Type: multipart/mixed; boundary=b', '', '--b', 'Content-Type: application/octet-stream', '', 'a\0b', '--b', 'Content-Type: text/plain', 'Content-Transfer-Encoding: binary', '', 'x\0', '--b', '', 'plain', '--b--', '']);
    const stored = encodeBinaryParts(raw)!;
    expect(stored.includes(0)).toBe(false);
    const m = MimeMessage.parse(stored);
    expect(m.section({ path: [1], kind: 'MIME' }).toString()).toBe('Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n');
    expect(m.binary([1])).toEqual({ bytes: b('a\0b') });
    expect(m.section({ path: [2] }).toString()).toBe('eAA=');
    expect(m.binary([2])).toEqual({ bytes: b('x\0') });
    expect(m.section({ path: [3] }).toString()).toBe('plain');
  });

  it('keeps a message without NUL as it is, and refuses NUL outside a part body', () => {
    const plain = crlf(['Subject: x', '', '\xe4']);
    expect(encodeBinaryParts(plain)).toBe(plain);
    expect(encodeBinaryParts(crlf(['Subject: a\0b', '', 'body']))).toBeNull();
    expect(encodeBinaryParts(crlf(['Content-Transfer-Encoding: base64', '', 'AA\0=']))).toBeNull();
  });
});
