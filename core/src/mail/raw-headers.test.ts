import { describe, expect, it } from 'vitest';
import { headerFields, rewriteHeader, splitMessage } from './raw-headers.js';

const message = Buffer.from('From: Ann <ann@a.test>\r\nBcc: secret@b.test,\r\n other@b.test\r\nSubject: folded\r\n subject\r\n\r\nbody line 1\r\n\r\nbody line 2\r\n');

describe('raw headers', () => {
  it('splits the header section from the body at the first empty line (CRLF or LF)', () => {
    const { header, body } = splitMessage(message);
    expect(header.toString()).toBe('From: Ann <ann@a.test>\r\nBcc: secret@b.test,\r\n other@b.test\r\nSubject: folded\r\n subject\r\n');
    expect(body.toString()).toBe('body line 1\r\n\r\nbody line 2\r\n');
    expect(splitMessage(Buffer.from('A: 1\nB: 2\n\nbody\n')).body.toString()).toBe('body\n');
    expect(splitMessage(Buffer.from('A: 1\r\n')).body.length).toBe(0);
  });

  it('lists fields with folded values unfolded', () => {
    expect(headerFields(splitMessage(message).header).map((f) => [f.name, f.value])).toEqual([
      ['from', 'Ann <ann@a.test>'],
      ['bcc', 'secret@b.test, other@b.test'],
      ['subject', 'folded subject'],
    ]);
  });

  it('drops whole fields (folded lines included) and prepends new ones, leaving the body byte-exact', () => {
    const out = rewriteHeader(message, { drop: ['BCC'], prepend: ['Message-ID: <x@a.test>'] }).toString();
    expect(out).toBe('Message-ID: <x@a.test>\r\nFrom: Ann <ann@a.test>\r\nSubject: folded\r\n subject\r\n\r\nbody line 1\r\n\r\nbody line 2\r\n');
    expect(out).not.toContain('other@b.test');
  });
});
