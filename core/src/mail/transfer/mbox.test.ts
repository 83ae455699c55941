import { describe, expect, it } from 'vitest';
import { asctime, parseSeparator, readMbox, toMboxEntry } from './mbox.js';
import { maildirFlags, metadataHeader, takeMetadata, toCrlf } from './metadata.js';

async function* chunks(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

async function readAll(data: Buffer, size = 1 << 16) {
  const out = [];
  for await (const m of readMbox(chunks(data, size))) out.push(m);
  return out;
}

const one = Buffer.from('From: a@x.test\r\nSubject: one\r\n\r\nFrom the start of a line.\r\n>From quoted already\r\n\r\nFrom here too\r\nend\r\n');
const two = Buffer.from('From: b@x.test\r\nSubject: two\r\n\r\nbinary \xe9\xff bytes\r\n', 'latin1');

describe('mbox', () => {
  it('writes asctime dates in UTC and reads them back from separator lines', () => {
    const date = new Date(Date.UTC(2026, 11, 5, 9, 3, 7));
    expect(asctime(date)).toBe('Sat Dec  5 09:03:07 2026');
    expect(parseSeparator(`From someone@x.test ${asctime(date)}`)?.date).toEqual(date);
    expect(parseSeparator('From MAILER-DAEMON Fri Jul  8 12:08:34 2011')?.date).toEqual(new Date(Date.UTC(2011, 6, 8, 12, 8, 34)));
    expect(parseSeparator('From the start of a line.')).toBeNull();
  });

  it('quotes From lines on the way out and gives every message back byte for byte, across any chunking', async () => {
    const d1 = new Date(Date.UTC(2025, 0, 2, 3, 4, 5));
    const d2 = new Date(Date.UTC(2025, 6, 1, 0, 0, 0));
    const file = Buffer.concat([toMboxEntry(one, { sender: 'a@x.test', date: d1 }), toMboxEntry(two, { date: d2 })]);
    const text = file.toString('latin1');
    expect(text).toContain('\n>From the start of a line.\n>>From quoted already\n');
    expect(text.startsWith('From a@x.test Thu Jan  2 03:04:05 2025\n')).toBe(true);
    expect(text).not.toContain('\r');
    for (const size of [1, 7, 4096]) {
      const messages = await readAll(file, size);
      expect(messages.map((m) => m.raw.equals(one) || m.raw.equals(two))).toEqual([true, true]);
      expect(messages[0]!.raw.equals(one)).toBe(true);
      expect(messages.map((m) => m.date)).toEqual([d1, d2]);
      expect(messages[1]!.offset).toBe(toMboxEntry(one, { sender: 'a@x.test', date: d1 }).length);
    }
  });

  it('reads CRLF mbox files and refuses a file that is not an mbox', async () => {
    const crlf = Buffer.from('From x@y Mon Jan  6 10:00:00 2025\r\nSubject: hi\r\n\r\nbody\r\n\r\n');
    const [m] = await readAll(crlf);
    expect(m!.raw.toString()).toBe('Subject: hi\r\n\r\nbody\r\n');
    await expect(readAll(Buffer.from('Subject: no separator\n\nbody\n'))).rejects.toThrow(/not an mbox file/);
  });

  it('moves folder and flags into metadata fields and takes them off again, leaving the message as it was', () => {
    const header = metadataHeader({ folder: 'Work/Réunions 100%', flags: ['\\Seen', '\\Flagged', '\\Answered', 'project-x'] });
    expect(header).toBe('X-Mailyard-Folder: Work/R%C3%A9unions 100%25\r\nStatus: RO\r\nX-Status: AF\r\nX-Keywords: project-x\r\n');
    const taken = takeMetadata(Buffer.concat([Buffer.from(header), one]));
    expect(taken.raw.equals(one)).toBe(true);
    expect(taken.metadata.folder).toBe('Work/Réunions 100%');
    expect(taken.metadata.flags.sort()).toEqual(['\\Answered', '\\Flagged', '\\Seen', 'project-x']);
    expect(takeMetadata(one)).toEqual({ raw: one, metadata: { folder: null, flags: [] } });
    // Unread mail says only "O"; a Status field in the body is the body's.
    expect(takeMetadata(Buffer.from('Status: O\r\nSubject: s\r\n\r\nStatus: RO\r\n')).raw.toString()).toBe('Subject: s\r\n\r\nStatus: RO\r\n');
  });

  it('reads Maildir info letters and makes line endings CRLF', () => {
    expect(maildirFlags('FRS').sort()).toEqual(['\\Answered', '\\Flagged', '\\Seen']);
    expect(maildirFlags('DPT').sort()).toEqual(['$Forwarded', '\\Deleted', '\\Draft']);
    expect(toCrlf(Buffer.from('a\nb\r\nc\n')).toString()).toBe('a\r\nb\r\nc\r\n');
    const already = Buffer.from('a\r\nb\r\n');
    expect(toCrlf(already)).toBe(already);
  });
});
