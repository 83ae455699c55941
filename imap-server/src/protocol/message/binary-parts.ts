/**
 * A message that came in an APPEND literal8 (RFC 3516), made storable: each leaf part whose content
 * holds NUL under an identity encoding (binary, 8bit, 7bit, none) is re-encoded as base64, its
 * Content-Transfer-Encoding field replaced (or added). BODY[] then never carries NUL, and BINARY[]
 * gives the original bytes back. As Dovecot does for the same case.
 */
import { findField } from './header.js';
import { parseMessage, type MimeEntity } from './mime-tree.js';
import { transferEncoding } from './section.js';
import { encodeBase64Lines, isIdentityEncoding } from './transfer-encoding.js';

const BASE64_FIELD = Buffer.from('Content-Transfer-Encoding: base64\r\n');

interface Edit {
  from: number;
  to: number;
  bytes: Buffer;
}

/** The message with its binary parts in base64; null when NUL is left elsewhere (a header, a preamble, an encoded part). */
export function encodeBinaryParts(raw: Buffer): Buffer | null {
  if (!raw.includes(0)) return raw;
  const edits: Edit[] = [];
  const visit = (entity: MimeEntity): void => {
    if (entity.children.length > 0) return entity.children.forEach(visit);
    if (entity.message) return visit(entity.message);
    const structured = ['multipart', 'message'].includes(entity.type.toLowerCase());
    const body = raw.subarray(entity.bodyStart, entity.end);
    if (structured || !body.includes(0) || !isIdentityEncoding(transferEncoding(raw, entity))) return;
    const field = findField(entity.fields, 'content-transfer-encoding');
    const headerEnd = entity.fields.at(-1)?.end ?? entity.start;
    edits.push(field ? { from: field.start, to: field.end, bytes: BASE64_FIELD } : { from: headerEnd, to: headerEnd, bytes: BASE64_FIELD });
    edits.push({ from: entity.bodyStart, to: entity.end, bytes: encodeBase64Lines(body) });
  };
  visit(parseMessage(raw));
  const pieces: Buffer[] = [];
  let pos = 0;
  for (const edit of edits.sort((a, b) => a.from - b.from)) {
    pieces.push(raw.subarray(pos, edit.from), edit.bytes);
    pos = edit.to;
  }
  pieces.push(raw.subarray(pos));
  const out = Buffer.concat(pieces);
  return out.includes(0) ? null : out;
}
