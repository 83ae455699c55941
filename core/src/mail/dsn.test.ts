import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { buildDsn, headerBlock, statusFromReply, type DsnInput } from './dsn.js';

const ORIGINAL_HEADERS =
  'Received: from [192.0.2.10] by mx.a.test with ESMTPSA;\r\n\tFri, 02 Jan 2026 03:04:05 +0000\r\n' +
  'From: Ann <ann@a.test>\r\nTo: bob@b.test, carl@c.test\r\nSubject: Quarterly numbers\r\n' +
  'Message-ID: <m1.abc@a.test>\r\nDate: Fri, 02 Jan 2026 03:04:05 +0000\r\nMIME-Version: 1.0\r\n';
const ORIGINAL = Buffer.from(`${ORIGINAL_HEADERS}\r\nHello Bob,\r\n\r\nthe numbers are attached.\r\n`);

const NOW = new Date('2026-01-03T10:00:00Z');

function input(overrides: Partial<DsnInput> = {}): DsnInput {
  return {
    reportingMta: 'mx.a.test',
    to: 'ann@a.test',
    originalEnvelopeFrom: 'ann@a.test',
    arrivalDate: new Date('2026-01-02T03:04:05Z'),
    recipients: [
      {
        recipient: 'bob@b.test',
        action: 'failed',
        status: '5.1.1',
        remoteMta: 'mx1.b.test',
        diagnostic: '550 5.1.1 <bob@b.test>: Recipient address rejected: User unknown',
        lastAttemptAt: new Date('2026-01-03T09:59:00Z'),
      },
    ],
    originalHeaders: headerBlock(ORIGINAL),
    originalSubject: 'Quarterly numbers',
    originalMessageId: '<m1.abc@a.test>',
    now: NOW,
    ...overrides,
  };
}

interface Part {
  headers: Map<string, string>;
  body: string;
}

/** Header fields of a block, unfolded, by lower-cased name (last wins). */
function fields(block: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of block.replace(/\r\n[ \t]/g, ' ').split('\r\n')) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    map.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return map;
}

/** A small manual MIME split: top-level header fields and the parts between the boundaries. */
function split(raw: Buffer): { headers: Map<string, string>; parts: Part[] } {
  const text = raw.toString('utf8');
  const end = text.indexOf('\r\n\r\n');
  const headers = fields(text.slice(0, end));
  const boundary = headers.get('content-type')!.match(/boundary="([^"]+)"/)![1]!;
  const sections = text.slice(end + 4).split(`\r\n--${boundary}`);
  expect(sections.at(-1)).toBe('--\r\n');
  const parts = sections.slice(1, -1).map((section) => {
    expect(section.startsWith('\r\n')).toBe(true);
    const body = section.slice(2);
    const blank = body.indexOf('\r\n\r\n');
    return { headers: fields(body.slice(0, blank)), body: body.slice(blank + 4) };
  });
  return { headers, parts };
}

/** The delivery-status body as groups of fields: [per-message, ...per-recipient]. */
function statusGroups(body: string): Array<Map<string, string>> {
  return body
    .replace(/(\r\n)+$/, '')
    .split('\r\n\r\n')
    .map(fields);
}

