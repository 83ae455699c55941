import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import type { AddressJson, AttachmentJson } from '../db/schema.js';
import { extractMessageIds, normalizeSubject } from './threading.js';

/**
 * What the store keeps about a message besides its raw bytes. Built from whatever can be read:
 * missing headers become empty values, broken MIME yields what mailparser recovers, and a parser
 * failure still produces a summary from the raw header block. Never throws.
 */
export interface MessageSummary {
  messageId: string | null;
  inReplyTo: string | null;
  references: string[];
  subject: string;
  normalizedSubject: string;
  from: AddressJson[];
  to: AddressJson[];
  cc: AddressJson[];
  sentDate: Date | null;
  snippet: string;
  bodyText: string;
  attachments: AttachmentJson[];
}

const MAX_BODY_TEXT = 200_000;
const SNIPPET_LENGTH = 200;

/** PostgreSQL text cannot hold NUL; control characters are noise in a summary. */
export function cleanText(value: string | undefined | null, max = 10_000): string {
  if (!value) return '';
  // eslint-disable-next-line no-control-regex
  return value.replace(/\u0000/g, '').slice(0, max);
}

/**
 * The addresses of a header field, in order. A member of an RFC 5322 group (`To: team: a@b, c@d;`)
 * carries the group's name; a group with no members (`To: undisclosed-recipients:;`) is kept as one
 * entry without an address, named after the group, so SEARCH and SORT still see the name.
 */
function addresses(obj: AddressObject | AddressObject[] | undefined): AddressJson[] {
  if (!obj) return [];
  const list = Array.isArray(obj) ? obj : [obj];
  const out: AddressJson[] = [];
  const walk = (entries: AddressObject['value'], group?: string) => {
    for (const entry of entries) {
      const address = { name: cleanText(entry.name, 500), address: cleanText(entry.address, 500).toLowerCase() };
      if (entry.group) {
        const name = group ?? (address.name || undefined);
        const before = out.length;
        walk(entry.group, name);
        if (out.length === before && name) out.push({ name: address.name || name, address: '', group: name });
      } else if (address.address || address.name) out.push(group === undefined ? address : { ...address, group });
    }
  };
  for (const item of list) walk(item.value);
  return out.slice(0, 1000);
}

function validDate(date: Date | undefined): Date | null {
  if (!date || Number.isNaN(date.getTime())) return null;
  const year = date.getUTCFullYear();
  return year >= 1970 && year <= 9999 ? date : null;
}

