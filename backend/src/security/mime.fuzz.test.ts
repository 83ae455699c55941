import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisEventPublisher, ingestMessage, summarizeMessage } from '@mailyard/core';
import { createTestBackend, type Agent, type TestBackend } from '../../../tests/helpers/backend.js';
import { fuzzParams, fuzzTimeout } from '../../../tests/helpers/fuzz.js';

/**
 * Fuzzing MIME from parse to screen: generated malformed, truncated, deeply nested, huge-header and
 * wrong-charset messages go through the real parse (core's summarizeMessage), the real ingest into
 * a user's INBOX (the mailbox writer, on PostgreSQL), and the real reader (GET /api/messages/:id,
 * its source and its attachments). Each one is stored and renders, or is refused with a code;
 * never a 500, never a crash. `npm run fuzz` runs the same properties many more times.
 */

let t: TestBackend;
let ann: Agent;

beforeAll(async () => {
  t = await createTestBackend();
  await t.accounts.addDomain('m.test');
  await t.accounts.addUser({ address: 'ann@m.test', password: 'ann password' });
  ann = await t.login('ann@m.test', 'ann password');
});
afterAll(async () => {
  await t?.close();
});

const CHARSETS = ['utf-8', 'UTF-8', 'iso-8859-1', 'windows-1252', 'utf-16', 'utf-7', 'iso-2022-jp', 'gb2312', 'koi8-r', 'x-unknown', 'bogus"', '', 'utf-8; format=flowed'];
const ENCODINGS = ['7bit', '8bit', 'binary', 'base64', 'quoted-printable', 'x-uuencode', 'bogus', ''];

/** Text with the bytes MIME parsers trip on. */
const nasty = fc.string({
  unit: fc.oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    fc.constantFrom('\0', '\r', '\n', '\r\n', '=', '=?', '?=', '--', ';', '"', '<', '>', '\t', ' ', 'é', '\u00ff', '\ufffd', '<script>', '<img src=x onerror=1>'),
  ),
  maxLength: 120,
});

/** An encoded word, well-formed or not, in a known or unknown charset. */
const encodedWord = fc
  .tuple(fc.constantFrom(...CHARSETS), fc.constantFrom('B', 'Q', 'b', 'X'), fc.oneof(nasty, fc.base64String({ maxLength: 40 })))
  .map(([cs, enc, text]) => `=?${cs}?${enc}?${text.replace(/[\r\n?]/g, '')}?=`);

const headerValue = fc.oneof(nasty, encodedWord, fc.constantFrom('', ' ', '<>', 'a@b', '"unterminated <x@y', 'undisclosed-recipients:;', 'Group: a@b.test, c@d.test;'));
const headerName = fc.oneof(fc.constantFrom('From', 'To', 'Cc', 'Subject', 'Date', 'Message-ID', 'In-Reply-To', 'References', 'Content-Type', 'Content-Transfer-Encoding', 'Content-Disposition', 'MIME-Version', 'Received', 'X-Junk'), fc.string({ maxLength: 20 }));
const headerLine = fc.oneof(
  fc.tuple(headerName, headerValue).map(([n, v]) => `${n}: ${v}`),
  // A header with no colon, a folded continuation, or a huge one.
  nasty.map((v) => v.replace(/:/g, '')),
  headerValue.map((v) => ` ${v}`),
  fc.tuple(headerName, fc.integer({ min: 1_000, max: 40_000 })).map(([n, size]) => `${n}: ${'x'.repeat(size)}`),
  fc.integer({ min: 10, max: 300 }).map((n) => `Subject: ${Array.from({ length: n }, () => 'folded').join('\r\n ')}`),
);

interface Part {
  headers: string[];
  body: string;
}

/** A MIME leaf: a declared type, charset and encoding, and a body that may or may not match them. */
const leaf: fc.Arbitrary<Part> = fc
  .tuple(
    fc.constantFrom('text/plain', 'text/html', 'application/octet-stream', 'image/png', 'message/rfc822', 'text/calendar', 'bogus', 'text/html; name="a.html"'),
    fc.constantFrom(...CHARSETS),
    fc.constantFrom(...ENCODINGS),
    fc.option(fc.constantFrom('attachment; filename="a.bin"', 'inline', 'attachment; filename*=utf-8\'\'%E2%82%AC.txt', 'attachment; filename="../../etc/passwd"', 'attachment'), { nil: undefined }),
    fc.oneof(nasty, fc.base64String({ maxLength: 400 }), fc.constantFrom('<html><body><p>hi<img src="cid:x"></body></html>', '=E2=82=AC soft=\r\nbreak', '<div style="position:fixed">x</div>')),
  )
  .map(([type, charset, encoding, disposition, body]) => ({
    headers: [`Content-Type: ${type}${charset ? `; charset=${charset}` : ''}`, ...(encoding ? [`Content-Transfer-Encoding: ${encoding}`] : []), ...(disposition ? [`Content-Disposition: ${disposition}`] : [])],
    body,
  }));

