/**
 * The IMAP command tokenizer: one complete command as it came off the wire (its lines and
 * literals, see command-reader.ts) into a tag, a command name and generic tokens: atoms, strings
 * (quoted or literal, as bytes) and parenthesized lists. An atom with `[` runs to the matching `]`
 * (so `BODY.PEEK[HEADER.FIELDS (From To)]<0.100>` is one atom, read by the FETCH grammar).
 * A literal8 (`~{n}`, RFC 3516) carries binary data, NUL included; it is taken only by APPEND, and
 * a plain literal may not hold NUL.
 * What each command's arguments mean is in commands/*.ts.
 */

/**
 * A string is quoted or a literal (`literal: true`; a literal8 also has `literal8: true`): APPEND's
 * date-time must be quoted, its message a literal.
 */
export type Token = { type: 'atom'; value: string } | { type: 'string'; value: Buffer; literal?: true; literal8?: true } | { type: 'list'; items: Token[] };

export interface ParsedCommand {
  tag: string;
  /** Upper case; `UID FETCH` etc. for UID commands. */
  name: string;
  args: Token[];
}

/** A malformed command: answered `BAD` (tagged when the tag could be read, else `* BAD`). */
export class ImapParseError extends Error {
  readonly code = 'imap.syntax';
  constructor(
    message: string,
    readonly tag: string | null = null,
  ) {
    super(message);
  }
}

const SP = 0x20;
const CR = 0x0d;
const LF = 0x0a;
const isTagChar = (b: number) => b > 0x20 && b < 0x7f && !'(){%*"\\+'.includes(String.fromCharCode(b));
const endsAtom = (b: number) => b <= 0x20 || b >= 0x7f || b === 0x28 || b === 0x29 || b === 0x7b || b === 0x22;

/** `{123}`, `{123+}` (LITERAL+) or a literal8 `~{123}` at the end of a line: the literal's size and whether it is non-synchronizing. */
export function literalAtLineEnd(line: string): { size: number; nonSync: boolean } | null {
  const m = /~?\{(\d{1,20})(\+?)\}$/.exec(line);
  return m ? { size: Number(m[1]), nonSync: m[2] === '+' } : null;
}

class Cursor {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly tag: string | null,
  ) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  peek(): number {
    return this.buf[this.pos]!;
  }
  fail(message: string): never {
    throw new ImapParseError(message, this.tag);
  }
}

function readAtomText(c: Cursor): string {
  const start = c.pos;
  let depth = 0;
  while (!c.done) {
    const b = c.peek();
    if (depth > 0) {
      if (b === CR || b === LF) break;
      if (b === 0x5b) depth++;
      else if (b === 0x5d) depth--;
      c.pos++;
      continue;
    }
    if (b === 0x5b) {
      depth++;
      c.pos++;
      continue;
    }
    if (endsAtom(b)) break;
    c.pos++;
  }
  if (depth > 0) {
    // No matching `]`: a plain atom in which `[` is an ordinary character (a mailbox name like `a[b`).
    c.pos = start;
    while (!c.done && !endsAtom(c.peek())) c.pos++;
  }
  if (c.pos === start) c.fail(`unexpected ${c.done ? 'end of command' : JSON.stringify(String.fromCharCode(c.peek()))}`);
  return c.buf.toString('latin1', start, c.pos);
}

function readQuoted(c: Cursor): Buffer {
  c.pos++; // opening quote
  const bytes: number[] = [];
  for (;;) {
    if (c.done) c.fail('unterminated quoted string');
    const b = c.peek();
    c.pos++;
    if (b === 0x22) return Buffer.from(bytes);
    if (b === CR || b === LF) c.fail('a quoted string cannot hold a line break');
    if (b === 0x5c) {
      if (c.done) c.fail('unterminated quoted string');
      const next = c.peek();
      if (next !== 0x22 && next !== 0x5c) c.fail('only \\" and \\\\ may be escaped in a quoted string');
      bytes.push(next);
      c.pos++;
    } else bytes.push(b);
  }
}

