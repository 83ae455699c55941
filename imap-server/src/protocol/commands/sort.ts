import { ImapParseError, type Token } from '../parser.js';
import { tokenText } from './args.js';
import { parseSearch, type ReturnOption, type SearchKey } from './search.js';

/**
 * SORT (RFC 5256) and its DISPLAYFROM/DISPLAYTO keys (RFC 5957): `SORT [RETURN (<options>)]
 * (<criteria>) <charset> <search keys>`, the criteria as a list of keys each optionally after
 * REVERSE, RETURN as ESORT has it (RFC 5267: MIN, MAX, COUNT, ALL); and the "base subject"
 * messages are sorted by, as section 2.1 defines it.
 */

export type SortKey = 'ARRIVAL' | 'CC' | 'DATE' | 'FROM' | 'SIZE' | 'SUBJECT' | 'TO' | 'DISPLAYFROM' | 'DISPLAYTO';

export interface SortCriterion {
  key: SortKey;
  reverse: boolean;
}

export interface SortCommand {
  /** Present: answer ESEARCH with these (ALL when the list is empty). */
  returns?: ReturnOption[];
  criteria: SortCriterion[];
  key: SearchKey;
}

const KEYS = new Set<string>(['ARRIVAL', 'CC', 'DATE', 'FROM', 'SIZE', 'SUBJECT', 'TO', 'DISPLAYFROM', 'DISPLAYTO']);

/** Throws ImapParseError (BAD) for a malformed command, and search.ts's BadCharsetError for a charset other than UTF-8/US-ASCII. */
export function parseSort(tokens: readonly Token[], tag: string): SortCommand {
  let returns: ReturnOption[] | undefined;
  const first = tokens[0];
  if (first?.type === 'atom' && first.value.toUpperCase() === 'RETURN') {
    // SEARCH's parser reads the RETURN options; the rest of its result is not used.
    returns = parseSearch([...tokens.slice(0, 2), { type: 'atom', value: 'ALL' }], tag).returns;
    // SAVE (SEARCHRES) is SEARCH's only.
    if (returns?.includes('SAVE')) throw new ImapParseError('unknown RETURN option SAVE', tag);
    tokens = tokens.slice(2);
  }
  const list = tokens[0];
  if (list?.type !== 'list' || list.items.length === 0) throw new ImapParseError('SORT needs a list of sort criteria', tag);
  const criteria: SortCriterion[] = [];
  let reverse = false;
  for (const item of list.items) {
    const word = tokenText(item, 'sort criterion', tag).toUpperCase();
    if (word === 'REVERSE' && !reverse) {
      reverse = true;
      continue;
    }
    if (!KEYS.has(word)) throw new ImapParseError(`unknown sort criterion ${JSON.stringify(word.slice(0, 20))}`, tag);
    criteria.push({ key: word as SortKey, reverse });
    reverse = false;
  }
  if (reverse) throw new ImapParseError('REVERSE must come before a sort key', tag);
  if (!tokens[1]) throw new ImapParseError('missing charset', tag);
  if (!tokens[2]) throw new ImapParseError('missing search key', tag);
  // The charset is required here; SEARCH's parser takes it in its optional CHARSET form.
  const { key } = parseSearch([{ type: 'atom', value: 'CHARSET' }, ...tokens.slice(1)], tag);
  return { ...(returns ? { returns } : {}), criteria, key };
}

const LEADER = /^((?:\[[^[\]]*\] *)*)(?:re|fwd?) *(?:\[[^[\]]*\] *)?:/i;
const BLOB = /^\[[^[\]]*\] */;

/**
 * The base subject (RFC 5256 2.1): whitespace runs made one space; trailing "(fwd)"s, leading
 * "Re:", "Fw:", "Fwd:" (with [blobs] before or inside them) and leading [blobs] that leave
 * something behind are removed, repeatedly; a "[Fwd: …]" wrapper is taken off and the whole
 * done again. Comparing the results case-insensitively (i;ascii-casemap) is the caller's part.
 */
export function baseSubject(subject: string): string {
  return subjectOf(subject).base;
}

/** The base subject, and whether the subject marked a reply or forward (a "Re:", "Fwd:", "(fwd)" or "[Fwd: …]" was removed: THREAD's rules use it). */
export function subjectOf(subject: string): { base: string; reply: boolean } {
  let s = subject.replace(/[\t\r\n ]+/g, ' ');
  let reply = false;
  for (;;) {
    let before: string;
    do {
      before = s;
      s = s.replace(/ +$/, '');
      const trailer = s.replace(/\(fwd\)$/i, '');
      if (trailer !== s) reply = true;
      s = trailer;
    } while (s !== before);
    do {
      before = s;
      s = s.replace(/^ +/, '');
      const leader = LEADER.exec(s);
      if (leader) {
        s = s.slice(leader[0].length);
        reply = true;
      } else {
        const blob = BLOB.exec(s);
        if (blob && s.length > blob[0].length) s = s.slice(blob[0].length);
      }
    } while (s !== before);
    const wrapped = /^\[fwd:(.*)\]$/i.exec(s);
    if (!wrapped) return { base: s, reply };
    s = wrapped[1]!;
    reply = true;
  }
}
