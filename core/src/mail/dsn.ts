import { randomBytes } from 'node:crypto';
import { AppError } from '../errors.js';
import { extractMessageIds } from './threading.js';
import { splitMessage } from './raw-headers.js';

/**
 * Delivery status notifications (RFC 3464 inside an RFC 6522 multipart/report): the bounce a
 * sender gets when the outbound worker gives up on a recipient, or the warning while it retries.
 *
 * Everything that comes from outside (remote replies, addresses, host names, the original subject)
 * is reduced to one line without control characters before it is written, so a reply such as
 * "550 no\r\nBcc: victim@x" cannot add a header field. The machine-readable part is 7-bit as
 * RFC 3464 requires; the human part is UTF-8 in quoted-printable; the original header block is
 * carried unchanged (7bit when it can be, else quoted-printable, which decodes to the same bytes).
 */

export interface DsnRecipient {
  recipient: string;
  action: 'failed' | 'delayed';
  /** Enhanced status code (RFC 3463), e.g. '5.1.1'. */
  status: string;
  /** Host name of the remote MTA that answered, when there was one. */
  remoteMta?: string;
  /** The remote reply text, e.g. '550 5.1.1 <x@y>: Recipient address rejected'. */
  diagnostic?: string;
  lastAttemptAt?: Date;
  willRetryUntil?: Date;
}

export interface DsnInput {
  /** Our MAIL_HOSTNAME. */
  reportingMta: string;
  /** The sender's address (the original envelope sender, where the notice goes). */
  to: string;
  originalEnvelopeFrom: string;
  arrivalDate: Date;
  recipients: DsnRecipient[];
  /** Header block of the original message (see headerBlock). */
  originalHeaders: Buffer;
  originalSubject?: string;
  originalMessageId?: string | null;
  now?: Date;
}

const CRLF = '\r\n';
/** RFC 5322 §2.1.1: lines SHOULD be at most 78 characters and MUST be at most 998 octets. */
const FOLD_AT = 78;
const MAX_LINE = 998;
/** Longest unbroken run written on one line (leaves room for a field name on the first). */
const MAX_TOKEN = 900;
const MAX_DIAGNOSTIC = 10_000;
/** The original header block is carried whole up to this size, then cut at a field boundary. */
const MAX_ORIGINAL_HEADERS = 256 * 1024;

/** The header section of a raw message: every line before the first empty line (CRLF or LF). */
export function headerBlock(raw: Buffer): Buffer {
  return splitMessage(raw).header;
}

/**
 * The enhanced status code (RFC 3463) of an SMTP reply: the one the server gave, with its class
 * made to agree with the reply code ("550 4.7.1" is a permanent failure: 5.7.1), or 5.0.0 / 4.0.0
 * when it gave none. A code that is neither 4xx nor 5xx counts as temporary (fail closed).
 */
export function statusFromReply(code: number, text: string): string {
  const klass = Number.isInteger(code) && code >= 500 && code <= 599 ? '5' : '4';
  const firstLine = (text ?? '').split(/\r?\n/, 1)[0] ?? '';
  const match = firstLine.replace(/^\s*\d{3}(?:[ -]|$)/, '').match(/^\s*[245]\.(\d{1,3})\.(\d{1,3})(?![\d.])/);
  if (!match) return `${klass}.0.0`;
  return `${klass}.${Number(match[1])}.${Number(match[2])}`;
}

/** One line of text: line breaks become spaces, other control characters are dropped. */
function oneLine(value: string | undefined | null, max = 2000): string {
  return (
    String(value ?? '')
      .replace(/[\r\n\t\u2028\u2029]+/g, ' ')
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001f\u007f-\u009f]/g, '')
      .replace(/ {2,}/g, ' ')
      .trim()
      .slice(0, max)
  );
}

/** US-ASCII only (message/delivery-status is 7-bit): other characters become '?'. */
const ascii = (value: string): string => value.replace(/[^\x20-\x7e]/g, '?');

