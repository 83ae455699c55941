import { ImapParseError, type Token } from '../parser.js';
import { parseNumber } from './args.js';

/**
 * FETCH data items (RFC 3501 6.4.5, RFC 7162 MODSEQ): the macros ALL, FAST and FULL, the simple
 * items, and BODY[section]<partial> / BODY.PEEK[...] with the section grammar
 * (`1.2`, `HEADER`, `TEXT`, `MIME`, `HEADER.FIELDS (..)`, `HEADER.FIELDS.NOT (..)`), and BINARY[part]<partial>,
 * BINARY.PEEK[...] and BINARY.SIZE[part] (RFC 3516), whose section is a part number only.
 */

export type SectionKind = 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';

export interface SectionSpec {
  path: number[];
  kind?: SectionKind;
  fields?: string[];
}

export type SimpleItem = 'UID' | 'FLAGS' | 'INTERNALDATE' | 'RFC822.SIZE' | 'MODSEQ' | 'ENVELOPE' | 'BODYSTRUCTURE' | 'BODY' | 'RFC822' | 'RFC822.HEADER' | 'RFC822.TEXT';

type Partial = { start: number; length: number };

export type FetchItem =
  | { type: SimpleItem }
  /** BINARY[<path>]<partial>: the part with its Content-Transfer-Encoding removed; `label` is the path as written back. */
  | { type: 'binary'; peek: boolean; path: number[]; partial?: Partial; label: string }
  | { type: 'binary.size'; path: number[]; label: string }
  | {
      type: 'section';
      peek: boolean;
      section: SectionSpec;
      partial?: Partial;
      /** The section as the response names it: `BODY[<this>]`. */
      label: string;
    };

const SIMPLE = new Set<string>(['UID', 'FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'MODSEQ', 'ENVELOPE', 'BODYSTRUCTURE', 'BODY', 'RFC822', 'RFC822.HEADER', 'RFC822.TEXT']);
const MACROS: Record<string, SimpleItem[]> = {
  ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
  FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  FULL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'],
};

export function parseSection(text: string, tag: string | null): SectionSpec {
  const bad = (): never => {
    throw new ImapParseError(`invalid section [${text.slice(0, 80)}]`, tag);
  };
  const withFields = /^([^ ]*) \((.*)\)$/.exec(text);
  const head = withFields ? withFields[1]! : text;
  const parts = head === '' ? [] : head.split('.');
  const path: number[] = [];
  while (parts.length > 0 && /^\d+$/.test(parts[0]!)) path.push(parseNumber(parts.shift()!, 'section part', tag));
  if (path.some((n) => n === 0)) bad();
  const kindText = parts.join('.').toUpperCase();
  const kinds: SectionKind[] = ['HEADER', 'HEADER.FIELDS', 'HEADER.FIELDS.NOT', 'TEXT', 'MIME'];
  if (kindText !== '' && !kinds.includes(kindText as SectionKind)) bad();
  const spec: SectionSpec = { path };
  if (kindText === '') return withFields ? bad() : spec;
  spec.kind = kindText as SectionKind;
  if (spec.kind === 'MIME' && path.length === 0) bad();
  const isFields = spec.kind === 'HEADER.FIELDS' || spec.kind === 'HEADER.FIELDS.NOT';
  if (isFields !== Boolean(withFields)) bad();
  if (withFields) {
    const fields = withFields[2]!.trim().split(/\s+/).map((f) => f.replace(/^"(.*)"$/, '$1'));
    if (fields.some((f) => !/^[\x21-\x39\x3b-\x7e]+$/.test(f))) bad();
    spec.fields = fields;
  }
  return spec;
}

/** `<start.length>` after a section. */
function parsePartial(start: string, length: string, tag: string | null): Partial {
  const len = parseNumber(length, 'partial length', tag);
  if (len === 0) throw new ImapParseError('a partial length is at least 1', tag);
  return { start: parseNumber(start, 'partial start', tag), length: len };
}

/** BINARY[...], BINARY.PEEK[...] or BINARY.SIZE[...] (RFC 3516): `section-binary = "[" [section-part] "]"`. */
function parseBinaryItem(m: RegExpExecArray, tag: string | null): FetchItem {
  const [, name, section, start, length] = m;
  if (!/^(\d+(\.\d+)*)?$/.test(section!)) throw new ImapParseError(`invalid BINARY section [${section!.slice(0, 80)}]`, tag);
  const path = section === '' ? [] : section!.split('.').map((n) => parseNumber(n, 'section part', tag));
  if (path.includes(0)) throw new ImapParseError(`invalid BINARY section [${section}]`, tag);
  const kind = name!.toUpperCase();
  if (kind === 'BINARY.SIZE') {
    if (start !== undefined) throw new ImapParseError('BINARY.SIZE takes no partial', tag);
    return { type: 'binary.size', path, label: section! };
  }
  return { type: 'binary', peek: kind === 'BINARY.PEEK', path, label: section!, ...(start !== undefined ? { partial: parsePartial(start, length!, tag) } : {}) };
}

function parseItem(text: string, tag: string | null): FetchItem[] {
  const upper = text.toUpperCase();
  if (MACROS[upper]) return MACROS[upper].map((type) => ({ type }));
  if (SIMPLE.has(upper)) return [{ type: upper as SimpleItem }];
  const binary = /^(BINARY|BINARY\.PEEK|BINARY\.SIZE)\[([^\]]*)\](?:<(\d+)\.(\d+)>)?$/i.exec(text);
  if (binary) return [parseBinaryItem(binary, tag)];
  const m = /^(BODY|BODY\.PEEK)\[([^\]]*)\](?:<(\d+)\.(\d+)>)?$/i.exec(text);
  if (!m) throw new ImapParseError(`unknown FETCH item ${JSON.stringify(text.slice(0, 50))}`, tag);
  const item: FetchItem = { type: 'section', peek: m[1]!.toUpperCase() === 'BODY.PEEK', section: parseSection(m[2]!, tag), label: m[2]!.toUpperCase() };
  if (m[3] !== undefined) item.partial = parsePartial(m[3], m[4]!, tag);
  return [item];
}

/** The items of a FETCH: one atom, or a parenthesized list of them. */
export function parseFetchItems(token: Token, tag: string | null): FetchItem[] {
  const atoms = token.type === 'list' ? token.items : [token];
  if (atoms.length === 0) throw new ImapParseError('FETCH needs at least one item', tag);
  if (token.type === 'list' && atoms.some((a) => a.type === 'atom' && MACROS[a.value.toUpperCase()])) throw new ImapParseError('ALL, FAST and FULL cannot be in a list', tag);
  return atoms.flatMap((a) => {
    if (a.type !== 'atom') throw new ImapParseError('a FETCH item must be an atom', tag);
    return parseItem(a.value, tag);
  });
}

/** FETCH modifiers (RFC 7162): `(CHANGEDSINCE <modseq>)`. */
export function parseFetchModifiers(tokens: readonly Token[], tag: string | null): { changedSince?: number; vanished?: boolean } {
  const out: { changedSince?: number; vanished?: boolean } = {};
  for (let i = 0; i < tokens.length; i++) {
    const name = tokens[i]!;
    const word = name.type === 'atom' ? name.value.toUpperCase() : '';
    if (word === 'VANISHED') out.vanished = true;
    else if (word === 'CHANGEDSINCE' && tokens[i + 1]?.type === 'atom') out.changedSince = parseNumber((tokens[++i] as { value: string }).value, 'CHANGEDSINCE', tag);
    else throw new ImapParseError('unknown FETCH modifier', tag);
  }
  return out;
}
