/**
 * What IMAP FETCH needs from a stored message's bytes (trace headers + the message as received):
 * ENVELOPE, BODY/BODYSTRUCTURE, BODY[<section>]<partial> and BINARY[<part>] (decoded). Pure code
 * over byte offsets: one parse per message serves every item of a FETCH, the bytes returned are
 * never rewritten (BINARY decodes a copy), and any input (malformed, truncated, deeply nested) gets an answer, never a throw.
 * The strings returned may hold IMAP literals counted in UTF-8 bytes: write them as UTF-8.
 */
import { formatEntity } from './body-structure.js';
import { formatEnvelope } from './envelope.js';
import { parseMessage, type MimeEntity } from './mime-tree.js';
import { binarySectionBytes, sectionBytes, type SectionSpec } from './section.js';

export type { SectionSpec } from './section.js';
export { encodeBinaryParts } from './binary-parts.js';

export class MimeMessage {
  private constructor(
    private readonly raw: Buffer,
    private readonly root: MimeEntity,
  ) {}

  static parse(raw: Buffer): MimeMessage {
    return new MimeMessage(raw, parseMessage(raw));
  }

  /** The parenthesized RFC 3501 ENVELOPE. */
  envelope(): string {
    return formatEnvelope(this.raw, this.root.fields);
  }

  /** The parenthesized BODYSTRUCTURE (`extended`) or BODY. */
  bodyStructure(extended: boolean): string {
    return formatEntity(this.raw, this.root, extended);
  }

  /** The bytes of BODY[<spec>]; an empty Buffer when the part does not exist. */
  section(spec: SectionSpec): Buffer {
    return sectionBytes(this.raw, this.root, spec);
  }

  /** The bytes of BINARY[<path>] (RFC 3516), or the Content-Transfer-Encoding that cannot be removed. */
  binary(path: number[]): { bytes: Buffer } | { unknownEncoding: string } {
    return binarySectionBytes(this.raw, this.root, path);
  }
}

/** BODY[...]<start.length>: the bytes from `start`, at most `length` of them (empty past the end). */
export function partial(bytes: Buffer, start: number, length?: number): Buffer {
  const from = Math.min(Math.max(start, 0), bytes.length);
  const to = length === undefined ? bytes.length : Math.min(from + Math.max(length, 0), bytes.length);
  return bytes.subarray(from, to);
}