function readLiteral(c: Cursor): Token {
  const literal8 = c.peek() === 0x7e;
  if (literal8) c.pos++;
  const close = c.buf.indexOf('}', c.pos);
  const spec = close < 0 ? null : /^\{(\d{1,20})\+?\}$/.exec(c.buf.toString('latin1', c.pos, close + 1));
  if (!spec) c.fail('invalid literal');
  const size = Number(spec[1]);
  c.pos = close + 1;
  if (c.buf[c.pos] !== CR || c.buf[c.pos + 1] !== LF) c.fail('a literal size must end its line');
  c.pos += 2;
  if (c.pos + size > c.buf.length) c.fail('literal shorter than announced');
  const value = c.buf.subarray(c.pos, c.pos + size);
  c.pos += size;
  if (literal8) return { type: 'string', value, literal: true, literal8: true };
  if (value.includes(0)) c.fail('a literal cannot hold NUL (send binary data as a literal8, ~{n})');
  return { type: 'string', value, literal: true };
}

function readToken(c: Cursor): Token {
  const b = c.peek();
  if (b === 0x28) {
    c.pos++;
    const items: Token[] = [];
    for (;;) {
      if (c.done) c.fail('unterminated list');
      if (c.peek() === 0x29) {
        c.pos++;
        return { type: 'list', items };
      }
      if (items.length > 0) {
        if (c.peek() !== SP) c.fail('expected a space in a list');
        c.pos++;
      }
      items.push(readToken(c));
    }
  }
  if (b === 0x22) return { type: 'string', value: readQuoted(c) };
  if (b === 0x7b || (b === 0x7e && c.buf[c.pos + 1] === 0x7b)) return readLiteral(c);
  return { type: 'atom', value: readAtomText(c) };
}

/** Tokens separated by single spaces until the end of `buf` (a command's arguments, or a continuation line). */
export function parseTokens(buf: Buffer, tag: string | null = null): Token[] {
  const c = new Cursor(buf, tag);
  const tokens: Token[] = [];
  while (!c.done) {
    if (tokens.length > 0) {
      if (c.peek() !== SP) c.fail('expected a space between arguments');
      c.pos++;
      if (c.done) c.fail('trailing space');
    }
    tokens.push(readToken(c));
  }
  return tokens;
}

/** Parses one command (without its final CRLF). */
export function parseCommand(raw: Buffer): ParsedCommand {
  let i = 0;
  while (i < raw.length && isTagChar(raw[i]!)) i++;
  if (i === 0 || (i < raw.length && raw[i] !== SP)) throw new ImapParseError('a command starts with a tag');
  const tag = raw.toString('latin1', 0, i);
  if (i >= raw.length) throw new ImapParseError('missing command', tag);
  let j = ++i;
  while (j < raw.length && /[A-Za-z0-9]/.test(String.fromCharCode(raw[j]!))) j++;
  if (j === i || (j < raw.length && raw[j] !== SP)) throw new ImapParseError('missing or invalid command name', tag);
  let name = raw.toString('latin1', i, j).toUpperCase();
  let rest = raw.subarray(j < raw.length ? j + 1 : j);
  if (j < raw.length && j + 1 >= raw.length) throw new ImapParseError('trailing space', tag);
  if (name === 'UID') {
    const m = /^([A-Za-z]+)(?: |$)/.exec(rest.toString('latin1', 0, Math.min(rest.length, 20)));
    if (!m) throw new ImapParseError('UID needs a command', tag);
    name = `UID ${m[1]!.toUpperCase()}`;
    rest = rest.subarray(Math.min(rest.length, m[0].length));
    if (m[0].endsWith(' ') && rest.length === 0) throw new ImapParseError('trailing space', tag);
  }
  const args = parseTokens(rest, tag);
  if (name !== 'APPEND' && args.some(holdsLiteral8)) throw new ImapParseError('a literal8 (~{n}) is allowed only for APPEND message data', tag);
  return { tag, name, args };
}

function holdsLiteral8(token: Token): boolean {
  return token.type === 'list' ? token.items.some(holdsLiteral8) : token.type === 'string' && token.literal8 === true;
}
