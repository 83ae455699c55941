import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.js';
import { parseSearchQuery, SEARCH_MAX_LENGTH, SEARCH_MAX_TERMS } from './search-query.js';

const terms = (q: string) => parseSearchQuery(q).terms;

function invalid(q: string): AppError {
  try {
    parseSearchQuery(q);
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error(`"${q}" parsed without an error`);
}

describe('parseSearchQuery', () => {
  it('reads free words and quoted phrases, with a prefix match only on the last bare word', () => {
    expect(terms('quarterly "budget review" München')).toEqual([
      { kind: 'text', value: 'quarterly', phrase: false, prefix: false, negated: false },
      { kind: 'text', value: 'budget review', phrase: true, prefix: false, negated: false },
      { kind: 'text', value: 'München', phrase: false, prefix: true, negated: false },
    ]);
    expect(terms('"budget review"')[0]).toMatchObject({ prefix: false });
    expect(terms('x')[0]).toMatchObject({ value: 'x', prefix: false });
    expect(terms('report -draft').map((t) => t.kind === 'text' && t.prefix)).toEqual([false, false]);
  });

  it('keeps non-Latin words whole: Cyrillic, Greek, Japanese, emoji', () => {
    expect(terms('Привет Καλημέρα 東京 🎉').map((t) => t.kind === 'text' && t.value)).toEqual(['Привет', 'Καλημέρα', '東京', '🎉']);
  });

  it('reads from:, to:, subject: with bare or quoted values, and operator names in any case', () => {
    expect(terms('from:juergen@beispiel.de TO:"Amélie Dubois" subject:"Grüße aus München"')).toEqual([
      { kind: 'from', value: 'juergen@beispiel.de', negated: false },
      { kind: 'to', value: 'Amélie Dubois', negated: false },
      { kind: 'subject', value: 'Grüße aus München', negated: false },
    ]);
  });

  it('reads has:attachment, is:unread, is:read, is:starred', () => {
    expect(terms('has:attachment is:unread is:read is:starred is:flagged')).toEqual([
      { kind: 'has-attachment', negated: false },
      { kind: 'is', state: 'unread', negated: false },
      { kind: 'is', state: 'read', negated: false },
      { kind: 'is', state: 'starred', negated: false },
      { kind: 'is', state: 'starred', negated: false },
    ]);
  });

  it('maps in: keywords to special-use folders and keeps other names as typed', () => {
    expect(terms('in:inbox in:Sent in:drafts in:archive in:junk in:spam in:trash in:Projekte in:"Alte Rechnungen"')).toEqual([
      { kind: 'in', name: 'inbox', specialUse: '\\Inbox', negated: false },
      { kind: 'in', name: 'Sent', specialUse: '\\Sent', negated: false },
      { kind: 'in', name: 'drafts', specialUse: '\\Drafts', negated: false },
      { kind: 'in', name: 'archive', specialUse: '\\Archive', negated: false },
      { kind: 'in', name: 'junk', specialUse: '\\Junk', negated: false },
      { kind: 'in', name: 'spam', specialUse: '\\Junk', negated: false },
      { kind: 'in', name: 'trash', specialUse: '\\Trash', negated: false },
      { kind: 'in', name: 'Projekte', specialUse: null, negated: false },
      { kind: 'in', name: 'Alte Rechnungen', specialUse: null, negated: false },
    ]);
    expect(parseSearchQuery('in:anywhere x')).toEqual({ anywhere: true, terms: [{ kind: 'text', value: 'x', phrase: false, prefix: false, negated: false }] });
  });

  it('reads before: and after: as UTC days, with - or / separators', () => {
    expect(terms('after:2026-01-12 before:2026/2/1')).toEqual([
      { kind: 'after', date: new Date('2026-01-12T00:00:00Z'), negated: false },
      { kind: 'before', date: new Date('2026-02-01T00:00:00Z'), negated: false },
    ]);
  });

  it('negates words, phrases and operators with a leading -', () => {
    expect(terms('-spam -"out of office" -from:boss@x.test -in:trash -has:attachment -is:unread -before:2026-01-01')).toEqual([
      { kind: 'text', value: 'spam', phrase: false, prefix: false, negated: true },
      { kind: 'text', value: 'out of office', phrase: true, prefix: false, negated: true },
      { kind: 'from', value: 'boss@x.test', negated: true },
      { kind: 'in', name: 'trash', specialUse: '\\Trash', negated: true },
      { kind: 'has-attachment', negated: true },
      { kind: 'is', state: 'unread', negated: true },
      { kind: 'before', date: new Date('2026-01-01T00:00:00Z'), negated: true },
    ]);
    // A lone dash, or one inside a word, is not a negation.
    expect(terms('a - b-c')).toEqual([
      { kind: 'text', value: 'a', phrase: false, prefix: false, negated: false },
      { kind: 'text', value: 'b-c', phrase: false, prefix: true, negated: false },
    ]);
  });

  it('treats unknown operators and unknown values of known ones as ordinary words', () => {
    expect(terms('label:work is:important has:drive http://x.test').map((t) => t.kind === 'text' && t.value)).toEqual(['label:work', 'is:important', 'has:drive', 'http://x.test']);
  });

  it('runs an unclosed quote to the end and ignores empty phrases and control characters', () => {
    expect(terms('"never closed phrase')).toEqual([{ kind: 'text', value: 'never closed phrase', phrase: true, prefix: false, negated: false }]);
    expect(terms('"" a\u0000b')).toEqual([
      { kind: 'text', value: 'a', phrase: false, prefix: false, negated: false },
      { kind: 'text', value: 'b', phrase: false, prefix: false, negated: false },
    ]);
    expect(parseSearchQuery('   ')).toEqual({ terms: [], anywhere: false });
  });

  it('rejects dates that are not real calendar days with search.invalid (400)', () => {
    for (const q of ['before:2026-13-01', 'after:2026-02-30', 'before:yesterday', 'after:26-01-01', 'before:1969-12-31', 'after:']) {
      const err = invalid(q);
      expect(err.code, q).toBe('search.invalid');
      expect(err.status).toBe(400);
      expect(err.message).toMatch(/date/);
    }
  });

  it('rejects operators without a value, and -in:anywhere', () => {
    for (const q of ['from:', 'to:""', 'subject:', 'in:', '-in:anywhere']) expect(invalid(q).code, q).toBe('search.invalid');
  });

  it(`rejects queries longer than ${SEARCH_MAX_LENGTH} characters or with more than ${SEARCH_MAX_TERMS} terms`, () => {
    expect(invalid('a'.repeat(SEARCH_MAX_LENGTH + 1)).message).toMatch(/too long/);
    expect(invalid(Array.from({ length: SEARCH_MAX_TERMS + 1 }, (_, i) => `w${i}`).join(' ')).message).toMatch(/too many terms/);
    expect(terms(Array.from({ length: SEARCH_MAX_TERMS }, (_, i) => `w${i}`).join(' '))).toHaveLength(SEARCH_MAX_TERMS);
  });
});