function address(value: string): string {
  return oneLine(value, 1000).replace(/^<(.*)>$/, '$1').trim();
}

function hostName(value: string | undefined): string {
  return oneLine(value, 255)
    .toLowerCase()
    .replace(/[^a-z0-9.\-_:[\]]/g, '')
    .replace(/\.$/, '');
}

function validDate(date: Date | undefined): date is Date {
  return date instanceof Date && !Number.isNaN(date.getTime());
}

/** RFC 5322 date-time in UTC, e.g. "Thu, 05 Nov 2026 10:00:00 +0000". */
function rfc5322Date(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}

/**
 * An address for a delivery-status field: `rfc822; addr` when it is ASCII, else the RFC 6533
 * `utf-8` type with every non-ASCII character (and `\`, `+`, `=`) written as `\x{HEX}`.
 */
function typedAddress(value: string): string {
  const addr = address(value);
  if (/^[\x21-\x7e]*$/.test(addr)) return `rfc822; ${addr}`;
  let out = '';
  for (const ch of addr) {
    const cp = ch.codePointAt(0)!;
    if (cp > 0x20 && cp < 0x7f && ch !== '\\' && ch !== '+' && ch !== '=') out += ch;
    else out += `\\x{${cp.toString(16).toUpperCase().padStart(2, '0')}}`;
  }
  return `utf-8; ${out}`;
}

/**
 * `Name: value`, folded at spaces so lines stay near 78 characters. A run of more than MAX_TOKEN
 * characters without a space is cut (unfolding then shows a space there): the 998-octet limit wins.
 */
function field(name: string, value: string): string {
  const tokens: string[] = [];
  for (const word of value.split(' ')) {
    for (let i = 0; i < word.length; i += MAX_TOKEN) tokens.push(word.slice(i, i + MAX_TOKEN));
  }
  const lines: string[] = [];
  let line = `${name}:`;
  tokens.forEach((token, i) => {
    if (i > 0 && line.length + 1 + token.length > FOLD_AT) {
      lines.push(line);
      line = '';
    }
    line += ` ${token}`;
  });
  lines.push(line);
  return lines.join(CRLF);
}

/** Quoted-printable (RFC 2045 §6.7) of lines of bytes, with CRLF hard breaks and 76-char lines. */
function quotedPrintable(lines: Buffer[]): string {
  const out: string[] = [];
  for (const bytes of lines) {
    let line = '';
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      const last = i === bytes.length - 1;
      const literal = (b >= 33 && b <= 126 && b !== 61) || ((b === 32 || b === 9) && !last);
      const token = literal ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
      // Room for the soft break "=" (or, on the last token, for nothing more).
      if (line.length + token.length > (last ? 76 : 75)) {
        out.push(`${line}=`);
        line = '';
      }
      line += token;
    }
    out.push(line);
  }
  return out.join(CRLF);
}

/** Splits text into lines on CRLF, LF or a lone CR. */
function splitLines(text: string): string[] {
  return text.split(/\r\n|\r|\n/);
}

/** The original header block with CRLF endings, cut at a field boundary if it is very large. */
function originalHeaderLines(block: Buffer): Buffer[] {
  const head = headerBlock(block);
  const lines: Buffer[] = [];
  let size = 0;
  let pos = 0;
  while (pos < head.length) {
    let eol = head.indexOf(0x0a, pos);
    const next = eol === -1 ? head.length : eol + 1;
    if (eol === -1) eol = head.length;
    const end = eol > pos && head[eol - 1] === 0x0d ? eol - 1 : eol;
    const line = head.subarray(pos, end);
    const continuation = line[0] === 0x20 || line[0] === 0x09;
    if (size + line.length + 2 > MAX_ORIGINAL_HEADERS && !continuation) break;
    lines.push(line);
    size += line.length + 2;
    pos = next;
  }
  return lines;
}

