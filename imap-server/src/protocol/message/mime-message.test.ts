import { describe, expect, it } from 'vitest';
import { MimeMessage, partial, type SectionSpec } from './index.js';
import { MAX_DEPTH } from './mime-tree.js';

/** A message from lines joined with CRLF (or `eol`). */
const msg = (lines: string[], eol = '\r\n') => Buffer.from(lines.join(eol), 'utf8');
const text = (m: MimeMessage, spec: SectionSpec) => m.section(spec).toString('utf8');

const plain = msg([
  'Received: from mx.example.net by mail.test; Tue, 2 Jan 2024 10:00:00 +0000',
  'From: "Doe, Jane" <jane@example.org>',
  'To: bob@example.com, Carol <carol@example.com>',
  'Subject: Lunch',
  ' tomorrow?',
  'Date: Tue, 2 Jan 2024 09:59:00 +0000',
  'Message-ID: <a1@example.org>',
  '',
  'Shall we?',
  'Jane',
  '',
]);

describe('a plain text message', () => {
  const m = MimeMessage.parse(plain);

  it('has an envelope with unfolded subject, defaults for sender and reply-to', () => {
    expect(m.envelope()).toBe(
      '("Tue, 2 Jan 2024 09:59:00 +0000" "Lunch tomorrow?" (("Doe, Jane" NIL "jane" "example.org")) ' +
        '(("Doe, Jane" NIL "jane" "example.org")) (("Doe, Jane" NIL "jane" "example.org")) ' +
        '((NIL NIL "bob" "example.com")("Carol" NIL "carol" "example.com")) NIL NIL NIL "<a1@example.org>")',
    );
  });

  it('has a text/plain body structure with the default charset, size and lines', () => {
    expect(m.bodyStructure(false)).toBe('("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 17 2)');
    expect(m.bodyStructure(true)).toBe('("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 17 2 NIL NIL NIL NIL)');
  });

  it('serves BODY[], HEADER, TEXT and part 1 as stored', () => {
    const header = plain.subarray(0, plain.indexOf('Shall'));
    expect(m.section({ path: [] }).equals(plain)).toBe(true);
    expect(m.section({ path: [], kind: 'HEADER' }).equals(header)).toBe(true);
    expect(text(m, { path: [], kind: 'TEXT' })).toBe('Shall we?\r\nJane\r\n');
    expect(text(m, { path: [1] })).toBe('Shall we?\r\nJane\r\n');
    expect(m.section({ path: [1], kind: 'MIME' }).equals(header)).toBe(true);
  });

  it('picks header fields in message order, folded lines kept, names case-insensitive', () => {
    expect(text(m, { path: [], kind: 'HEADER.FIELDS', fields: ['SUBJECT', 'from', 'x-none'] })).toBe(
      'From: "Doe, Jane" <jane@example.org>\r\nSubject: Lunch\r\n tomorrow?\r\n\r\n',
    );
    expect(text(m, { path: [], kind: 'HEADER.FIELDS', fields: ['x-none'] })).toBe('\r\n');
    expect(text(m, { path: [], kind: 'HEADER.FIELDS.NOT', fields: ['received', 'to', 'subject', 'date'] })).toBe(
      'From: "Doe, Jane" <jane@example.org>\r\nMessage-ID: <a1@example.org>\r\n\r\n',
    );
  });

  it('answers an empty buffer for parts that do not exist', () => {
    for (const spec of [
      { path: [2] },
      { path: [1, 1] },
      { path: [0] },
      { path: [], kind: 'MIME' },
      { path: [1], kind: 'TEXT' },
      { path: [1], kind: 'HEADER' },
    ] as SectionSpec[]) {
      expect(m.section(spec).length).toBe(0);
    }
  });
});

describe('partial', () => {
  const bytes = Buffer.from('body22\r\n');
  it('cuts start.length and clamps at the end', () => {
    expect(partial(bytes, 0, 3).toString()).toBe('bod');
    expect(partial(bytes, 3, 3).toString()).toBe('y22');
    expect(partial(bytes, 6, 5).toString()).toBe('\r\n');
    expect(partial(bytes, 2).toString()).toBe('dy22\r\n');
    expect(partial(bytes, 100, 5).length).toBe(0);
  });
});

