import type { SpecialUse } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { ParsedSearch, SearchTerm } from '../repositories/search.repository.js';

/**
 * A Gmail-like search query, parsed into terms that are all AND-ed together. Pure: no database.
 *
 *   words "quoted phrases"                 full text (subject, people, attachment names, body)
 *   from:x  to:x (To or Cc)  subject:x     the value may be quoted: from:"Jürgen Müller"
 *   has:attachment  is:unread  is:read  is:starred
 *   in:<folder>                            inbox sent drafts archive junk|spam trash, or a folder name;
 *                                          in:anywhere also searches Trash and Junk (left out by default)
 *   before:YYYY-MM-DD  after:YYYY-MM-DD    UTC days; before is exclusive, after inclusive; / also accepted
 *   -term                                  negates any of the above
 *
 * Not supported: OR, parentheses, wildcards. An unknown operator (`foo:bar`, `is:important`) is an
 * ordinary word. The last word of the query, when bare and at least two characters, is matched as
 * a prefix (search as you type). The parsed form (ParsedSearch) is what the search repository
 * (core/src/repositories/search.repository.ts) runs.
 */

export const SEARCH_MAX_LENGTH = 500;
export const SEARCH_MAX_TERMS = 50;

const SPECIAL_FOLDERS: Record<string, SpecialUse> = {
  inbox: '\\Inbox',
  sent: '\\Sent',
  drafts: '\\Drafts',
  draft: '\\Drafts',
  archive: '\\Archive',
  junk: '\\Junk',
  spam: '\\Junk',
  trash: '\\Trash',
  bin: '\\Trash',
};

const invalid = (message: string) => new AppError('search.invalid', message, 400);

/** A UTC day from YYYY-MM-DD (or YYYY/MM/DD); null when it is not a real calendar day. */
function parseDay(value: string): Date | null {
  const match = /^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$/.exec(value);
  if (!match) return null;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (year < 1970 || year > 9999) return null;
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return null;
  return date;
}

interface Token {
  negated: boolean;
  /** Lower-cased operator name, when the token is `key:value` with a letters-only key. */
  key: string | null;
  value: string;
  quoted: boolean;
}

/** Splits on whitespace, keeping "quoted phrases" (an unclosed quote runs to the end) and key:"quoted values". */
function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  const s = input;
  let i = 0;
  const isSpace = (c: string | undefined) => c !== undefined && /\s/u.test(c);
  const readQuoted = (): string => {
    // s[i] is the opening quote
    const close = s.indexOf('"', i + 1);
    const end = close === -1 ? s.length : close;
    const value = s.slice(i + 1, end);
    i = close === -1 ? s.length : close + 1;
    return value;
  };
  while (i < s.length) {
    if (isSpace(s[i])) {
      i++;
      continue;
    }
    let negated = false;
    if (s[i] === '-') {
      i++;
      // A lone dash is nothing; a dash before a term negates it.
      if (i >= s.length || isSpace(s[i])) continue;
      negated = true;
    }
    if (s[i] === '"') {
      tokens.push({ negated, key: null, value: readQuoted(), quoted: true });
      continue;
    }
    const start = i;
    let done = false;
    while (i < s.length && !isSpace(s[i])) {
      if (s[i] === ':' && s[i + 1] === '"' && /^[a-z]+$/i.test(s.slice(start, i))) {
        // key:"quoted value"
        const key = s.slice(start, i).toLowerCase();
        i++;
        tokens.push({ negated, key, value: readQuoted(), quoted: true });
        done = true;
        break;
      }
      i++;
    }
    if (done) continue;
    const word = s.slice(start, i);
    if (word === '') continue;
    const colon = word.indexOf(':');
    const key = colon > 0 && /^[a-z]+$/i.test(word.slice(0, colon)) ? word.slice(0, colon).toLowerCase() : null;
    tokens.push({ negated, key, value: key === null ? word : word.slice(colon + 1), quoted: false });
  }
  return tokens;
}

/** The word as the user typed it, for unknown operators that become plain words. */
function asWord(t: Token): SearchTerm {
  const value = t.key === null ? t.value : `${t.key}:${t.value}`;
  return { kind: 'text', value, phrase: t.quoted, prefix: false, negated: t.negated };
}

export function parseSearchQuery(input: string): ParsedSearch {
  if (input.length > SEARCH_MAX_LENGTH) throw invalid(`the query is too long (at most ${SEARCH_MAX_LENGTH} characters)`);
  // PostgreSQL text cannot hold NUL; other control characters only separate words.
  // eslint-disable-next-line no-control-regex
  const clean = input.replace(/[\u0000-\u001f\u007f]/g, ' ');
  const tokens = tokenize(clean);
  if (tokens.length > SEARCH_MAX_TERMS) throw invalid(`the query has too many terms (at most ${SEARCH_MAX_TERMS})`);

  const terms: SearchTerm[] = [];
  let anywhere = false;
  for (const t of tokens) {
    const negated = t.negated;
    const value = t.value.trim();
    if (t.key === null) {
      if (value !== '') terms.push({ kind: 'text', value, phrase: t.quoted, prefix: false, negated });
      continue;
    }
    switch (t.key) {
      case 'from':
      case 'to':
      case 'subject':
        if (value === '') throw invalid(`${t.key}: needs a value, e.g. ${t.key}:someone`);
        terms.push({ kind: t.key, value, negated });
        continue;
      case 'has':
        if (/^attachments?$/i.test(value)) {
          terms.push({ kind: 'has-attachment', negated });
          continue;
        }
        break;
      case 'is': {
        const state = value.toLowerCase();
        if (state === 'unread' || state === 'read' || state === 'starred') {
          terms.push({ kind: 'is', state, negated });
          continue;
        }
        if (state === 'flagged') {
          terms.push({ kind: 'is', state: 'starred', negated });
          continue;
        }
        break;
      }
      case 'in': {
        if (value === '') throw invalid('in: needs a folder, e.g. in:inbox');
        if (value.toLowerCase() === 'anywhere') {
          if (negated) throw invalid('-in:anywhere matches nothing; leave it out');
          anywhere = true;
          continue;
        }
        terms.push({ kind: 'in', name: value, specialUse: SPECIAL_FOLDERS[value.toLowerCase()] ?? null, negated });
        continue;
      }
      case 'before':
      case 'after': {
        const date = parseDay(value);
        if (!date) throw invalid(`${t.key}:${value} is not a date; use ${t.key}:YYYY-MM-DD`);
        terms.push({ kind: t.key, date, negated });
        continue;
      }
    }
    // Not an operator we know (or a value it does not take): an ordinary word.
    terms.push(asWord(t));
  }

  // Search as you type: the query's final token, when a bare positive word, matches as a prefix.
  const lastToken = tokens[tokens.length - 1];
  const last = terms[terms.length - 1];
  if (lastToken && !lastToken.quoted && !lastToken.negated && lastToken.key === null && last?.kind === 'text' && !last.phrase && !last.negated && [...last.value].length >= 2) {
    last.prefix = true;
  }
  return { terms, anywhere };
}