/** 7bit when every line is short printable ASCII (tab allowed), else quoted-printable. */
function encodeHeaderPart(lines: Buffer[]): { encoding: '7bit' | 'quoted-printable'; body: string; eightBit: boolean } {
  let eightBit = false;
  let plain = true;
  for (const line of lines) {
    if (line.length > MAX_LINE) plain = false;
    for (const b of line) {
      if (b >= 0x80) eightBit = true;
      if (b >= 0x80 || b === 0x7f || (b < 0x20 && b !== 0x09)) plain = false;
    }
  }
  // Each header line keeps its own line ending, as in the original block.
  const end = lines.length > 0 ? CRLF : '';
  if (plain) return { encoding: '7bit', body: lines.map((l) => l.toString('latin1')).join(CRLF) + end, eightBit };
  return { encoding: 'quoted-printable', body: quotedPrintable(lines) + end, eightBit };
}

function validStatus(status: string, action: DsnRecipient['action']): string {
  const s = oneLine(status, 20);
  return /^[245]\.\d{1,3}\.\d{1,3}$/.test(s) ? s : action === 'failed' ? '5.0.0' : '4.0.0';
}

/** A remote reply as one line: multi-line replies are joined with spaces. */
function diagnosticText(reply: string | undefined): string {
  return oneLine(reply, MAX_DIAGNOSTIC);
}

/** The remote reply for people: each reply line kept, control characters dropped. */
function replyLines(reply: string | undefined): string[] {
  return splitLines(String(reply ?? '').slice(0, MAX_DIAGNOSTIC))
    .map((l) => oneLine(l, MAX_DIAGNOSTIC))
    .filter((l) => l !== '');
}

function humanText(input: DsnInput, host: string, failed: DsnRecipient[], delayed: DsnRecipient[]): string[] {
  const subject = oneLine(input.originalSubject, 500);
  const lines: string[] = [`This is the mail system at host ${host}.`, ''];
  if (failed.length > 0) {
    lines.push(
      'Your message could not be delivered to one or more recipients.',
      'The headers of your message are attached below.',
    );
  } else {
    lines.push(
      'Your message has not been delivered yet to one or more recipients.',
      'The mail system will keep trying; you do not need to send it again.',
      'If it still cannot be delivered, you will get another notice.',
    );
  }
  lines.push('');
  if (subject !== '') lines.push(`  Subject: ${subject}`);
  const from = address(input.originalEnvelopeFrom);
  if (from !== '') lines.push(`  From:    <${from}>`);
  if (validDate(input.arrivalDate)) lines.push(`  Sent:    ${rfc5322Date(input.arrivalDate)}`);
  const describe = (r: DsnRecipient, status: string, state: string) => {
    lines.push('', `<${address(r.recipient)}>: ${state} (${status})`);
    if (r.action === 'delayed' && validDate(r.willRetryUntil)) lines.push(`    Retrying until ${rfc5322Date(r.willRetryUntil)}.`);
    const reply = replyLines(r.diagnostic);
    const remote = hostName(r.remoteMta);
    if (reply.length > 0) {
      lines.push(remote !== '' ? `    The server ${remote} answered:` : '    The server answered:');
      for (const l of reply) lines.push(`      ${l}`);
    } else if (remote !== '') {
      lines.push(`    Last tried: ${remote}`);
    }
  };
  if (failed.length > 0) {
    lines.push('', 'Delivery failed for:');
    for (const r of failed) describe(r, validStatus(r.status, r.action), 'delivery failed');
  }
  if (delayed.length > 0) {
    lines.push('', 'Still trying to deliver to:');
    for (const r of delayed) describe(r, validStatus(r.status, r.action), 'delayed');
  }
  lines.push('');
  return lines;
}