function decodeQuotedPrintable(body: string): Buffer {
  const soft = body.replace(/=\r\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    if (soft[i] === '=') {
      bytes.push(parseInt(soft.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(soft.charCodeAt(i));
  }
  return Buffer.from(bytes);
}

function expectWellFormed(raw: Buffer) {
  const text = raw.toString('latin1');
  expect(text).not.toMatch(/(?<!\r)\n/); // no bare LF
  expect(text).not.toMatch(/\r(?!\n)/); // no bare CR
  for (const line of text.split('\r\n')) expect(Buffer.byteLength(line, 'latin1')).toBeLessThanOrEqual(998);
}

describe('headerBlock', () => {
  it('returns the lines before the first empty line, with their endings', () => {
    expect(headerBlock(ORIGINAL).toString()).toBe(ORIGINAL_HEADERS);
    expect(headerBlock(Buffer.from('A: 1\nB: 2\n\nbody\n\nmore')).toString()).toBe('A: 1\nB: 2\n');
  });
  it('returns everything for a message without a body and nothing for one without headers', () => {
    expect(headerBlock(Buffer.from('A: 1\r\nB: 2')).toString()).toBe('A: 1\r\nB: 2');
    expect(headerBlock(Buffer.from('\r\nbody')).length).toBe(0);
    expect(headerBlock(Buffer.from('\nbody')).length).toBe(0);
  });
  it('does not stop at a folded continuation line', () => {
    expect(headerBlock(Buffer.from('A: 1\r\n 2\r\n\r\nx')).toString()).toBe('A: 1\r\n 2\r\n');
  });
});

describe('statusFromReply', () => {
  it('takes the enhanced code from the reply', () => {
    expect(statusFromReply(550, '550 5.1.1 <x@y>: Recipient address rejected')).toBe('5.1.1');
    expect(statusFromReply(451, '451 4.3.0 Try again later')).toBe('4.3.0');
    expect(statusFromReply(552, '5.2.2 Mailbox full')).toBe('5.2.2');
    expect(statusFromReply(550, '550 5.7.26 Unauthenticated email is not accepted')).toBe('5.7.26');
  });
  it('reads the first line of a multi-line reply', () => {
    expect(statusFromReply(550, '550-5.1.1 The email account that you tried to reach does not exist.\r\n550 5.1.1 https://support.example')).toBe('5.1.1');
  });
  it('makes the class agree with the reply code', () => {
    expect(statusFromReply(550, '550 4.7.1 Relaying denied')).toBe('5.7.1');
    expect(statusFromReply(421, '421 5.7.0 Too many connections')).toBe('4.7.0');
  });
  it('falls back to X.0.0 when the reply has no enhanced code', () => {
    expect(statusFromReply(550, '550 User unknown')).toBe('5.0.0');
    expect(statusFromReply(421, 'Service not available')).toBe('4.0.0');
    expect(statusFromReply(554, '554 5.7.1.2 not a status code')).toBe('5.0.0');
    expect(statusFromReply(550, '')).toBe('5.0.0');
  });
  it('treats a code that is neither 4xx nor 5xx as temporary', () => {
    expect(statusFromReply(0, 'connection reset')).toBe('4.0.0');
    expect(statusFromReply(250, '250 2.0.0 Ok')).toBe('4.0.0');
  });
});

describe('buildDsn', () => {
  it('is a multipart/report of report-type delivery-status with the three parts in order', async () => {
    const raw = buildDsn(input());
    expectWellFormed(raw);
    const { headers, parts } = split(raw);
    expect(headers.get('content-type')).toMatch(/^multipart\/report; report-type=delivery-status; boundary="/);
    expect(parts.map((p) => p.headers.get('content-type'))).toEqual(['text/plain; charset=utf-8', 'message/delivery-status', 'text/rfc822-headers']);

    const mail = await simpleParser(raw);
    const ct = mail.headers.get('content-type') as { value: string; params: Record<string, string> };
    expect(ct.value).toBe('multipart/report');
    expect(ct.params['report-type']).toBe('delivery-status');
  });

  it('comes from MAILER-DAEMON at the reporting host, goes to the sender and threads with the original', async () => {
    const raw = buildDsn(input());
    const mail = await simpleParser(raw);
    expect(mail.from?.value).toEqual([{ name: 'Mail Delivery System', address: 'MAILER-DAEMON@mx.a.test' }]);
    expect(mail.to && !Array.isArray(mail.to) ? mail.to.value.map((a) => a.address) : null).toEqual(['ann@a.test']);
    expect(mail.subject).toBe('Undelivered Mail Returned to Sender');
    expect(mail.date?.toISOString()).toBe(NOW.toISOString());
    expect(mail.messageId).toMatch(/^<[^<>@\s]+@mx\.a\.test>$/);
    expect(mail.inReplyTo).toBe('<m1.abc@a.test>');
    expect(mail.references).toBe('<m1.abc@a.test>');
    expect(mail.headers.get('auto-submitted')).toBe('auto-replied');
    expect(mail.headers.get('mime-version')).toBe('1.0');
    const { headers } = split(raw);
    expect(headers.get('date')).toBe('Sat, 03 Jan 2026 10:00:00 +0000');
  });

  it('gives each DSN a fresh Message-ID', () => {
    const a = split(buildDsn(input())).headers.get('message-id');
    const b = split(buildDsn(input())).headers.get('message-id');
    expect(a).not.toBe(b);
  });

  it('leaves In-Reply-To and References out when the original had no Message-ID', async () => {
    const mail = await simpleParser(buildDsn(input({ originalMessageId: null })));
    expect(mail.headers.has('in-reply-to')).toBe(false);
    expect(mail.headers.has('references')).toBe(false);
  });

  it('accepts an original Message-ID given without angle brackets', async () => {
    const mail = await simpleParser(buildDsn(input({ originalMessageId: 'm1.abc@a.test' })));
    expect(mail.inReplyTo).toBe('<m1.abc@a.test>');
  });

  it('writes the per-message and per-recipient fields of RFC 3464', () => {
    const { parts } = split(buildDsn(input()));
    expect(parts[1]!.headers.get('content-transfer-encoding')).toBe('7bit');
    const [message, recipient, ...rest] = statusGroups(parts[1]!.body);
    expect(rest).toEqual([]);
    expect(Object.fromEntries(message!)).toEqual({ 'reporting-mta': 'dns; mx.a.test', 'arrival-date': 'Fri, 02 Jan 2026 03:04:05 +0000' });
    expect(Object.fromEntries(recipient!)).toEqual({
      'final-recipient': 'rfc822; bob@b.test',
      action: 'failed',
      status: '5.1.1',
      'remote-mta': 'dns; mx1.b.test',
      'diagnostic-code': 'smtp; 550 5.1.1 <bob@b.test>: Recipient address rejected: User unknown',
      'last-attempt-date': 'Sat, 03 Jan 2026 09:59:00 +0000',
    });
  });

  it('carries the original header block unmodified in part 3', async () => {
    const raw = buildDsn(input());
    const { parts } = split(raw);
    expect(parts[2]!.headers.get('content-transfer-encoding')).toBe('7bit');
    expect(parts[2]!.body).toBe(ORIGINAL_HEADERS);
    const mail = await simpleParser(raw);
    const headersPart = mail.attachments.find((a) => a.contentType === 'text/rfc822-headers');
    expect(headersPart?.content.toString()).toBe(ORIGINAL_HEADERS);
    // Only the headers: the body of the original is not returned.
    expect(raw.toString()).not.toContain('the numbers are attached');
  });

  it('writes an LF-only original header block with CRLF endings', () => {
    const lf = ORIGINAL_HEADERS.replace(/\r\n/g, '\n');
    const raw = buildDsn(input({ originalHeaders: Buffer.from(lf) }));
    expectWellFormed(raw);
    expect(split(raw).parts[2]!.body).toBe(ORIGINAL_HEADERS);
  });

  it('keeps 8-bit and over-long original header lines byte for byte, quoted-printable', async () => {
    const original = Buffer.concat([Buffer.from('Subject: Grüße aus Köln\r\nX-Long: '), Buffer.from('y'.repeat(1500)), Buffer.from('\r\nFrom: ann@a.test\r\n')]);
    const raw = buildDsn(input({ originalHeaders: original }));
    expectWellFormed(raw);
    const part = split(raw).parts[2]!;
    expect(part.headers.get('content-transfer-encoding')).toBe('quoted-printable');
    expect(decodeQuotedPrintable(part.body).equals(original)).toBe(true);
    const mail = await simpleParser(raw);
    expect(mail.attachments.find((a) => a.contentType === 'text/rfc822-headers')?.content.equals(original)).toBe(true);
  });

  it('explains each recipient and the remote reply in the text part', async () => {
    const mail = await simpleParser(buildDsn(input()));
    const text = mail.text ?? '';
    expect(text).toContain('This is the mail system at host mx.a.test.');
    expect(text).toContain('could not be delivered');
    expect(text).toContain('<bob@b.test>: delivery failed (5.1.1)');
    expect(text).toContain('The server mx1.b.test answered:');
    expect(text).toContain('550 5.1.1 <bob@b.test>: Recipient address rejected: User unknown');
    expect(text).toContain('Subject: Quarterly numbers');
  });

  it('lets no remote reply, address or host name add a header field or a status field', async () => {
    const raw = buildDsn(
      input({
        to: 'ann@a.test\r\nBcc: victim1@evil.test',
        originalSubject: 'Hi\r\nBcc: victim2@evil.test',
        originalMessageId: '<m1@a.test>\r\nBcc: victim3@evil.test',
        recipients: [
          {
            recipient: 'bob@b.test\r\nX-Injected: 1',
            action: 'failed',
            status: '5.1.1\r\nX-Injected: 2',
            remoteMta: 'mx.b.test\r\nX-Injected: 3',
            diagnostic: '550 5.1.1 no such user\r\nBcc: victim4@evil.test\r\n\r\nX-Injected: 4\n\rAction: delivered',
          },
        ],
      }),
    );
    expectWellFormed(raw);
    const text = raw.toString();
    expect(text).not.toMatch(/^(bcc|x-injected)\s*:/im);
    const mail = await simpleParser(raw);
    expect(mail.bcc).toBeUndefined();
    expect(mail.headers.has('x-injected')).toBe(false);
    const { headers, parts } = split(raw);
    expect([...headers.keys()]).toEqual(['from', 'to', 'subject', 'date', 'message-id', 'in-reply-to', 'references', 'auto-submitted', 'mime-version', 'content-type']);
    const groups = statusGroups(parts[1]!.body);
    expect(groups).toHaveLength(2);
    expect([...groups[1]!.keys()]).toEqual(['final-recipient', 'action', 'status', 'remote-mta', 'diagnostic-code']);
    expect(groups[1]!.get('action')).toBe('failed');
    // An invalid status is replaced, not passed through.
    expect(groups[1]!.get('status')).toBe('5.0.0');
    expect(groups[1]!.get('diagnostic-code')).toBe('smtp; 550 5.1.1 no such user Bcc: victim4@evil.test X-Injected: 4 Action: delivered');
  });

  it('folds a long diagnostic so no line exceeds 998 octets and unfolding gives the text back', () => {
    const words = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
    const token = 'z'.repeat(3000);
    const raw = buildDsn(input({ recipients: [{ recipient: 'bob@b.test', action: 'failed', status: '5.0.0', diagnostic: `550 ${words}` }, { recipient: 'carl@c.test', action: 'failed', status: '5.0.0', diagnostic: `550 ${token}` }] }));
    expectWellFormed(raw);
    const groups = statusGroups(split(raw).parts[1]!.body);
    expect(groups[1]!.get('diagnostic-code')).toBe(`smtp; 550 ${words}`);
    // A run with no spaces must still be cut; unfolding shows spaces where it was.
    expect(groups[2]!.get('diagnostic-code')!.replace(/ /g, '')).toBe(`smtp;550${token}`);
  });

  it('reports several recipients, each in its own block', () => {
    const raw = buildDsn(
      input({
        recipients: [
          { recipient: 'bob@b.test', action: 'failed', status: '5.1.1', remoteMta: 'mx1.b.test', diagnostic: '550 5.1.1 unknown user' },
          { recipient: 'carl@c.test', action: 'failed', status: '5.2.2', remoteMta: 'mx.c.test', diagnostic: '552 5.2.2 mailbox full' },
          { recipient: '<dora@d.test>', action: 'failed', status: '5.4.4' },
        ],
      }),
    );
    const groups = statusGroups(split(raw).parts[1]!.body);
    expect(groups.slice(1).map((g) => [g.get('final-recipient'), g.get('status'), g.get('remote-mta'), g.get('diagnostic-code')])).toEqual([
      ['rfc822; bob@b.test', '5.1.1', 'dns; mx1.b.test', 'smtp; 550 5.1.1 unknown user'],
      ['rfc822; carl@c.test', '5.2.2', 'dns; mx.c.test', 'smtp; 552 5.2.2 mailbox full'],
      ['rfc822; dora@d.test', '5.4.4', undefined, undefined],
    ]);
  });

  it('builds a delayed notice with Will-Retry-Until and its own subject', async () => {
    const raw = buildDsn(
      input({
        recipients: [
          {
            recipient: 'bob@b.test',
            action: 'delayed',
            status: '4.4.1',
            remoteMta: 'mx1.b.test',
            diagnostic: '421 4.4.1 connection timed out',
            lastAttemptAt: new Date('2026-01-03T09:59:00Z'),
            willRetryUntil: new Date('2026-01-07T03:04:05Z'),
          },
        ],
      }),
    );
    expectWellFormed(raw);
    const mail = await simpleParser(raw);
    expect(mail.subject).toBe('Delayed Mail (still being retried)');
    expect(mail.text).toContain('not been delivered yet');
    expect(mail.text).toContain('Retrying until Wed, 07 Jan 2026 03:04:05 +0000');
    const groups = statusGroups(split(raw).parts[1]!.body);
    expect(Object.fromEntries(groups[1]!)).toEqual({
      'final-recipient': 'rfc822; bob@b.test',
      action: 'delayed',
      status: '4.4.1',
      'remote-mta': 'dns; mx1.b.test',
      'diagnostic-code': 'smtp; 421 4.4.1 connection timed out',
      'last-attempt-date': 'Sat, 03 Jan 2026 09:59:00 +0000',
      'will-retry-until': 'Wed, 07 Jan 2026 03:04:05 +0000',
    });
  });

  it('uses the failure subject when failed and delayed recipients are reported together', async () => {
    const mail = await simpleParser(
      buildDsn(
        input({
          recipients: [
            { recipient: 'bob@b.test', action: 'failed', status: '5.1.1' },
            { recipient: 'carl@c.test', action: 'delayed', status: '4.4.1', willRetryUntil: new Date('2026-01-07T00:00:00Z') },
          ],
        }),
      ),
    );
    expect(mail.subject).toBe('Undelivered Mail Returned to Sender');
    expect(mail.text).toContain('<bob@b.test>: delivery failed (5.1.1)');
    expect(mail.text).toContain('<carl@c.test>: delayed (4.4.1)');
  });

  it('keeps the delivery-status part 7-bit for internationalised addresses and replies', async () => {
    const raw = buildDsn(input({ recipients: [{ recipient: 'jörg@bücher.test', action: 'failed', status: '5.1.1', diagnostic: '550 5.1.1 Empfänger unbekannt' }] }));
    expectWellFormed(raw);
    const { parts } = split(raw);
    expect(parts[1]!.body).toMatch(/^[\x20-\x7e\r\n]*$/);
    const groups = statusGroups(parts[1]!.body);
    expect(groups[1]!.get('final-recipient')).toBe('utf-8; j\\x{F6}rg@b\\x{FC}cher.test');
    expect(groups[1]!.get('diagnostic-code')).toBe('smtp; 550 5.1.1 Empf?nger unbekannt');
    // The human part keeps the real text.
    const mail = await simpleParser(raw);
    expect(mail.text).toContain('<jörg@bücher.test>: delivery failed');
    expect(mail.text).toContain('550 5.1.1 Empfänger unbekannt');
  });

  it('refuses to build a notice without recipients or for a null sender', () => {
    expect(() => buildDsn(input({ recipients: [] }))).toThrow(expect.objectContaining({ code: 'dsn.no_recipients' }));
    expect(() => buildDsn(input({ to: '' }))).toThrow(expect.objectContaining({ code: 'dsn.null_sender' }));
    expect(() => buildDsn(input({ to: '<>' }))).toThrow(expect.objectContaining({ code: 'dsn.null_sender' }));
  });
});
