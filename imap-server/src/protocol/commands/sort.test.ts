import { describe, expect, it } from 'vitest';
import { ImapParseError, type Token } from '../parser.js';
import { BadCharsetError } from './search.js';
import { formatOrderedSet } from './sequence-set.js';
import { baseSubject, parseSort } from './sort.js';

const atom = (value: string): Token => ({ type: 'atom', value });
const list = (...items: string[]): Token => ({ type: 'list', items: items.map(atom) });

describe('the base subject (RFC 5256 2.1)', () => {
  it.each([
    ['Re: hello', 'hello'],
    ['RE: Re:  re:hello', 'hello'],
    ['Fwd: FW: fw:hello', 'hello'],
    ['[list] Re: [list] hello', 'hello'],
    ['Re [list]: hello', 'hello'],
    ['hello (fwd)', 'hello'],
    ['hello (fwd) (FWD)  ', 'hello'],
    ['[Fwd: Re: hello]', 'hello'],
    ['[Fwd: [Fwd: hello (fwd)]]', 'hello'],
    ['[only a blob]', '[only a blob]'],
    ['[a] [b]', '[b]'],
    ['  spaced \t out\r\n  subject ', 'spaced out subject'],
    ['Reply: not a leader', 'Reply: not a leader'],
    ['', ''],
  ])('%j → %j', (subject, base) => {
    expect(baseSubject(subject)).toBe(base);
  });
});

describe('parsing SORT', () => {
  it('reads criteria with REVERSE, a charset and search keys', () => {
    expect(parseSort([list('REVERSE', 'DATE', 'subject', 'DISPLAYFROM'), atom('UTF-8'), atom('UNSEEN')], 't')).toEqual({
      criteria: [
        { key: 'DATE', reverse: true },
        { key: 'SUBJECT', reverse: false },
        { key: 'DISPLAYFROM', reverse: false },
      ],
      key: { type: 'flag', flag: '\\Seen', present: false },
    });
  });

  it('reads ESORT\'s RETURN options before the criteria', () => {
    const returnList: Token = { type: 'list', items: [atom('MIN'), atom('all')] };
    expect(parseSort([atom('RETURN'), returnList, list('ARRIVAL'), atom('UTF-8'), atom('ALL')], 't')).toEqual({ returns: ['MIN', 'ALL'], criteria: [{ key: 'ARRIVAL', reverse: false }], key: { type: 'all' } });
    expect(parseSort([atom('RETURN'), { type: 'list', items: [] }, list('SIZE'), atom('UTF-8'), atom('ALL')], 't').returns).toEqual([]);
    expect(() => parseSort([atom('RETURN'), list('FIRST'), list('SIZE'), atom('UTF-8'), atom('ALL')], 't')).toThrow('unknown RETURN option FIRST');
  });

  it('refuses malformed commands as BAD and other charsets as BADCHARSET', () => {
    const bad = (tokens: Token[]) => () => parseSort(tokens, 't');
    expect(bad([atom('DATE'), atom('UTF-8'), atom('ALL')])).toThrow(ImapParseError);
    expect(bad([list(), atom('UTF-8'), atom('ALL')])).toThrow('SORT needs a list of sort criteria');
    expect(bad([list('COLOUR'), atom('UTF-8'), atom('ALL')])).toThrow('unknown sort criterion "COLOUR"');
    expect(bad([list('DATE', 'REVERSE'), atom('UTF-8'), atom('ALL')])).toThrow('REVERSE must come before a sort key');
    expect(bad([list('REVERSE', 'REVERSE', 'DATE'), atom('UTF-8'), atom('ALL')])).toThrow(ImapParseError);
    expect(bad([list('DATE'), atom('UTF-8')])).toThrow('missing search key');
    expect(bad([list('DATE')])).toThrow('missing charset');
    expect(bad([list('DATE'), atom('KOI8-R'), atom('ALL')])).toThrow(BadCharsetError);
  });
});

describe('an ordered set (ESORT ALL)', () => {
  it('keeps the order and writes ascending runs as ranges', () => {
    expect(formatOrderedSet([5, 1, 2, 3, 9, 8])).toBe('5,1:3,9,8');
    expect(formatOrderedSet([])).toBe('');
  });
});