function deliveryStatus(input: DsnInput, host: string): string {
  const perMessage = [field('Reporting-MTA', `dns; ${ascii(host)}`)];
  if (validDate(input.arrivalDate)) perMessage.push(field('Arrival-Date', rfc5322Date(input.arrivalDate)));
  const blocks = [perMessage.join(CRLF)];
  for (const r of input.recipients) {
    const lines = [field('Final-Recipient', typedAddress(r.recipient)), field('Action', r.action), field('Status', validStatus(r.status, r.action))];
    const remote = hostName(r.remoteMta);
    if (remote !== '') lines.push(field('Remote-MTA', `dns; ${ascii(remote)}`));
    const diagnostic = ascii(diagnosticText(r.diagnostic));
    if (diagnostic !== '') lines.push(field('Diagnostic-Code', `smtp; ${diagnostic}`));
    if (validDate(r.lastAttemptAt)) lines.push(field('Last-Attempt-Date', rfc5322Date(r.lastAttemptAt)));
    if (r.action === 'delayed' && validDate(r.willRetryUntil)) lines.push(field('Will-Retry-Until', rfc5322Date(r.willRetryUntil)));
    blocks.push(lines.join(CRLF));
  }
  return blocks.join(CRLF + CRLF) + CRLF;
}

/**
 * A complete RFC 5322 message reporting failed or delayed recipients to the sender: a
 * multipart/report with a human explanation, the message/delivery-status, and the original
 * header block as text/rfc822-headers. CRLF line endings, no line over 998 octets.
 */
export function buildDsn(input: DsnInput): Buffer {
  if (input.recipients.length === 0) throw new AppError('dsn.no_recipients', 'a delivery status notification needs at least one recipient', 500);
  const to = address(input.to);
  // RFC 5321 §4.5.5: never send a notice to the null reverse-path (no bounces of bounces).
  if (to === '') throw new AppError('dsn.null_sender', 'no delivery status notification is sent for a message with a null sender', 500);
  const host = hostName(input.reportingMta) || 'localhost';
  const now = validDate(input.now) ? input.now : new Date();
  const failed = input.recipients.filter((r) => r.action === 'failed');
  const delayed = input.recipients.filter((r) => r.action !== 'failed');

  const human = quotedPrintable(humanText(input, host, failed, delayed).map((l) => Buffer.from(l, 'utf8')));
  const status = deliveryStatus(input, host);
  const headers = encodeHeaderPart(originalHeaderLines(input.originalHeaders));

  let boundary = '';
  do boundary = `=_mailyard-dsn-${randomBytes(12).toString('hex')}`;
  while ([human, status, headers.body].some((body) => body.includes(boundary)));

  const originalId = extractMessageIds(oneLine(input.originalMessageId, 2000))[0];
  const threadId = originalId && /^<[\x21-\x7e]+>$/.test(originalId) && originalId.length <= MAX_LINE - 20 ? originalId : null;

  const top = [
    field('From', `"Mail Delivery System" <MAILER-DAEMON@${host}>`),
    field('To', `<${to}>`),
    field('Subject', failed.length > 0 ? 'Undelivered Mail Returned to Sender' : 'Delayed Mail (still being retried)'),
    field('Date', rfc5322Date(now)),
    field('Message-ID', `<${now.getTime().toString(36)}.${randomBytes(8).toString('hex')}@${host}>`),
    ...(threadId ? [field('In-Reply-To', threadId), field('References', threadId)] : []),
    field('Auto-Submitted', 'auto-replied'),
    field('MIME-Version', '1.0'),
    field('Content-Type', `multipart/report; report-type=delivery-status; boundary="${boundary}"`),
  ];

  const message = [
    ...top,
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Description: Notification',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    human,
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    'Content-Description: Delivery report',
    'Content-Transfer-Encoding: 7bit',
    '',
    status,
    `--${boundary}`,
    headers.eightBit ? 'Content-Type: text/rfc822-headers; charset=utf-8' : 'Content-Type: text/rfc822-headers',
    'Content-Description: Undelivered Message Headers',
    `Content-Transfer-Encoding: ${headers.encoding}`,
    '',
    headers.body,
    `--${boundary}--`,
    '',
  ];
  return Buffer.from(message.join(CRLF), 'utf8');
}
