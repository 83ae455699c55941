import { sql, type Expression, type SqlBool } from 'kysely';
import type { DbOrTx } from '../db/client.js';
import { AppError } from '../errors.js';
import { caseVariants, type ParsedSearch, type SearchTerm } from '../mail/search-query.js';
import { listColumns, toListItem, type MessageListItem } from './message.repository.js';

/**
 * Runs a parsed search (core/src/mail/search-query.ts) over ONE user's messages. Every query
 * filters on user_id, and folder names resolve only among that user's mailboxes. All values go
 * to PostgreSQL as bound parameters.
 *
 * How terms match:
 * - Words and "phrases" use the stored `search` tsvector ('simple' configuration: no stemming,
 *   no stop words) through to_tsquery('simple', <quoted value>), so PostgreSQL's own parser
 *   splits the query exactly as it split the message. The quoted form is built from the value
 *   with tsquery's quoting rules (' doubled, \ doubled), so no input can change the query's shape.
 *   The query's last bare word matches as a prefix (`word:*`).
 * - subject:x is the same match restricted to weight A (only the subject carries weight A).
 * - from:x / to:x are case-insensitive substring matches (ILIKE, escaped) on the From and
 *   To + Cc text (names and addresses), e.g. from:müller, from:@example.org.
 * - A word or phrase with no letters or digits (an emoji, "&") is a substring match on the subject
 *   instead: whether PostgreSQL keeps an emoji as a lexeme depends on the server's locale (the C
 *   locale keeps it, a UTF-8 locale drops it), a substring match works on both.
 * - Case: PostgreSQL lower-cases lexemes by the database's LC_CTYPE. Under the C locale (what the
 *   embedded server uses) only ASCII is lower-cased, so "Привет" is stored as 'Привет'. To be
 *   case-insensitive on every server we match each value in its typed, lower, UPPER and
 *   Capitalised forms (OR-ed). Accents are not folded: "cafe" does not find "café".
 * - Scripts written without spaces (Chinese, Japanese) are one token per run of letters:
 *   "東京タワー" is found by 東京タワー, and by 東京 only as the prefix (last) word, not by タワー.
 *   Space-separated words (東京 タワー) are found word by word.
 *
 * Order and paging: with positive free-text terms, by ts_rank_cd (subject weighs most, body
 * least), then newest first; otherwise newest first. Both are keyset-paginated on
 * (rank, internal_date, id) or (internal_date, id), so pages neither repeat nor skip, also when
 * mail arrives between pages. The cursor is opaque; it is not tied to the query text.
 *
 * Trash and Junk are left out unless the query names a folder with in: or says in:anywhere.
 */

export interface SearchPage {
  messages: MessageListItem[];
  nextCursor: string | null;
}

/** How many of the newest matches a free-text search ranks. */
const RANK_CANDIDATES = 3000;

/** ts_rank_cd weights for {D, C, B, A}: subject (A) 1.0, people and attachment names (B) 0.4, body (C) 0.1. */
const RANK_WEIGHTS = '{0.05,0.1,0.4,1.0}';

/** A value as one quoted tsquery operand (PostgreSQL parses its inside with the text parser). */
function tsqueryLiteral(value: string, suffix: '' | ':*' | ':A'): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'${suffix}`;
}

/** OR of the case variants, each through to_tsquery('simple', …) with bound parameters. */
function tsquery(value: string, suffix: '' | ':*' | ':A') {
  const parts = caseVariants(value).map((v) => sql`to_tsquery('simple', ${tsqueryLiteral(v, suffix)})`);
  return sql`(${sql.join(parts, sql` || `)})`;
}

const hasLexemes = (value: string) => /[\p{L}\p{N}]/u.test(value);

const escapeLike = (v: string) => v.replace(/[\\%_]/g, (c) => `\\${c}`);

/** ILIKE patterns for "contains `value`" (or "is `value`"), in every case variant. */
function likePatterns(value: string, match: 'contains' | 'equals' = 'contains'): string[] {
  return caseVariants(value).map((v) => (match === 'contains' ? `%${escapeLike(v)}%` : escapeLike(v)));
}

const subjectContains = (value: string) => sql<SqlBool>`strpos(subject, ${value}) > 0`;

type Condition = Expression<SqlBool>;

function condition(userId: number, term: SearchTerm): Condition {
  switch (term.kind) {
    case 'text':
      if (!hasLexemes(term.value)) return subjectContains(term.value);
      return sql<SqlBool>`search @@ ${tsquery(term.value, term.prefix ? ':*' : '')}`;
    case 'subject':
      if (!hasLexemes(term.value)) return subjectContains(term.value);
      return sql<SqlBool>`search @@ ${tsquery(term.value, ':A')}`;
    case 'from':
      return sql<SqlBool>`from_text ILIKE ANY(${likePatterns(term.value)}::text[])`;
    case 'to': {
      const patterns = likePatterns(term.value);
      return sql<SqlBool>`(to_text ILIKE ANY(${patterns}::text[]) OR cc_text ILIKE ANY(${patterns}::text[]))`;
    }
    case 'has-attachment':
      return sql<SqlBool>`has_attachments`;
    case 'is':
      if (term.state === 'starred') return sql<SqlBool>`flags @> ARRAY[${'\\Flagged'}]::text[]`;
      if (term.state === 'read') return sql<SqlBool>`flags @> ARRAY[${'\\Seen'}]::text[]`;
      return sql<SqlBool>`NOT (flags @> ARRAY[${'\\Seen'}]::text[])`;
    case 'in':
      // Only this user's folders: the special-use folder the keyword names, or a folder of that name (any case).
      return sql<SqlBool>`mailbox_id IN (SELECT id FROM mailboxes WHERE user_id = ${userId} AND (special_use = ${term.specialUse} OR name ILIKE ANY(${likePatterns(term.name, 'equals')}::text[])))`;
    case 'before':
      return sql<SqlBool>`internal_date < ${term.date}`;
    case 'after':
      return sql<SqlBool>`internal_date >= ${term.date}`;
  }
}