/** mailparser turns an unparseable Date header into "now"; read the header line itself instead. */
function headerDate(mail: ParsedMail): Date | null {
  const line = mail.headerLines.find((h) => h.key === 'date')?.line;
  if (line === undefined) return null;
  return validDate(new Date(line.slice(line.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ').trim()));
}

/** Longest text whose UTF-8 form fits in `maxBytes`, cut on a character boundary. */
function clipBytes(value: string, maxBytes: number): string {
  if (Buffer.byteLength(value) <= maxBytes) return value;
  let bytes = 0;
  let end = 0;
  for (const ch of value) {
    bytes += Buffer.byteLength(ch);
    if (bytes > maxBytes) break;
    end += ch.length;
  }
  return value.slice(0, end);
}

/**
 * Message ids as the store can keep and index them: no NUL (PostgreSQL text cannot hold it) and
 * no id longer than a header line may be (998 octets), which also keeps btree/GIN entries in bounds.
 */
const MAX_ID_BYTES = 998;
function messageIds(value: string | string[] | undefined | null): string[] {
  const text = Array.isArray(value) ? value.map((v) => cleanText(v, 100_000)).join(' ') : cleanText(value, 100_000);
  return extractMessageIds(text).filter((id) => Buffer.byteLength(id) <= MAX_ID_BYTES);
}
const messageId = (value: string | undefined | null): string | null => messageIds(value ?? '')[0] ?? null;

/** The normalized subject is a btree key: bounded in bytes, not only in characters. */
const MAX_NORMALIZED_SUBJECT_BYTES = 1000;

function htmlToPlain(html: string): string {
  return html
    .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
}

/** The bytes after the header block, for a multipart whose parts could not be found. */
function rawBodyText(raw: Buffer): string {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  const start = crlf !== -1 && (lf === -1 || crlf < lf) ? crlf + 4 : lf !== -1 ? lf + 2 : raw.length;
  return raw.subarray(start, start + MAX_BODY_TEXT * 4).toString('utf8');
}

/**
 * The first SNIPPET_LENGTH characters of the text with each whitespace run as one space, trimmed:
 * `text.replace(/\s+/g, ' ').trim().slice(0, SNIPPET_LENGTH)`, reading only as much of the text
 * as that needs (a prefix's collapsed form is a prefix of the whole's).
 */
export function snippetOf(text: string): string {
  for (let length = 1024; ; length *= 4) {
    const head = text.slice(0, length).replace(/\s+/g, ' ').trimStart();
    if (head.length > SNIPPET_LENGTH || length >= text.length) return head.trimEnd().slice(0, SNIPPET_LENGTH);
  }
}

function fromParsed(mail: ParsedMail, raw: Buffer): MessageSummary {
  const subject = cleanText(mail.subject, 2000);
  let text = mail.text ?? (typeof mail.html === 'string' ? htmlToPlain(mail.html) : '');
  const contentType = mail.headers.get('content-type');
  const multipart = typeof contentType === 'object' && contentType !== null && 'value' in contentType && String(contentType.value).toLowerCase().startsWith('multipart/');
  // A multipart whose boundary never appears has no parts; its text is still there to read.
  if (multipart && text.trim() === '' && mail.html === false && mail.attachments.length === 0) text = rawBodyText(raw);
  const bodyText = cleanText(text, MAX_BODY_TEXT);
  return {
    messageId: messageId(mail.messageId),
    inReplyTo: messageId(mail.inReplyTo),
    references: messageIds(mail.references).slice(0, 100),
    subject,
    normalizedSubject: clipBytes(normalizeSubject(subject), MAX_NORMALIZED_SUBJECT_BYTES),
    from: addresses(mail.from),
    to: addresses(mail.to),
    cc: addresses(mail.cc),
    sentDate: headerDate(mail),
    snippet: snippetOf(bodyText),
    bodyText,
    attachments: mail.attachments.slice(0, 500).map((a) => ({
      filename: a.filename ? cleanText(a.filename, 500) : null,
      contentType: cleanText(a.contentType, 200) || 'application/octet-stream',
      size: a.size ?? a.content?.length ?? 0,
      contentId: a.contentId ? cleanText(a.contentId, 500) : null,
      disposition: a.contentDisposition ? cleanText(a.contentDisposition, 200) : null,
    })),
  };
}

/** Last resort when mailparser itself fails: read the subject and ids from the raw header block. */
function fromRawHeaders(raw: Buffer): MessageSummary {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end === -1 ? Math.min(raw.length, 64 * 1024) : end).toString('latin1').replace(/\r?\n[ \t]+/g, ' ');
  const header = (name: string) => head.match(new RegExp(`^${name}:[ \\t]*(.*)$`, 'im'))?.[1] ?? '';
  const subject = cleanText(header('subject'), 2000);
  return {
    messageId: messageId(header('message-id')),
    inReplyTo: messageId(header('in-reply-to')),
    references: messageIds(header('references')).slice(0, 100),
    subject,
    normalizedSubject: clipBytes(normalizeSubject(subject), MAX_NORMALIZED_SUBJECT_BYTES),
    from: [],
    to: [],
    cc: [],
    sentDate: null,
    snippet: '',
    bodyText: '',
    attachments: [],
  };
}

/**
 * True when the message opens with a header field (or an mbox "From " line). Mail that is only a
 * body would otherwise be read as one long, broken header block and its text lost.
 */
function startsWithHeader(raw: Buffer): boolean {
  const firstLine = raw.subarray(0, 1000).toString('latin1').split(/\r?\n/, 1)[0] ?? '';
  return firstLine === '' || /^[\x21-\x39\x3b-\x7e]+[ \t]*:/.test(firstLine) || firstLine.startsWith('From ');
}

const PARSER_OPTIONS = { skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true, maxHtmlLengthToParse: 2 * 1024 * 1024 };
/** Header blocks larger than this always take the full parse. */
const MAX_FAST_HEADER_BYTES = 64 * 1024;

/**
 * Where the body starts (just after the header block's blank line, LF or CRLF, as mailsplit
 * splits), or -1 when the message has no such line within MAX_FAST_HEADER_BYTES.
 */
function bodyStart(raw: Buffer): number {
  const limit = Math.min(raw.length, MAX_FAST_HEADER_BYTES);
  for (let i = raw.indexOf(0x0a); i !== -1 && i < limit; i = raw.indexOf(0x0a, i + 1)) {
    if (raw[i + 1] === 0x0a) return i + 2;
    if (raw[i + 1] === 0x0d && raw[i + 2] === 0x0a) return i + 3;
  }
  return -1;
}

/**
 * True when the headers describe one plain-text part mailparser would pass through unchanged:
 * no Content-Type or `text/plain` with at most a UTF-8/ASCII charset (no format=flowed, no
 * name), no Content-Disposition, no transfer encoding beyond 7bit/8bit.
 */
function isPlainUtf8Body(headers: ParsedMail['headers']): boolean {
  if (headers.has('content-disposition')) return false;
  const encoding = headers.get('content-transfer-encoding');
  if (encoding !== undefined && (typeof encoding !== 'string' || !['7bit', '8bit'].includes(encoding.trim().toLowerCase()))) return false;
  const type = headers.get('content-type');
  if (type === undefined) return true;
  if (typeof type !== 'object' || type === null || !('value' in type) || String(type.value).toLowerCase() !== 'text/plain') return false;
  const params = ('params' in type ? type.params : {}) as Record<string, unknown>;
  return Object.keys(params).every((key) => key === 'charset' && typeof params[key] === 'string' && ['ascii', 'usascii', 'utf8'].includes(params[key].toLowerCase().replace(/[^a-z0-9]+/g, '')));
}

/**
 * The summary as the full MIME parse (mailparser) gives it. summarizeMessage takes a shortcut
 * for plain-text mail with the same result; this is the reference the shortcut is tested against.
 */
export async function summarizeFully(raw: Buffer): Promise<MessageSummary> {
  try {
    const input = startsWithHeader(raw) ? raw : Buffer.concat([Buffer.from('\r\n'), raw]);
    const mail = await simpleParser(input, PARSER_OPTIONS);
    return fromParsed(mail, input);
  } catch {
    return fromRawHeaders(raw);
  }
}

/**
 * The message's summary. Plain-text mail (most of what arrives, and all of issue #14's load)
 * has only its header block parsed by mailparser, and its body read as the UTF-8 text mailparser
 * would produce (line breaks as LF); everything else gets the full parse (summarizeFully).
 */
export async function summarizeMessage(raw: Buffer): Promise<MessageSummary> {
  const firstLine = raw.subarray(0, 1000).toString('latin1').split(/\r?\n/, 1)[0] ?? '';
  const start = firstLine !== '' && !firstLine.startsWith('From ') && startsWithHeader(raw) ? bodyStart(raw) : -1;
  if (start === -1) return summarizeFully(raw);
  let mail: ParsedMail;
  try {
    mail = await simpleParser(raw.subarray(0, start), PARSER_OPTIONS);
  } catch {
    return summarizeFully(raw);
  }
  if (!isPlainUtf8Body(mail.headers)) return summarizeFully(raw);
  const text = raw.subarray(start).toString('utf8').replace(/\r?\n/g, '\n');
  if (text !== '') mail.text = text;
  return fromParsed(mail, raw);
}

/**
 * The searchable text of an address list (from_text, to_text, cc_text): each group's name once,
 * before its members, and every member's name and address.
 */
export function addressText(list: AddressJson[]): string {
  const words: string[] = [];
  list.forEach((a, i) => {
    if (a.group && a.group !== list[i - 1]?.group) words.push(a.group);
    if (a.address) words.push(a.name ? `${a.name} ${a.address}` : a.address);
    else if (a.name && a.name !== a.group) words.push(a.name);
  });
  return words.join(' ');
}