describe('multipart/alternative', () => {
  const raw = msg([
    'From: news@example.org',
    'Subject: News',
    'MIME-Version: 1.0',
    'Content-Type: multipart/alternative;',
    '\tboundary="=_alt_1"',
    '',
    'This is a multi-part message in MIME format.',
    '',
    '--=_alt_1',
    'Content-Type: text/plain; charset=UTF-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'Caf=C3=A9 today',
    '--=_alt_1',
    'Content-Type: text/html; charset="utf-8"',
    'Content-Transfer-Encoding: 8bit',
    '',
    '<p>Café today</p>',
    '--=_alt_1--',
    '',
  ]);
  const m = MimeMessage.parse(raw);

  it('describes both alternatives and the multipart parameters', () => {
    expect(m.bodyStructure(false)).toBe(
      '(("text" "plain" ("charset" "UTF-8") NIL NIL "quoted-printable" 15 0)' +
        '("text" "html" ("charset" "utf-8") NIL NIL "8bit" 18 0) "alternative")',
    );
    expect(m.bodyStructure(true)).toBe(
      '(("text" "plain" ("charset" "UTF-8") NIL NIL "quoted-printable" 15 0 NIL NIL NIL NIL)' +
        '("text" "html" ("charset" "utf-8") NIL NIL "8bit" 18 0 NIL NIL NIL NIL) "alternative" ("boundary" "=_alt_1") NIL NIL NIL)',
    );
  });

  it('serves each part without its MIME header and never decodes it', () => {
    expect(text(m, { path: [1] })).toBe('Caf=C3=A9 today'); // the CRLF before a delimiter belongs to it
    expect(m.section({ path: [2] }).equals(Buffer.from('<p>Café today</p>'))).toBe(true);
    expect(text(m, { path: [2], kind: 'MIME' })).toBe('Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n');
    expect(m.section({ path: [3] }).length).toBe(0);
  });
});

describe('multipart/mixed with an attachment', () => {
  const raw = msg([
    'From: a@example.org',
    'Content-Type: multipart/mixed; boundary=XYZ',
    '',
    '--XYZ',
    'Content-Type: text/plain',
    '',
    'See attached.',
    '--XYZ',
    'Content-Type: application/pdf; name="report.pdf"',
    'Content-Transfer-Encoding: base64',
    'Content-Disposition: attachment;',
    ' filename*0="quarterly ";',
    ' filename*1="report.pdf"; size=12',
    'Content-ID: <part2@example.org>',
    'Content-Description: Q1 report',
    'Content-Language: en, de (German)',
    'Content-Location: http://example.org/r.pdf',
    'Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==',
    '',
    'JVBERi0xLjQK',
    '--XYZ--',
  ]);
  const m = MimeMessage.parse(raw);

  it('carries id, description, encoding, disposition with joined RFC 2231 pieces, language, location and md5', () => {
    expect(m.bodyStructure(true)).toBe(
      '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 13 0 NIL NIL NIL NIL)' +
        '("application" "pdf" ("name" "report.pdf") "<part2@example.org>" "Q1 report" "base64" 12 ' +
        '"Q2hlY2sgSW50ZWdyaXR5IQ==" ("attachment" ("filename" "quarterly report.pdf" "size" "12")) ("en" "de") "http://example.org/r.pdf")' +
        ' "mixed" ("boundary" "XYZ") NIL NIL NIL)',
    );
  });

  it('serves the attachment bytes still encoded', () => {
    expect(text(m, { path: [2] })).toBe('JVBERi0xLjQK');
  });
});

