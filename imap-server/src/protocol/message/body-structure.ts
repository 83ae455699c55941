/**
 * RFC 3501 BODY and BODYSTRUCTURE of a parsed MIME tree, following Dovecot's conventions: types
 * and parameters as written, `"charset" "us-ascii"` added to text parts that name none, "7bit"
 * when no transfer encoding is given, sizes and line counts of the bytes as stored, a multipart
 * without parts described as one empty text/plain part, unparsed entities as application/octet-stream.
 */
import { formatEnvelope } from './envelope.js';
import { fieldValue, findField, parseStructured, type MimeParam } from './header.js';
import { imapNString, imapString } from './imap-string.js';
import type { MimeEntity } from './mime-tree.js';

const EMPTY_BODY = '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0)';
const EMPTY_BODYSTRUCTURE = '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)';

function formatParams(params: MimeParam[]): string {
  if (params.length === 0) return 'NIL';
  return `(${params.map((p) => `${imapString(p.name)} ${imapString(p.value)}`).join(' ')})`;
}

function countLines(buf: Buffer, start: number, end: number): number {
  let lines = 0;
  for (let i = buf.indexOf(0x0a, start); i !== -1 && i < end; i = buf.indexOf(0x0a, i + 1)) lines++;
  return lines;
}

/** Disposition, language and location: the extension data both part kinds end with. */
function commonExtension(buf: Buffer, entity: MimeEntity): string {
  const text = (name: string) => {
    const field = findField(entity.fields, name);
    return field ? fieldValue(buf, field) : undefined;
  };
  const dispositionText = text('content-disposition');
  const disposition = dispositionText ? parseStructured(dispositionText) : undefined;
  const languages = (text('content-language') ?? '')
    .replace(/\([^)]*\)/g, '')
    .split(',')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  return [
    disposition?.value ? `(${imapString(disposition.value)} ${formatParams(disposition.params)})` : 'NIL',
    languages.length > 0 ? `(${languages.map(imapString).join(' ')})` : 'NIL',
    imapNString(text('content-location')),
  ].join(' ');
}

function formatMultipart(buf: Buffer, entity: MimeEntity, extended: boolean): string {
  const children =
    entity.children.length > 0
      ? entity.children.map((c) => formatEntity(buf, c, extended)).join('')
      : extended
        ? EMPTY_BODYSTRUCTURE
        : EMPTY_BODY;
  const head = `${children} ${imapString(entity.subtype)}`;
  if (!extended) return head;
  return `${head} ${formatParams(entity.params)} ${commonExtension(buf, entity)}`;
}

function formatLeaf(buf: Buffer, entity: MimeEntity, extended: boolean): string {
  const text = (name: string) => {
    const field = findField(entity.fields, name);
    return field ? fieldValue(buf, field) : undefined;
  };
  const type = entity.opaque ? 'application' : entity.type;
  const subtype = entity.opaque ? 'octet-stream' : entity.subtype;
  const isText = type.toLowerCase() === 'text';
  const params =
    isText && !entity.params.some((p) => p.name.toLowerCase() === 'charset')
      ? [...entity.params, { name: 'charset', value: 'us-ascii' }]
      : entity.params;
  const fields = [
    `${imapString(type)} ${imapString(subtype)}`,
    formatParams(params),
    imapNString(text('content-id')),
    imapNString(text('content-description')),
    imapString(text('content-transfer-encoding') || '7bit'),
    String(entity.end - entity.bodyStart),
  ];
  if (isText) {
    fields.push(String(countLines(buf, entity.bodyStart, entity.end)));
  } else if (entity.message) {
    fields.push(formatEnvelope(buf, entity.message.fields));
    fields.push(formatEntity(buf, entity.message, extended));
    fields.push(String(countLines(buf, entity.bodyStart, entity.end)));
  }
  if (extended) fields.push(imapNString(text('content-md5')), commonExtension(buf, entity));
  return fields.join(' ');
}

/** The parenthesized BODYSTRUCTURE (`extended`) or BODY of `entity`. */
export function formatEntity(buf: Buffer, entity: MimeEntity, extended: boolean): string {
  const multipart = entity.type.toLowerCase() === 'multipart' && !entity.opaque;
  return `(${multipart ? formatMultipart(buf, entity, extended) : formatLeaf(buf, entity, extended)})`;
}
