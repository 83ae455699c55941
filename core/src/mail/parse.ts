import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import type { AddressJson, AttachmentJson } from '../db/schema.js';
import { extractMessageIds, normalizeMessageId, normalizeSubject } from './threading.js';

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

function addresses(obj: AddressObject | AddressObject[] | undefined): AddressJson[] {
  if (!obj) return [];
  const list = Array.isArray(obj) ? obj : [obj];
  const out: AddressJson[] = [];
  const walk = (entries: AddressObject['value']) => {
    for (const entry of entries) {
      if (entry.group) walk(entry.group);
      else if (entry.address || entry.name) out.push({ name: cleanText(entry.name, 500), address: cleanText(entry.address, 500).toLowerCase() });
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

function htmlToPlain(html: string): string {
  return html
    .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
}

function fromParsed(mail: ParsedMail): MessageSummary {
  const subject = cleanText(mail.subject, 2000);
  const text = mail.text ?? (typeof mail.html === 'string' ? htmlToPlain(mail.html) : '');
  const bodyText = cleanText(text, MAX_BODY_TEXT);
  return {
    messageId: normalizeMessageId(mail.messageId),
    inReplyTo: normalizeMessageId(mail.inReplyTo),
    references: extractMessageIds(mail.references).slice(0, 100),
    subject,
    normalizedSubject: normalizeSubject(subject),
    from: addresses(mail.from),
    to: addresses(mail.to),
    cc: addresses(mail.cc),
    sentDate: validDate(mail.date),
    snippet: bodyText.replace(/\s+/g, ' ').trim().slice(0, SNIPPET_LENGTH),
    bodyText,
    attachments: mail.attachments.slice(0, 500).map((a) => ({
      filename: a.filename ? cleanText(a.filename, 500) : null,
      contentType: cleanText(a.contentType, 200) || 'application/octet-stream',
      size: a.size ?? a.content?.length ?? 0,
      contentId: a.contentId ? cleanText(a.contentId, 500) : null,
      disposition: a.contentDisposition ?? null,
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
    messageId: normalizeMessageId(header('message-id')),
    inReplyTo: normalizeMessageId(header('in-reply-to')),
    references: extractMessageIds(header('references')).slice(0, 100),
    subject,
    normalizedSubject: normalizeSubject(subject),
    from: [],
    to: [],
    cc: [],
    sentDate: null,
    snippet: '',
    bodyText: '',
    attachments: [],
  };
}

export async function summarizeMessage(raw: Buffer): Promise<MessageSummary> {
  try {
    const mail = await simpleParser(raw, { skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true, maxHtmlLengthToParse: 2 * 1024 * 1024 });
    return fromParsed(mail);
  } catch {
    return fromRawHeaders(raw);
  }
}

export function addressText(list: AddressJson[]): string {
  return list.map((a) => (a.name ? `${a.name} ${a.address}` : a.address)).join(' ');
}