/** The nested message of Dovecot's imaptest `fetch-body-mime`: a prologue, a part, and a message/rfc822 holding a multipart. */
const nested = msg([
  'From: user@domain.org',
  'Date: Sat, 24 Mar 2007 23:00:00 +0200',
  'Mime-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="foo',
  ' bar"',
  '',
  'Root MIME prologue',
  '',
  '--foo bar',
  'Content-Type: text/x-myown; charset=us-ascii',
  '',
  'hello',
  '',
  '--foo bar',
  'Content-Type: message/rfc822',
  '',
  'From: sub@domain.org',
  'Date: Sun, 12 Aug 2012 12:34:56 +0300',
  'Subject: submsg',
  'Content-Type: multipart/alternative; boundary="sub1"',
  '',
  'Sub MIME prologue',
  '--sub1',
  'Content-Type: text/html',
  '',
  '<p>Hello world</p>',
  '',
  '--sub1',
  'Content-Type: text/plain',
  '',
  'Hello another world',
  '',
  '--sub1--',
  'Sub MIME epilogue',
  '',
  '--foo bar--',
  'Root MIME epilogue',
  '',
]);

describe('a nested message/rfc822', () => {
  const m = MimeMessage.parse(nested);

  it('describes the embedded envelope, structure and line count', () => {
    expect(m.bodyStructure(false)).toBe(
      '(("text" "x-myown" ("charset" "us-ascii") NIL NIL "7bit" 7 1)' +
        '("message" "rfc822" NIL NIL NIL "7bit" 298 ("Sun, 12 Aug 2012 12:34:56 +0300" "submsg" ' +
        '((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) NIL NIL NIL NIL NIL) ' +
        '(("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 20 1)("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 21 1) "alternative") 18)' +
        ' "mixed")',
    );
  });

  it('numbers sections as RFC 3501 does (the imaptest fetch-body-mime answers)', () => {
    const sub = [
      'From: sub@domain.org',
      'Date: Sun, 12 Aug 2012 12:34:56 +0300',
      'Subject: submsg',
      'Content-Type: multipart/alternative; boundary="sub1"',
      '',
      '',
    ].join('\r\n');
    expect(text(m, { path: [1] })).toBe('hello\r\n');
    expect(text(m, { path: [1], kind: 'MIME' })).toBe('Content-Type: text/x-myown; charset=us-ascii\r\n\r\n');
    expect(text(m, { path: [2], kind: 'MIME' })).toBe('Content-Type: message/rfc822\r\n\r\n');
    expect(text(m, { path: [2] }).startsWith(sub)).toBe(true);
    expect(text(m, { path: [2] }).endsWith('--sub1--\r\nSub MIME epilogue\r\n')).toBe(true);
    expect(text(m, { path: [2], kind: 'HEADER' })).toBe(sub);
    expect(text(m, { path: [2], kind: 'HEADER.FIELDS', fields: ['from', 'subject', 'X-foo'] })).toBe(
      'From: sub@domain.org\r\nSubject: submsg\r\n\r\n',
    );
    expect(text(m, { path: [2], kind: 'HEADER.FIELDS.NOT', fields: ['from', 'subject', 'X-foo'] })).toBe(
      'Date: Sun, 12 Aug 2012 12:34:56 +0300\r\nContent-Type: multipart/alternative; boundary="sub1"\r\n\r\n',
    );
    expect(text(m, { path: [2], kind: 'TEXT' }).startsWith('Sub MIME prologue\r\n--sub1\r\n')).toBe(true);
    expect(text(m, { path: [2, 1] })).toBe('<p>Hello world</p>\r\n');
    expect(text(m, { path: [2, 1], kind: 'MIME' })).toBe('Content-Type: text/html\r\n\r\n');
    expect(text(m, { path: [2, 2] })).toBe('Hello another world\r\n');
    expect(text(m, { path: [], kind: 'TEXT' }).startsWith('Root MIME prologue\r\n\r\n--foo bar\r\n')).toBe(true);
    expect(m.section({ path: [2, 3] }).length).toBe(0);
    expect(m.section({ path: [1], kind: 'HEADER' }).length).toBe(0);
  });
});

