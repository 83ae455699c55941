/**
 * Header blocks over byte offsets: where the fields are, where the body starts, and the
 * structured values of MIME headers (`type/subtype; name=value`, RFC 2045 and RFC 2231).
 * Nothing here copies or rewrites the message bytes; values are decoded only to be described.
 */

const LF = 0x0a;
const CR = 0x0d;

export interface HeaderField {
  /** Lower-cased field name. */
  name: string;
  /** The whole field as stored, folded lines and line ending included. */
  start: number;
  end: number;
  /** Where the value starts (just after the colon). */
  valueStart: number;
}

export interface HeaderBlock {
  fields: HeaderField[];
  /** First byte of the body: just after the empty line, or `end` when there is none. */
  bodyStart: number;
}

/** Splits the header at the first empty line (CRLF or bare LF) before `end`. */
export function parseHeaderBlock(buf: Buffer, start: number, end: number): HeaderBlock {
  const fields: HeaderField[] = [];
  let pos = start;
  let current: HeaderField | undefined;
  while (pos < end) {
    const nl = buf.indexOf(LF, pos);
    const lineEnd = nl === -1 || nl >= end ? end : nl + 1;
    const isEmpty = buf[pos] === LF || (buf[pos] === CR && pos + 1 < end && buf[pos + 1] === LF);
    if (isEmpty) return { fields, bodyStart: lineEnd };
    const first = buf[pos];
    if ((first === 0x20 || first === 0x09) && current) {
      current.end = lineEnd;
    } else {
      const colon = buf.indexOf(0x3a, pos);
      current = undefined;
      if (colon !== -1 && colon < lineEnd) {
        const name = buf.toString('latin1', pos, colon).trim().toLowerCase();
        if (name.length > 0 && !/\s/.test(name)) {
          current = { name, start: pos, end: lineEnd, valueStart: colon + 1 };
          fields.push(current);
        }
      }
    }
    pos = lineEnd;
  }
  return { fields, bodyStart: end };
}

/** The field's value unfolded (line breaks removed) and trimmed, decoded as UTF-8. */
export function fieldValue(buf: Buffer, field: HeaderField): string {
  return buf.toString('utf8', field.valueStart, field.end).replace(/[\r\n]/g, '').trim();
}

/** The first field with this (lower-case) name. */
export function findField(fields: HeaderField[], name: string): HeaderField | undefined {
  return fields.find((f) => f.name === name);
}

export interface MimeParam {
  name: string;
  value: string;
}

export interface StructuredValue {
  /** The leading token (`text/plain`, `attachment`), as written; empty when absent. */
  value: string;
  params: MimeParam[];
}

/** Skips whitespace and (nested) comments from `i`. */
function skipCfws(s: string, i: number): number {
  while (i < s.length) {
    const c = s[i];
    if (c === ' ' || c === '\t') {
      i++;
    } else if (c === '(') {
      let depth = 0;
      for (; i < s.length; i++) {
        if (s[i] === '\\') i++;
        else if (s[i] === '(') depth++;
        else if (s[i] === ')' && --depth === 0) break;
      }
      i++;
    } else {
      break;
    }
  }
  return i;
}

/** Reads a quoted string starting at the opening quote; returns its content and the next index. */
function readQuoted(s: string, i: number): [string, number] {
  let out = '';
  for (i++; i < s.length && s[i] !== '"'; i++) {
    if (s[i] === '\\' && i + 1 < s.length) i++;
    out += s[i];
  }
  return [out, i + 1];
}

/**
 * Parses `value; name=value; name="quoted"` leniently: comments are skipped, an unquoted value
 * runs to the next `;`, junk without `=` is ignored. RFC 2231 continuations (`name*0`, `name*1*`)
 * are joined into one parameter (`name`, or `name*` when the first piece is extended).
 */
export function parseStructured(input: string): StructuredValue {
  let i = skipCfws(input, 0);
  const semi = input.indexOf(';', i);
  const value = input.slice(i, semi === -1 ? input.length : semi).replace(/\([^)]*\)/g, '').trim();
  const raw: MimeParam[] = [];
  i = semi === -1 ? input.length : semi + 1;
  while (i < input.length) {
    i = skipCfws(input, i);
    const eq = input.indexOf('=', i);
    const next = input.indexOf(';', i);
    if (eq === -1 || (next !== -1 && next < eq)) {
      if (next === -1) break;
      i = next + 1;
      continue;
    }
    const name = input.slice(i, eq).trim();
    i = skipCfws(input, eq + 1);
    let paramValue: string;
    if (input[i] === '"') {
      [paramValue, i] = readQuoted(input, i);
      const after = input.indexOf(';', i);
      i = after === -1 ? input.length : after + 1;
    } else {
      const stop = input.indexOf(';', i);
      paramValue = input.slice(i, stop === -1 ? input.length : stop).trim();
      i = stop === -1 ? input.length : stop + 1;
    }
    if (name.length > 0) raw.push({ name, value: paramValue });
  }
  return { value, params: joinContinuations(raw) };
}

const CONTINUATION = /^(.+?)\*(\d+)(\*?)$/;

function joinContinuations(params: MimeParam[]): MimeParam[] {
  const out: (MimeParam | string)[] = []; // a string stands for the joined parameter of that name
  const pieces = new Map<string, { index: number; extended: boolean; value: string }[]>();
  for (const p of params) {
    const m = CONTINUATION.exec(p.name);
    if (!m) {
      out.push(p);
      continue;
    }
    const key = m[1]!;
    let list = pieces.get(key);
    if (!list) {
      list = [];
      pieces.set(key, list);
      out.push(key);
    }
    list.push({ index: Number(m[2]), extended: m[3] === '*', value: p.value });
  }
  return out.map((p) => {
    if (typeof p !== 'string') return p;
    const list = pieces.get(p)!.sort((a, b) => a.index - b.index);
    return { name: list[0]!.extended ? `${p}*` : p, value: list.map((x) => x.value).join('') };
  });
}

/** The value of a parameter by case-insensitive name. */
export function paramValue(params: MimeParam[], name: string): string | undefined {
  return params.find((p) => p.name.toLowerCase() === name)?.value;
}
