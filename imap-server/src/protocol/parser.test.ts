import { describe, expect, it } from 'vitest';
import { CommandReader, type Frame } from './command-reader.js';
import { parseFetchItems, parseSection } from './commands/fetch.js';
import { parseSearch } from './commands/search.js';
import { formatSequenceSet, inSequenceSet, parseSequenceSet } from './commands/sequence-set.js';
import { decodeMailboxName, encodeMailboxName } from './mutf7.js';
import { ImapParseError, parseCommand, parseTokens } from './parser.js';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('parseCommand', () => {
  it('reads a tag, a command name and atoms, quoted strings, lists and literals', () => {
    const cmd = parseCommand(b('a1 APPEND "Sent \\"x\\" \\\\ y" (\\Seen $Label) {5}\r\nhello'));
    expect(cmd.tag).toBe('a1');
    expect(cmd.name).toBe('APPEND');
    expect(cmd.args).toEqual([
      { type: 'string', value: b('Sent "x" \\ y') },
      { type: 'list', items: [{ type: 'atom', value: '\\Seen' }, { type: 'atom', value: '$Label' }] },
      { type: 'string', value: b('hello'), literal: true },
    ]);
  });

  it('joins UID and its command, and keeps a bracketed section with spaces as one atom', () => {
    const cmd = parseCommand(b('x uid fetch 1:* (UID BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)'));
    expect(cmd.name).toBe('UID FETCH');
    expect(cmd.args[1]).toEqual({ type: 'list', items: [{ type: 'atom', value: 'UID' }, { type: 'atom', value: 'BODY.PEEK[HEADER.FIELDS (From To)]<0.100>' }] });
    // Without a matching `]`, `[` is an ordinary atom character (a mailbox name).
    expect(parseCommand(b('x SELECT a[b (c)')).args).toEqual([{ type: 'atom', value: 'a[b' }, { type: 'list', items: [{ type: 'atom', value: 'c' }] }]);
  });

  it('takes LITERAL+ and literals in the middle of a command', () => {
    expect(parseTokens(b('{3+}\r\nabc {0}\r\n x'))).toEqual([{ type: 'string', value: b('abc'), literal: true }, { type: 'string', value: b(''), literal: true }, { type: 'atom', value: 'x' }]);
  });

  it('reads a literal8 (`~{n}`, `~{n+}`) as binary data, NUL included, for APPEND only', () => {
    expect(parseCommand(b('a1 APPEND INBOX ~{5}\r\nab\0cd')).args[1]).toEqual({ type: 'string', value: b('ab\0cd'), literal: true, literal8: true });
    expect(parseCommand(b('a1 APPEND INBOX ~{2+}\r\n\0\0')).args[1]).toEqual({ type: 'string', value: b('\0\0'), literal: true, literal8: true });
    expect(() => parseCommand(b('a1 APPEND INBOX {3}\r\na\0b'))).toThrow(/NUL/);
    expect(() => parseCommand(b('a1 SEARCH TEXT ~{1}\r\nx'))).toThrow(expect.objectContaining({ tag: 'a1', message: 'a literal8 (~{n}) is allowed only for APPEND message data' }));
  });

  it('rejects malformed commands with the tag when it was read', () => {
    const fail = (raw: string) => {
      try {
        parseCommand(b(raw));
      } catch (err) {
        expect(err).toBeInstanceOf(ImapParseError);
        return { tag: (err as ImapParseError).tag, message: (err as Error).message };
      }
      throw new Error(`parsed: ${raw}`);
    };
    expect(fail('')).toEqual({ tag: null, message: 'a command starts with a tag' });
    expect(fail('a1')).toEqual({ tag: 'a1', message: 'missing command' });
    expect(fail('a1 LOGIN "x')).toMatchObject({ tag: 'a1', message: 'unterminated quoted string' });
    expect(fail('a1 LOGIN (x')).toMatchObject({ message: 'unterminated list' });
    expect(fail('a1 LOGIN  x')).toMatchObject({ tag: 'a1' });
    expect(fail('a1 LOGIN "a\\b"')).toMatchObject({ message: 'only \\" and \\\\ may be escaped in a quoted string' });
    expect(fail('a1 X {10}\r\nabc')).toMatchObject({ message: 'literal shorter than announced' });
  });
});

describe('modified UTF-7 mailbox names', () => {
  it('encodes and decodes non-ASCII names and &', () => {
    expect(encodeMailboxName('Été & Co')).toBe('&AMk-t&AOk- &- Co');
    expect(encodeMailboxName('台北')).toBe('&U,BTFw-');
    expect(encodeMailboxName('📬 Mail')).toBe('&2D3c7A- Mail');
    for (const name of ['Été & Co', '台北', '📬 Mail', 'plain/child', '&&']) expect(decodeMailboxName(encodeMailboxName(name))).toBe(name);
  });

  it('rejects malformed sequences', () => {
    expect(() => decodeMailboxName('a&b')).toThrow(/unterminated/);
    expect(() => decodeMailboxName('&!!-')).toThrow(/modified base64/);
    expect(() => decodeMailboxName('é')).toThrow(/7-bit/);
  });
});