describe('multipart/digest', () => {
  const raw = msg([
    'From: list@example.org',
    'Content-Type: multipart/digest; boundary="foo"',
    '',
    '--foo ',
    '',
    'From: m1@example.com',
    'Subject: m1',
    '',
    'm1 body',
    '',
    '--foo ',
    'X-Mime: m2 header',
    '',
    'From: m2@example.com',
    'Subject: m2',
    '',
    'm2 body',
    '',
    '--foo--',
  ]);
  const m = MimeMessage.parse(raw);

  it('makes parts without Content-Type message/rfc822, with their own envelope', () => {
    expect(m.bodyStructure(false)).toBe(
      '(("message" "rfc822" NIL NIL NIL "7bit" 46 (NIL "m1" ((NIL NIL "m1" "example.com")) ((NIL NIL "m1" "example.com")) ' +
        '((NIL NIL "m1" "example.com")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 9 1) 4)' +
        '("message" "rfc822" NIL NIL NIL "7bit" 46 (NIL "m2" ((NIL NIL "m2" "example.com")) ((NIL NIL "m2" "example.com")) ' +
        '((NIL NIL "m2" "example.com")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 9 1) 4) "digest")',
    );
  });

  it('serves MIME, HEADER and TEXT of each digest part', () => {
    expect(text(m, { path: [1], kind: 'MIME' })).toBe('\r\n');
    expect(text(m, { path: [1] })).toBe('From: m1@example.com\r\nSubject: m1\r\n\r\nm1 body\r\n');
    expect(text(m, { path: [2], kind: 'MIME' })).toBe('X-Mime: m2 header\r\n\r\n');
    expect(text(m, { path: [2], kind: 'HEADER' })).toBe('From: m2@example.com\r\nSubject: m2\r\n\r\n');
    expect(text(m, { path: [2], kind: 'TEXT' })).toBe('m2 body\r\n');
    expect(text(m, { path: [2, 1] })).toBe('m2 body\r\n');
  });
});

describe('malformed and unusual messages', () => {
  it('splits header and body at a bare LF empty line and counts bytes as stored', () => {
    const m = MimeMessage.parse(msg(['From: a@b.example', 'Content-Type: multipart/mixed; boundary=b', '', '--b', '', 'one', '--b--', ''], '\n'));
    expect(m.bodyStructure(false)).toBe('(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3 0) "mixed")');
    expect(text(m, { path: [1] })).toBe('one');
    expect(text(m, { path: [], kind: 'HEADER' })).toBe('From: a@b.example\nContent-Type: multipart/mixed; boundary=b\n\n');
  });

  it('treats a message without an empty line as all header and no body', () => {
    const raw = msg(['From: a@b.example', 'Subject: only headers']);
    const m = MimeMessage.parse(raw);
    expect(m.bodyStructure(true)).toBe('("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)');
    expect(m.section({ path: [], kind: 'HEADER' }).equals(raw)).toBe(true);
    expect(m.section({ path: [], kind: 'TEXT' }).length).toBe(0);
    expect(m.envelope()).toBe('(NIL "only headers" ((NIL NIL "a" "b.example")) ((NIL NIL "a" "b.example")) ((NIL NIL "a" "b.example")) NIL NIL NIL NIL NIL)');
  });

  it('lets the last part run to the end when the final boundary is missing', () => {
    const m = MimeMessage.parse(msg(['Content-Type: multipart/mixed; boundary=b', '', '--b', '', 'first', '--b', 'Content-Type: text/html', '', '<b>cut']));
    expect(m.bodyStructure(false)).toBe(
      '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0)("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 6 0) "mixed")',
    );
    expect(text(m, { path: [2] })).toBe('<b>cut');
  });

  it('does not take a longer boundary for its prefix', () => {
    const m = MimeMessage.parse(
      msg(['Content-Type: multipart/mixed; boundary=b', '', '--b', 'Content-Type: multipart/alternative; boundary=bb', '', '--bb', '', 'x', '--bb--', '--b--']),
    );
    expect(m.bodyStructure(false)).toBe('((("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 1 0) "alternative") "mixed")');
  });

  it('describes a multipart without parts as one empty text part, and one without boundary as opaque', () => {
    const empty = MimeMessage.parse(msg(['Content-Type: multipart/mixed; boundary=b', '', 'no parts here']));
    expect(empty.bodyStructure(false)).toBe('(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) "mixed")');
    expect(empty.section({ path: [1] }).length).toBe(0);
    const noBoundary = MimeMessage.parse(msg(['Content-Type: multipart/mixed', '', 'data']));
    expect(noBoundary.bodyStructure(false)).toBe('("application" "octet-stream" NIL NIL NIL "7bit" 4)');
    expect(text(noBoundary, { path: [1] })).toBe('data');
  });

  it('stops nesting at the depth cap and still answers', () => {
    const depth = MAX_DEPTH + 20;
    const raw = Buffer.from('Content-Type: message/rfc822\r\n\r\n'.repeat(depth) + 'Subject: deep\r\n\r\nbottom\r\n');
    const m = MimeMessage.parse(raw);
    const structure = m.bodyStructure(true);
    expect(structure).toContain('"application" "octet-stream"');
    expect(structure).not.toContain('"deep"');
    expect(text(m, { path: new Array(depth + 1).fill(1) })).toBe('');
    expect(text(m, { path: [1, 1, 1] }).startsWith('Content-Type: message/rfc822\r\n')).toBe(true);
  });

  it('answers for empty and garbage input without throwing', () => {
    for (const raw of [Buffer.alloc(0), Buffer.from('\r\n'), Buffer.from([0, 255, 10, 58, 13, 10, 13]), Buffer.from('Content-Type: multipart/x; boundary=""\r\n\r\n--\r\n')]) {
      const m = MimeMessage.parse(raw);
      expect(m.envelope()).toMatch(/^\(.*\)$/s);
      expect(m.bodyStructure(true)).toMatch(/^\(.*\)$/s);
      expect(m.section({ path: [] }).equals(raw)).toBe(true);
    }
    expect(MimeMessage.parse(Buffer.alloc(0)).envelope()).toBe('(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)');
  });
});

