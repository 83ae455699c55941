import { describe, expect, it } from 'vitest';
import { countHeaderFields, headerFields, isMailLoop, rewriteHeader, splitMessage } from './raw-headers.js';

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

  it('counts Received fields in the header section only: folded fields once, bare LF too, never in the body', () => {
    const folded = 'Received: from a.test\r\n\tby b.test;\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\n';
    const crlf = Buffer.from(`${folded}received: x\r\nRECEIVED : y\r\nX-Received: z\r\nSubject: s\r\n\r\nReceived: in the body\r\n`);
    expect(countHeaderFields(crlf, 'Received')).toBe(3);
    expect(countHeaderFields(Buffer.from('Received: a\n b\nReceived: c\n\nReceived: body\n'), 'received')).toBe(2);
  });

  it('takes more than 50 Received fields as a mail loop, and 50 as not', () => {
    const withReceived = (n: number) => Buffer.from(`${'Received: from x.test by y.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n'.repeat(n)}Subject: s\r\n\r\n${'Received: body\r\n'.repeat(10)}`);
    expect(isMailLoop(withReceived(50))).toBe(false);
    expect(isMailLoop(withReceived(51))).toBe(true);
  });
});
