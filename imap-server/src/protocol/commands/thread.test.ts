import { describe, expect, it } from 'vitest';
import { ImapParseError, type Token } from '../parser.js';
import { formatThreads, parseThread, threadOrderedSubject, threadReferences, type ThreadInput } from './thread.js';

const atom = (value: string): Token => ({ type: 'atom', value });
let n = 0;
const msg = (messageId: string | null, references: string[], subject: string, date: number): ThreadInput => ({ number: ++n, messageId, references, subject, date });
const fresh = () => (n = 0);

describe('parsing THREAD', () => {
  it('reads the algorithm, the charset and the search keys', () => {
    expect(parseThread([atom('references'), atom('UTF-8'), atom('ALL')], 't')).toEqual({ algorithm: 'REFERENCES', key: { type: 'all' } });
    expect(() => parseThread([atom('HEADS'), atom('UTF-8'), atom('ALL')], 't')).toThrow('unknown threading algorithm "HEADS"');
    expect(() => parseThread([atom('REFERENCES'), atom('UTF-8')], 't')).toThrow(ImapParseError);
    expect(() => parseThread([], 't')).toThrow('missing threading algorithm');
  });
});

describe('REFERENCES', () => {
  it('threads by the reference chain, with a missing message as a dummy that gives way to its children', () => {
    fresh();
    const messages = [msg('<a>', [], 'Plan', 1), msg('<b>', ['<a>'], 'Re: Plan', 2), msg('<c>', ['<a>', '<b>'], 'Re: Plan', 3), msg('<d>', ['<x>'], 'Lunch', 4), msg('<e>', ['<x>'], 'Re: Lunch', 5)];
    // <x> is missing: a dummy at the top with two children stays (their list is nested).
    expect(formatThreads(threadReferences(messages))).toBe('(1 2 3)((4)(5))');
  });

  it('never makes a loop, and the last reference wins over a parent from a truncated chain', () => {
    fresh();
    const messages = [msg('<a>', [], 'x', 3), msg('<b>', ['<a>', '<c>'], 'y', 1), msg('<c>', ['<b>'], 'z', 2)];
    expect(formatThreads(threadReferences(messages))).toBe('(3 2)(1)');
  });

  it('merges threads with the same base subject, a reply under the original', () => {
    fresh();
    const messages = [msg('<a>', [], 'Report', 1), msg('<b>', [], 'Re: Report', 2), msg('<c>', [], 'report', 3), msg('<d>', [], '', 4), msg(null, [], '', 5)];
    // The two non-replies get a dummy over them; the reply goes under the first; subjectless ones stay apart.
    expect(formatThreads(threadReferences(messages))).toBe('((1 2)(3))(4)(5)');
  });

  it('keeps a message with a duplicate Message-ID apart, and sorts siblings by date then number', () => {
    fresh();
    const messages = [msg('<a>', [], 'One', 1), msg('<a>', [], 'Two', 2), msg('<r1>', ['<a>'], 'Re: One', 9), msg('<r2>', ['<a>'], 'Re: One', 9)];
    expect(formatThreads(threadReferences(messages))).toBe('(1 (3)(4))(2)');
  });
});

describe('ORDEREDSUBJECT', () => {
  it('groups by base subject, the first by date as the parent of the rest', () => {
    fresh();
    const messages = [msg(null, [], 'Re: b', 5), msg(null, [], 'a', 2), msg(null, [], 'B', 1), msg(null, [], 'Fwd: a', 3), msg(null, [], 'c', 4)];
    expect(formatThreads(threadOrderedSubject(messages))).toBe('(3 1)(2 4)(5)');
    fresh();
    expect(formatThreads(threadOrderedSubject([msg(null, [], 'x', 1), msg(null, [], 'Re: x', 2), msg(null, [], 're: X', 3)]))).toBe('(1 (2)(3))');
  });
});
