/**
 * The MIME tree of a message over byte offsets into its bytes (RFC 2045/2046): each entity knows
 * where its header, body and end are; a multipart has its children, a message/rfc822 part its
 * embedded message. Never throws: a missing boundary makes the last part run to the end, a
 * missing empty line makes a header-only entity, and past the nesting or part-count caps a
 * multipart or message/rfc822 entity is kept as one opaque leaf.
 */
import { fieldValue, findField, paramValue, parseHeaderBlock, parseStructured, type HeaderField, type MimeParam } from './header.js';

/** Dovecot's defaults for the same limits. */
export const MAX_DEPTH = 100;
export const MAX_PARTS = 10_000;

export interface MimeEntity {
  start: number;
  bodyStart: number;
  end: number;
  fields: HeaderField[];
  /** Type and subtype as written; `text`/`plain` (or `message`/`rfc822` in a digest) when absent. */
  type: string;
  subtype: string;
  params: MimeParam[];
  /** Whether the entity had a usable Content-Type (else the default applies, with charset us-ascii). */
  explicitType: boolean;
  /** A multipart's parts (empty otherwise). */
  children: MimeEntity[];
  /** The message inside a message/rfc822 entity. */
  message?: MimeEntity;
  /** A multipart or message/rfc822 entity that was not parsed (a cap was reached, or no boundary): described as application/octet-stream. */
  opaque: boolean;
}

const LF = 0x0a;
const CR = 0x0d;

interface ParseState {
  buf: Buffer;
  parts: number;
}

/** Parses the entity in `[start, end)`; `digest` means its parent is multipart/digest. */
function parseEntity(state: ParseState, start: number, end: number, depth: number, digest: boolean): MimeEntity {
  state.parts++;
  const { buf } = state;
  const { fields, bodyStart } = parseHeaderBlock(buf, start, end);
  const ctField = findField(fields, 'content-type');
  const ct = ctField ? parseStructured(fieldValue(buf, ctField)) : undefined;
  const slash = ct ? ct.value.indexOf('/') : -1;
  const explicitType = ct !== undefined && slash > 0 && slash < ct.value.length - 1;
  const entity: MimeEntity = {
    start,
    bodyStart,
    end,
    fields,
    type: explicitType ? ct!.value.slice(0, slash).trim() : digest ? 'message' : 'text',
    subtype: explicitType ? ct!.value.slice(slash + 1).trim() : digest ? 'rfc822' : 'plain',
    params: explicitType ? ct!.params : [],
    explicitType,
    children: [],
    opaque: false,
  };
  const type = entity.type.toLowerCase();
  const structured = type === 'multipart' || (type === 'message' && entity.subtype.toLowerCase() === 'rfc822');
  if (!structured) return entity;
  const withinCaps = depth < MAX_DEPTH && state.parts < MAX_PARTS;
  if (type === 'multipart') {
    const boundary = paramValue(entity.params, 'boundary');
    if (!withinCaps || !boundary) entity.opaque = true;
    else entity.children = parseMultipart(state, entity, boundary, depth);
  } else {
    const encoding = findField(fields, 'content-transfer-encoding');
    const identity = !encoding || /^(7bit|8bit|binary)$/i.test(fieldValue(buf, encoding));
    if (!withinCaps || !identity) entity.opaque = true;
    else entity.message = parseEntity(state, bodyStart, end, depth + 1, false);
  }
  return entity;
}

/** Where the line ending just before `pos` starts (the CRLF before a delimiter belongs to it). */
function lineEndingStart(buf: Buffer, pos: number, floor: number): number {
  if (pos > floor && buf[pos - 1] === LF) return pos - 2 >= floor && buf[pos - 2] === CR ? pos - 2 : pos - 1;
  return pos;
}

function parseMultipart(state: ParseState, entity: MimeEntity, boundary: string, depth: number): MimeEntity[] {
  const { buf } = state;
  const needle = Buffer.from(`--${boundary}`, 'utf8');
  const children: MimeEntity[] = [];
  let partStart = -1; // start of the current part's content, once a delimiter was seen
  let from = entity.bodyStart;
  for (;;) {
    const idx = buf.indexOf(needle, from);
    if (idx === -1 || idx + needle.length > entity.end) break;
    from = idx + needle.length;
    if (idx !== entity.bodyStart && buf[idx - 1] !== LF) continue;
    let p = idx + needle.length;
    const close = p + 2 <= entity.end && buf[p] === 0x2d && buf[p + 1] === 0x2d;
    if (close) p += 2;
    while (p < entity.end && (buf[p] === 0x20 || buf[p] === 0x09)) p++;
    if (p < entity.end && buf[p] !== LF && !(buf[p] === CR && buf[p + 1] === LF)) continue;
    const lineEnd = p >= entity.end ? entity.end : buf[p] === CR ? p + 2 : p + 1;
    if (partStart !== -1) {
      const contentEnd = Math.max(partStart, lineEndingStart(buf, idx, entity.bodyStart));
      children.push(parseEntity(state, partStart, contentEnd, depth + 1, isDigest(entity)));
    }
    if (close) {
      partStart = -1;
      break;
    }
    partStart = Math.min(lineEnd, entity.end);
    if (state.parts >= MAX_PARTS) break; // the last part runs to the end
    from = partStart;
  }
  if (partStart !== -1) children.push(parseEntity(state, partStart, entity.end, depth + 1, isDigest(entity)));
  return children;
}

function isDigest(entity: MimeEntity): boolean {
  return entity.subtype.toLowerCase() === 'digest';
}

/** Parses a whole message. */
export function parseMessage(buf: Buffer): MimeEntity {
  return parseEntity({ buf, parts: 0 }, 0, buf.length, 0, false);
}