describe('envelope strings and addresses', () => {
  it('sends 8-bit, quotes and backslashes as literals counted in bytes, and keeps encoded words', () => {
    const m = MimeMessage.parse(
      msg([
        'From: =?UTF-8?Q?Ren=C3=A9?= <rene@example.fr>',
        'To: Zoë <zoe@example.org>',
        'Subject: "quoted" \\ é',
        '',
        '',
      ]),
    );
    expect(m.envelope()).toBe(
      '(NIL {13}\r\n"quoted" \\ é ' +
        '(("=?UTF-8?Q?Ren=C3=A9?=" NIL "rene" "example.fr")) (("=?UTF-8?Q?Ren=C3=A9?=" NIL "rene" "example.fr")) ' +
        '(("=?UTF-8?Q?Ren=C3=A9?=" NIL "rene" "example.fr")) (({4}\r\nZoë NIL "zoe" "example.org")) NIL NIL NIL NIL)',
    );
  });

  it('writes groups with start and end markers and names from comments (imaptest fetch-envelope)', () => {
    const m = MimeMessage.parse(
      msg([
        'Date: Thu, 15 Feb 2007 01:02:03 +0200',
        'From: user@domain (Real Name)',
        'To: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;',
        'Cc: group:;, group2: (foo) ;',
        'Reply-To: ',
        '',
        'body',
      ]),
    );
    expect(m.envelope()).toBe(
      '("Thu, 15 Feb 2007 01:02:03 +0200" NIL (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) ' +
        '(("Real Name" NIL "user" "domain")) ((NIL NIL "group" NIL)(NIL NIL "g1" "d1.org")(NIL NIL "g2" "d2.org")(NIL NIL NIL NIL)' +
        '(NIL NIL "group2" NIL)(NIL NIL "g3" "d3.org")(NIL NIL NIL NIL)) ((NIL NIL "group" NIL)(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL NIL NIL)) NIL NIL NIL)',
    );
  });

  it('keeps source routes, quoted local parts and marks missing parts', () => {
    const m = MimeMessage.parse(msg(['From: <@route:user@domain>', 'To: "john doe"@example.org, undisclosed, <@x.example>', 'Cc: <>', '', '']));
    expect(m.envelope()).toBe(
      '(NIL NIL ((NIL "@route" "user" "domain")) ((NIL "@route" "user" "domain")) ((NIL "@route" "user" "domain")) ' +
        '((NIL NIL "john doe" "example.org")(NIL NIL "undisclosed" "MISSING_DOMAIN")(NIL NIL "MISSING_MAILBOX" "x.example")) ' +
        '((NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN")) NIL NIL NIL)',
    );
  });
});