type Cursor = { ranked: true; rank: number; date: Date; id: number } | { ranked: false; date: Date; id: number };

function encodeCursor(c: Cursor): string {
  const text = c.ranked ? `r:${c.rank}:${c.date.getTime()}:${c.id}` : `d:${c.date.getTime()}:${c.id}`;
  return Buffer.from(text).toString('base64url');
}

function decodeCursor(cursor: string, ranked: boolean): Cursor {
  const text = Buffer.from(cursor, 'base64url').toString();
  const bad = () => new AppError('request.invalid', 'cursor is not one this server gave out for this search', 400);
  if (ranked) {
    const m = /^r:([0-9.e+-]{1,40}):(\d{1,15}):(\d{1,15})$/.exec(text);
    const rank = Number(m?.[1]);
    if (!m || !Number.isFinite(rank) || rank < 0) throw bad();
    return { ranked: true, rank, date: new Date(Number(m[2])), id: Number(m[3]) };
  }
  const m = /^d:(\d{1,15}):(\d{1,15})$/.exec(text);
  if (!m) throw bad();
  return { ranked: false, date: new Date(Number(m[1])), id: Number(m[2]) };
}

export function createSearchRepository(db: DbOrTx) {
  return {
    /**
     * `rankCandidates`: a free-text search ranks only the newest N matches (default 3,000), so a
     * common word costs a bounded amount of work instead of scoring every match in the mailbox
     * (bench/README.md, "API"). Older matches are reached by narrowing the query (dates, from:, in:).
     */
    async search(userId: number, query: ParsedSearch, options: { limit: number; cursor?: string; rankCandidates?: number }): Promise<SearchPage> {
      const conditions: Condition[] = query.terms.map((t) => {
        const c = condition(userId, t);
        return t.negated ? sql<SqlBool>`NOT (${c})` : c;
      });
      const namesFolder = query.terms.some((t) => t.kind === 'in' && !t.negated);
      if (!query.anywhere && !namesFolder) {
        conditions.push(sql<SqlBool>`mailbox_id NOT IN (SELECT id FROM mailboxes WHERE user_id = ${userId} AND special_use IN (${'\\Trash'}, ${'\\Junk'}))`);
      }

      let base = db.selectFrom('messages').select(listColumns).where('user_id', '=', userId);
      for (const c of conditions) base = base.where(c);

      // Rank by the positive free-text terms (and the subject: terms, which are full-text too).
      const ranking = query.terms.flatMap((t) =>
        (t.kind === 'text' || t.kind === 'subject') && !t.negated && hasLexemes(t.value) ? [tsquery(t.value, t.kind === 'text' ? (t.prefix ? ':*' : '') : ':A')] : [],
      );
      const rankedMode = query.terms.some((t) => t.kind === 'text' && !t.negated && hasLexemes(t.value));
      const limit = options.limit;

      if (!rankedMode) {
        let q = base.orderBy('internal_date', 'desc').orderBy('id', 'desc').limit(limit + 1);
        if (options.cursor) {
          const c = decodeCursor(options.cursor, false);
          q = q.where((eb) => eb(eb.refTuple('internal_date', 'id'), '<', eb.tuple(c.date, c.id)));
        }
        const rows = await q.execute();
        const page = rows.slice(0, limit).map(toListItem);
        const last = page[page.length - 1];
        return { messages: page, nextCursor: rows.length > limit && last ? encodeCursor({ ranked: false, date: last.internalDate, id: last.id }) : null };
      }

      const rankQuery = sql.join(ranking, sql` && `);
      // The rank travels in the cursor as a float8: String(number) and back is exact, and each page
      // computes it the same way. Dates travel in milliseconds, the precision ingest stores.
      const candidates = base
        .select(sql<string>`search`.as('search'))
        .orderBy('internal_date', 'desc')
        .orderBy('id', 'desc')
        .limit(options.rankCandidates ?? RANK_CANDIDATES);
      const inner = db
        .selectFrom(candidates.as('c'))
        .select(listColumns)
        .select(sql<number>`ts_rank_cd(${RANK_WEIGHTS}::float4[], search, ${rankQuery})::float8`.as('rank'));
      let q = db
        .selectFrom(inner.as('m'))
        .selectAll()
        .orderBy('m.rank', 'desc')
        .orderBy('m.internal_date', 'desc')
        .orderBy('m.id', 'desc')
        .limit(limit + 1);
      if (options.cursor) {
        const c = decodeCursor(options.cursor, true);
        if (c.ranked) q = q.where(sql<SqlBool>`(m.rank, m.internal_date, m.id) < (${c.rank}::float8, ${c.date}::timestamptz, ${c.id}::bigint)`);
      }
      const rows = await q.execute();
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        messages: page.map(toListItem),
        nextCursor: rows.length > limit && last ? encodeCursor({ ranked: true, rank: last.rank, date: last.internal_date, id: last.id }) : null,
      };
    },
  };
}
export type SearchRepository = ReturnType<typeof createSearchRepository>;