/** A MIME tree: multiparts with good, missing or lying boundaries, and leaves. */
const part: fc.Arbitrary<Part> = fc.letrec<{ node: Part }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc
      .tuple(fc.constantFrom('mixed', 'alternative', 'related', 'digest', 'signed'), fc.constantFrom('b1', 'b"2', '', '=_x', 'a'.repeat(100)), fc.array(tie('node'), { maxLength: 4 }), fc.boolean())
      .map(([sub, boundary, children, closed]) => ({
        headers: [`Content-Type: multipart/${sub}${boundary ? `; boundary="${boundary}"` : ''}`],
        body: `preamble\r\n${children.map((c) => `--${boundary}\r\n${c.headers.join('\r\n')}\r\n\r\n${c.body}\r\n`).join('')}${closed ? `--${boundary}--\r\n` : ''}epilogue`,
      })),
  ),
})).node;

/** Many multiparts inside each other (a parser that recurses without a limit overflows its stack). */
const deeplyNested = fc.integer({ min: 50, max: 300 }).map((depth): Part => {
  let inner: Part = { headers: ['Content-Type: text/plain'], body: 'the bottom' };
  for (let i = 0; i < depth; i++) inner = { headers: [`Content-Type: multipart/mixed; boundary="n${i}"`], body: `--n${i}\r\n${inner.headers.join('\r\n')}\r\n\r\n${inner.body}\r\n--n${i}--\r\n` };
  return inner;
});

/** Whole messages: headers and a MIME tree, sometimes truncated anywhere, or no message at all. */
const message = fc.oneof(
  fc.tuple(fc.array(headerLine, { maxLength: 15 }), fc.oneof(part, deeplyNested), fc.oneof(fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })), fc.constantFrom('\r\n', '\n')).map(([headers, root, keep, eol]) => {
    const text = [...headers, ...root.headers].join(eol) + eol + eol + root.body;
    return Buffer.from(text.slice(0, Math.ceil(text.length * keep)), 'utf8');
  }),
  fc.uint8Array({ maxLength: 2_000 }).map((bytes) => Buffer.from(bytes)),
  fc.constantFrom(Buffer.alloc(0), Buffer.from('\r\n'), Buffer.from('From: a@b\r\n'), Buffer.from('\r\n\r\n\r\n'), Buffer.from('Subject: x\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n')),
);

describe('MIME messages from parse to the reader', () => {
  it(
    'stores every generated message and renders it (or refuses with a code): never a 500',
    async () => {
      const events = createRedisEventPublisher(t.redis);
      await fc.assert(
        fc.asyncProperty(message, async (raw) => {
          const summary = await summarizeMessage(raw);
          const stored = await ingestMessage({ db: t.store.db, events }, { userId: ann.userId, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary });
          const res = await t.app.inject({ method: 'GET', url: `/api/messages/${stored.messageId}`, headers: ann.headers });
          if (res.statusCode !== 200) {
            expect(res.statusCode, res.body.slice(0, 300)).toBeGreaterThanOrEqual(400);
            expect(res.statusCode, res.body.slice(0, 300)).toBeLessThan(500);
            expect(res.json()).toEqual({ error: { code: expect.any(String), message: expect.any(String) }, requestId: expect.any(String) });
            return;
          }
          const detail = res.json() as { id: number; attachments: Array<{ url: string }> };
          expect(detail.id).toBe(stored.messageId);
          // The source comes back byte for byte, and every listed attachment downloads.
          const source = await t.app.inject({ method: 'GET', url: `/api/messages/${stored.messageId}/raw`, headers: ann.headers });
          expect(source.statusCode).toBe(200);
          expect(source.rawPayload.subarray(source.rawPayload.length - raw.length).equals(raw)).toBe(true);
          for (const attachment of detail.attachments) {
            const file = await t.app.inject({ method: 'GET', url: attachment.url, headers: ann.headers });
            expect(file.statusCode, attachment.url).toBe(200);
          }
        }),
        fuzzParams(25),
      );
    },
    fuzzTimeout(90_000),
  );
});