describe('command grammar', () => {
  it('reads sequence sets', () => {
    const set = parseSequenceSet('1:3,7,9:*', 'a');
    expect([1, 3, 5, 7, 9, 12].map((n) => inSequenceSet(set, n, 12))).toEqual([true, true, false, true, true, true]);
    expect(inSequenceSet(parseSequenceSet('*:4', 'a'), 5, 6)).toBe(true);
    expect(() => parseSequenceSet('1:x', 'a')).toThrow(ImapParseError);
    expect(() => parseSequenceSet('0', 'a')).toThrow(ImapParseError);
    expect(formatSequenceSet([5, 1, 2, 3, 9])).toBe('1:3,5,9');
  });

  it('reads FETCH items and sections', () => {
    expect(parseFetchItems({ type: 'atom', value: 'FAST' }, 'a').map((i) => i.type)).toEqual(['FLAGS', 'INTERNALDATE', 'RFC822.SIZE']);
    expect(parseSection('1.2.HEADER.FIELDS.NOT (X-A "X-B")', 'a')).toEqual({ path: [1, 2], kind: 'HEADER.FIELDS.NOT', fields: ['X-A', 'X-B'] });
    expect(parseSection('', 'a')).toEqual({ path: [] });
    expect(parseSection('3.MIME', 'a')).toEqual({ path: [3], kind: 'MIME' });
    expect(() => parseSection('MIME', 'a')).toThrow(ImapParseError);
    expect(() => parseSection('HEADER.FIELDS', 'a')).toThrow(ImapParseError);
    expect(() => parseSection('0', 'a')).toThrow(ImapParseError);
  });

  it('reads BINARY, BINARY.PEEK and BINARY.SIZE items: part numbers only, partial on BINARY[] only', () => {
    const items = parseFetchItems(parseTokens(b('(BINARY[1.2]<0.10> binary.peek[] BINARY.SIZE[3])'))[0]!, 'a');
    expect(items).toEqual([
      { type: 'binary', peek: false, path: [1, 2], partial: { start: 0, length: 10 }, label: '1.2' },
      { type: 'binary', peek: true, path: [], label: '' },
      { type: 'binary.size', path: [3], label: '3' },
    ]);
    for (const bad of ['BINARY[HEADER]', 'BINARY[1.MIME]', 'BINARY.SIZE[1]<0.5>', 'BINARY[0]', 'BINARY.PEEK[1]<0.0>']) expect(() => parseFetchItems({ type: 'atom', value: bad }, 'a')).toThrow(ImapParseError);
  });

  it('reads SEARCH keys with RETURN and CHARSET', () => {
    const tokens = parseCommand(b('a SEARCH RETURN (MIN COUNT) CHARSET UTF-8 OR FROM "bob" NOT SEEN (SINCE 1-Feb-2026 LARGER 100)')).args;
    expect(parseSearch(tokens, 'a')).toEqual({
      returns: ['MIN', 'COUNT'],
      key: {
        type: 'and',
        keys: [
          { type: 'or', a: { type: 'text', field: 'from', value: 'bob' }, b: { type: 'not', key: { type: 'flag', flag: '\\Seen', present: true } } },
          { type: 'and', keys: [{ type: 'date', sent: false, op: 'since', day: Date.UTC(2026, 1, 1) / 86_400_000 }, { type: 'size', larger: true, size: 100 }] },
        ],
      },
    });
  });
});

describe('CommandReader', () => {
  function reader(maxLiteralSize = 100) {
    const events: string[] = [];
    const r = new CommandReader({ maxLiteralSize: () => maxLiteralSize, maxLineLength: 200, onContinue: () => events.push('+'), pause: () => events.push('pause'), resume: () => events.push('resume') });
    return { r, events };
  }
  const text = (f: Frame | null) => (f?.kind === 'command' ? f.raw.toString('latin1') : f);

  it('frames lines and literals across chunks, inviting synchronizing literals only', async () => {
    const { r, events } = reader();
    r.push(b('a1 NOOP\r\na2 LOGIN {3}\r\nab'));
    r.push(b('c {2+}\r\nxy\r\n'));
    expect(text(await r.next())).toBe('a1 NOOP');
    expect(text(await r.next())).toBe('a2 LOGIN {3}\r\nabc {2+}\r\nxy');
    expect(events).toEqual(['+']);
  });

  it('refuses an over-limit synchronizing literal without reading it, and ends on a non-synchronizing one', async () => {
    const { r, events } = reader(10);
    r.push(b('a1 APPEND INBOX {11}\r\na2 NOOP\r\n'));
    expect(await r.next()).toEqual({ kind: 'literal_too_big', tag: 'a1', size: 11, limit: 10 });
    expect(text(await r.next())).toBe('a2 NOOP');
    expect(events).toEqual([]);
    // The limit counts every literal of one command.
    r.push(b('a3 LOGIN {6}\r\nabcdef {6}\r\n'));
    expect(await r.next()).toEqual({ kind: 'literal_too_big', tag: 'a3', size: 6, limit: 10 });
    r.push(b('a4 APPEND INBOX {11+}\r\n'));
    expect(await r.next()).toEqual({ kind: 'fatal', reason: 'literal_too_big' });
    expect(await r.next()).toBeNull();
    expect(events).toEqual(['+']);
  });

  it('ends on a line over the limit', async () => {
    const { r } = reader();
    r.push(b('x'.repeat(300)));
    expect(await r.next()).toEqual({ kind: 'fatal', reason: 'line_too_long' });
  });
});
