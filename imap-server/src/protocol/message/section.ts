/**
 * BODY[<section>] bytes (RFC 3501 section 6.4.5). Part numbers walk the MIME tree: part 1 of a
 * non-multipart message is its body; the parts of a message/rfc822 part are those of the message
 * inside it. HEADER, HEADER.FIELDS(.NOT) and TEXT apply to the message itself (no part number) or
 * to a message/rfc822 part; MIME is the header of a numbered part. Bytes are returned as stored,
 * except by BINARY[<part>] (RFC 3516), which removes the part's Content-Transfer-Encoding.
 */
import { fieldValue, findField, parseStructured } from './header.js';
import type { MimeEntity } from './mime-tree.js';
import { decodeTransferEncoding } from './transfer-encoding.js';

export interface SectionSpec {
  path: number[];
  kind?: 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';
  fields?: string[];
}

const CRLF = Buffer.from('\r\n');

/** Part `n` of a message (the root or one inside a message/rfc822 part). */
function partOfMessage(message: MimeEntity, n: number): MimeEntity | undefined {
  if (message.children.length > 0) return message.children[n - 1];
  return n === 1 && !isMultipart(message) ? message : undefined;
}

function isMultipart(entity: MimeEntity): boolean {
  return entity.type.toLowerCase() === 'multipart' && !entity.opaque;
}

/** Part `n` below a numbered part: a multipart's child, or a part of the message it encapsulates. */
function subPart(part: MimeEntity, n: number): MimeEntity | undefined {
  if (isMultipart(part)) return part.children[n - 1];
  return part.message ? partOfMessage(part.message, n) : undefined;
}

function resolve(root: MimeEntity, path: number[]): MimeEntity | undefined {
  let part = partOfMessage(root, path[0]!);
  for (const n of path.slice(1)) {
    if (!part) return undefined;
    part = subPart(part, n);
  }
  return part;
}

/** The header fields whose names are (or, with `exclude`, are not) listed, then the empty line. */
function headerFields(buf: Buffer, message: MimeEntity, names: string[], exclude: boolean): Buffer {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const picked = message.fields.filter((f) => wanted.has(f.name) !== exclude).map((f) => buf.subarray(f.start, f.end));
  return Buffer.concat([...picked, CRLF]);
}

/** The bytes of BODY[spec] of the message `root` parsed from `buf`; empty when there is no such part. */
export function sectionBytes(buf: Buffer, root: MimeEntity, spec: SectionSpec): Buffer {
  const part = spec.path.length === 0 ? root : resolve(root, spec.path);
  if (!part) return Buffer.alloc(0);
  if (spec.kind === 'MIME') return spec.path.length === 0 ? Buffer.alloc(0) : buf.subarray(part.start, part.bodyStart);
  if (spec.kind === undefined) return buf.subarray(spec.path.length === 0 ? part.start : part.bodyStart, part.end);
  const message = spec.path.length === 0 ? root : part.message;
  if (!message) return Buffer.alloc(0);
  switch (spec.kind) {
    case 'HEADER':
      return buf.subarray(message.start, message.bodyStart);
    case 'TEXT':
      return buf.subarray(message.bodyStart, message.end);
    case 'HEADER.FIELDS':
      return headerFields(buf, message, spec.fields ?? [], false);
    case 'HEADER.FIELDS.NOT':
      return headerFields(buf, message, spec.fields ?? [], true);
  }
}

/** An entity's Content-Transfer-Encoding (its token, comments dropped); undefined when it has none. */
export function transferEncoding(buf: Buffer, entity: MimeEntity): string | undefined {
  const field = findField(entity.fields, 'content-transfer-encoding');
  return field ? parseStructured(fieldValue(buf, field)).value : undefined;
}

/**
 * BINARY[path]: the whole message as stored for no path, else the part's content with its
 * Content-Transfer-Encoding removed (a multipart's or message/rfc822's is an identity one, so
 * those come as BODY[path] does); empty when there is no such part. `unknownEncoding` when the
 * encoding is not one we can remove (answered `NO [UNKNOWN-CTE]`).
 */
export function binarySectionBytes(buf: Buffer, root: MimeEntity, path: number[]): { bytes: Buffer } | { unknownEncoding: string } {
  if (path.length === 0) return { bytes: buf.subarray(root.start, root.end) };
  const part = resolve(root, path);
  if (!part) return { bytes: Buffer.alloc(0) };
  const encoding = transferEncoding(buf, part);
  const bytes = decodeTransferEncoding(encoding, buf.subarray(part.bodyStart, part.end));
  return bytes ? { bytes } : { unknownEncoding: encoding! };
}
