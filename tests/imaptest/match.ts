/**
 * Matching server replies against imaptest's expected replies: one tokenizer for both (atoms,
 * quoted strings, literals, parenthesized lists, `[…]` response codes, `BODY[…]<n>` section atoms)
 * and a matcher with imaptest's rules: case-insensitive values, `$var` bound on first use and
 * compared after, `$` matching anything, `${case:x}` case-sensitive, `$!` list directives and the
 * default directives for FETCH, FETCH FLAGS, LIST/LSUB and STATUS lists.
 */

export type Token =
  | { t: 'atom'; v: string }
  | { t: 'string'; v: string }
  | { t: 'list'; items: Token[]; bracket?: boolean }
  | { t: 'var'; name: string }
  | { t: 'any' }
  | { t: 'case'; v: string }
  | { t: 'directive'; v: string };

export type Vars = Map<string, string>;

/** Tokenizes IMAP text (latin1, literals inline). With `pattern`, `$…` forms are variables and directives. */
export function tokenize(text: string, pattern = false, vars?: Vars): Token[] {
  let pos = 0;
  const readList = (close: string): Token[] => {
    const items: Token[] = [];
    for (;;) {
      while (text[pos] === ' ') pos++;
      if (pos >= text.length) return items;
      const c = text[pos]!;
      if (c === close) {
        pos++;
        return items;
      }
      if (c === ')' || c === ']') {
        // unbalanced: keep it as text (human-readable response text)
        items.push({ t: 'atom', v: c });
        pos++;
      } else if (c === '(') {
        pos++;
        items.push({ t: 'list', items: readList(')') });
      } else if (c === '[') {
        pos++;
        items.push({ t: 'list', items: readList(']'), bracket: true });
      } else if (c === '"') {
        let v = '';
        pos++;
        while (pos < text.length && text[pos] !== '"') {
          if (text[pos] === '\\') pos++;
          v += text[pos++] ?? '';
        }
        pos++;
        items.push({ t: 'string', v: pattern && vars ? substitute(v, vars) : v });
      } else {
        const literal = /^~?\{(\d+)\+?\}\r\n/.exec(text.slice(pos, pos + 30));
        if (literal) {
          pos += literal[0].length;
          items.push({ t: 'string', v: text.slice(pos, pos + Number(literal[1])) });
          pos += Number(literal[1]);
          continue;
        }
        let v = '';
        while (pos < text.length && !' ()'.includes(text[pos]!) && text[pos] !== close && text[pos] !== '\r') {
          if (text[pos] === '[') {
            // a section: BODY[HEADER.FIELDS (A B)]<0>
            let depth = 0;
            do {
              if (text[pos] === '[') depth++;
              else if (text[pos] === ']') depth--;
              v += text[pos++];
            } while (pos < text.length && depth > 0);
          } else v += text[pos++];
        }
        items.push(pattern ? patternAtom(v, vars) : { t: 'atom', v });
      }
    }
  };
  return readList('\u0000');
}

const VAR = /\$\{([^}]+)\}|\$([A-Za-z0-9_]+)|\$\$/g;

function patternAtom(v: string, vars?: Vars): Token {
  if (v === '$') return { t: 'any' };
  if (v.startsWith('$!')) return { t: 'directive', v: v.slice(2).toLowerCase() };
  const whole = /^(?:\$\{([^}]+)\}|\$([A-Za-z0-9_]+))$/.exec(v);
  if (whole) {
    const name = whole[1] ?? whole[2]!;
    if (name.startsWith('case:')) return { t: 'case', v: name.slice(5) };
    return { t: 'var', name };
  }
  return { t: 'atom', v: substitute(v, vars ?? new Map()) };
}

/** `$name`, `${name}` (bound ones) and `$$` in text. */
export function substitute(text: string, vars: Vars): string {
  return text.replace(VAR, (all, braced?: string, plain?: string) => {
    if (all === '$$') return '$';
    const name = braced ?? plain!;
    return vars.get(name) ?? all;
  });
}

export function serialize(token: Token): string {
  switch (token.t) {
    case 'atom':
    case 'string':
    case 'case':
      return token.v;
    case 'list':
      return token.bracket ? `[${token.items.map(serialize).join(' ')}]` : `(${token.items.map(serialize).join(' ')})`;
    case 'var':
      return `$${token.name}`;
    case 'any':
      return '$';
    case 'directive':
      return `$!${token.v}`;
  }
}

const norm = (s: string) => s.replace(/\s+/g, ' ').toUpperCase();

interface ListRules {
  unordered: number;
  extra: boolean;
  ignore: string[];
  ban: string[];
}

const ORDERED: ListRules = { unordered: 0, extra: false, ignore: [], ban: [] };

/** Rules for a list from its leading directives, or the defaults when it has none. */
function rulesOf(items: Token[], defaults: ListRules): { rules: ListRules; items: Token[] } {
  const directives = items.filter((i): i is Extract<Token, { t: 'directive' }> => i.t === 'directive');
  if (directives.length === 0) return { rules: defaults, items };
  const rules: ListRules = { unordered: 0, extra: false, ignore: [], ban: [] };
  for (const d of directives) {
    if (d.v === 'ordered') rules.unordered = 0;
    else if (d.v.startsWith('unordered')) {
      rules.unordered = Number(d.v.split('=')[1] ?? '1');
      rules.extra = true;
    } else if (d.v === 'noextra') rules.extra = false;
    else if (d.v === 'extra') rules.extra = true;
    else if (d.v.startsWith('ignore=')) rules.ignore.push(norm(d.v.slice(7)));
    else if (d.v.startsWith('ban=')) rules.ban.push(norm(d.v.slice(4)));
  }
  return { rules, items: items.filter((i) => i.t !== 'directive') };
}

/** Defaults for a list inside `parent` at `index` (FETCH, FETCH FLAGS, LIST/LSUB, STATUS). */
function defaultsFor(parent: Token[], index: number, top: boolean): ListRules {
  const word = (i: number) => (parent[i]?.t === 'atom' ? norm((parent[i] as { v: string }).v) : '');
  if (top && word(index - 1) === 'FETCH') return { unordered: 2, extra: true, ignore: [], ban: [] };
  if (!top && word(index - 1) === 'FLAGS') return { unordered: 1, extra: false, ignore: ['\\RECENT'], ban: [] };
  if (top && (word(0) === 'LIST' || word(0) === 'LSUB') && index === 1) return { unordered: 1, extra: true, ignore: [], ban: [] };
  if (top && word(0) === 'STATUS' && index === 2) return { unordered: 2, extra: true, ignore: [], ban: [] };
  return ORDERED;
}

/** Matches one expected token against an actual one; binds variables in `vars` (undone by the caller on failure). */
function matchToken(expected: Token, actual: Token, vars: Vars, defaults: ListRules): boolean {
  switch (expected.t) {
    case 'any':
      return true;
    case 'var': {
      const value = serialize(actual);
      const bound = vars.get(expected.name);
      if (bound === undefined) {
        vars.set(expected.name, value);
        return true;
      }
      return norm(bound) === norm(value);
    }
    case 'case':
      return (actual.t === 'atom' || actual.t === 'string') && actual.v === expected.v;
    case 'atom':
    case 'string':
      if (actual.t === 'list') return false;
      if (actual.t !== 'atom' && actual.t !== 'string') return false;
      return norm(expected.v) === norm(actual.v);
    case 'list':
      if (actual.t !== 'list' || Boolean(actual.bracket) !== Boolean(expected.bracket)) return false;
      return matchList(expected.items, actual.items, vars, defaults, false);
    case 'directive':
      return true;
  }
}

function tryMatch(expected: Token, actual: Token, vars: Vars, defaults: ListRules): boolean {
  const before = new Map(vars);
  if (matchToken(expected, actual, vars, defaults)) return true;
  vars.clear();
  for (const [k, v] of before) vars.set(k, v);
  return false;
}

function matchList(expectedItems: Token[], actual: Token[], vars: Vars, defaults: ListRules, top: boolean, prefixOnly = false): boolean {
  const { rules, items } = rulesOf(expectedItems, defaults);
  const childDefaults = (list: Token[], i: number) => defaultsFor(list, i, top);
  if (rules.unordered === 0) {
    if (actual.length < items.length || (!prefixOnly && !rules.extra && actual.length !== items.length)) return false;
    return items.every((e, i) => tryMatch(e, actual[i]!, vars, childDefaults(items, i)));
  }
  const n = rules.unordered;
  const chunks = (list: Token[]) => Array.from({ length: Math.ceil(list.length / n) }, (_, i) => list.slice(i * n, i * n + n));
  const remaining = chunks(actual);
  for (const group of chunks(items)) {
    const at = remaining.findIndex((candidate) => {
      if (candidate.length !== group.length) return false;
      const before = new Map(vars);
      if (group.every((e, i) => tryMatch(e, candidate[i]!, vars, childDefaults(candidate, i)))) return true;
      vars.clear();
      for (const [k, v] of before) vars.set(k, v);
      return false;
    });
    if (at < 0) return false;
    remaining.splice(at, 1);
  }
  const key = (chunk: Token[]) => norm(chunk.map(serialize).join(' '));
  if (!rules.extra) return remaining.every((c) => rules.ignore.includes(key(c)));
  return remaining.every((c) => !rules.ban.includes(key(c)));
}

const RESP_TEXT = new Set(['OK', 'NO', 'BAD', 'BYE', 'PREAUTH']);

/** An untagged reply (without its `* `) against an expected one; binds on success only. */
export function matchUntagged(expected: string, actual: Token[], vars: Vars): boolean {
  const tokens = tokenize(expected, true, vars);
  const copy = new Map(vars);
  // Response text (OK/NO/BAD/BYE) is matched by its beginning; data replies in full.
  const first = tokens[0]?.t === 'atom' ? norm(tokens[0].v) : '';
  const ok = matchList(tokens, actual, copy, ORDERED, true, RESP_TEXT.has(first));
  if (ok) for (const [k, v] of copy) vars.set(k, v);
  return ok;
}

/** The tagged reply's text after the status against the expected prefix. */
export function matchPrefix(expected: string, actual: Token[], vars: Vars): boolean {
  if (expected.trim() === '') return true;
  const copy = new Map(vars);
  const ok = matchList(tokenize(expected, true, vars), actual, copy, ORDERED, false, true);
  if (ok) for (const [k, v] of copy) vars.set(k, v);
  return ok;
}
