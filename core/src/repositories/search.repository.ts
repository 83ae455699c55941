import { sql, type Expression, type SqlBool } from 'kysely';
import type { DbOrTx } from '../db/client.js';
import type { SpecialUse } from '../db/schema.js';
import { AppError } from '../errors.js';
import { caseVariants, databaseCaseVariants } from '../util/case-variants.js';
import { listColumns, toListItem, type MessageListItem } from './message.repository.js';
import { createSearchIndexRepository } from './search-index.repository.js';

/**
 * Runs a parsed search (ParsedSearch below, as core/src/mail/search-query.ts parses it from the
 * query text) over ONE user's messages. Every query filters on user_id, and folder names resolve
 * only among that user's mailboxes. All values go to PostgreSQL as bound parameters.
 *
 * How terms match:
 * - Words and "phrases" use the message's search vector (`message_search.search`, written by the
 *   search index stage a moment after filing, migration 0026; a search first indexes what its user
 *   still has queued; 'simple' configuration: no stemming, no stop words) through
 *   to_tsquery('simple', <quoted value>), so PostgreSQL's own parser
 *   splits the query exactly as it split the message. The quoted form is built from the value
 *   with tsquery's quoting rules (' doubled, \ doubled), so no input can change the query's shape.
 *   The query's last bare word matches as a prefix (`word:*`).
 * - subject:x is the same match restricted to weight A (only the subject carries weight A), and
 *   equally on to_tsvector('simple', subject), which has its own GIN index.
 * - from:x / to:x are case-insensitive substring matches (ILIKE, escaped) on the From and
 *   To + Cc text (names and addresses), e.g. from:müller, from:@example.org. Trigram indexes
 *   (pg_trgm, migration 0009) serve them where the extension is installed.
 * - A word or phrase with no letters or digits (an emoji, "&") is a substring match on the subject
 *   instead: whether PostgreSQL keeps an emoji as a lexeme depends on the server's locale (the C
 *   locale keeps it, a UTF-8 locale drops it), a substring match works on both.
 * - Case: PostgreSQL lower-cases lexemes by the database's LC_CTYPE. Under the C locale (what the
 *   embedded server uses) only ASCII is lower-cased, so "Привет" is stored as 'Привет'. To be
 *   case-insensitive on every server we match each value in its typed, lower, UPPER and
 *   Capitalised forms (OR-ed), leaving out forms that differ only in ASCII case (the database
 *   folds those itself: "meeting" is one operand, "привет" three). Accents are not folded:
 *   "cafe" does not find "café".
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
 *
 * Speed (bench/README.md, "API": p95 under 100 ms at 1,000,000 messages in one mailbox):
 * - folder names resolve to ids first, so mailbox_id is compared with constants;
 * - results come newest first or from the newest N matches, so most searches are a walk down
 *   messages_user_date / messages_mailbox_date (with words: message_search_user_date /
 *   message_search_mailbox_date, over the vectors alone) in date order that stops early. The code picks,
 *   per query, between such a walk and PostgreSQL's own plan (GIN for a rare word, the subject
 *   and trigram indexes of migration 0009 for a rare subject: or from:/to:), from what a first
 *   short walk finds: see search(). Which way is taken never changes the result.
 * - Still slow at 1M: a word in roughly 1–5 % of the mail (too rare for a short walk, too common
 *   for fetching every match), and a combination like from:x plus a common word; 0.1–0.3 s.
 */

/** One search term; the terms of a search are AND-ed together. */
export type SearchTerm =
  /** A free word or "phrase"; `prefix` only for the query's last bare word. */
  | { kind: 'text'; value: string; phrase: boolean; prefix: boolean; negated: boolean }
  | { kind: 'from' | 'to' | 'subject'; value: string; negated: boolean }
  | { kind: 'has-attachment'; negated: boolean }
  | { kind: 'is'; state: 'unread' | 'read' | 'starred'; negated: boolean }
  /** `specialUse` when the value names a special folder; `name` is always the value as typed. */
  | { kind: 'in'; name: string; specialUse: SpecialUse | null; negated: boolean }
  | { kind: 'before' | 'after'; date: Date; negated: boolean };

export interface ParsedSearch {
  terms: SearchTerm[];
  /** `in:anywhere`: do not leave out Trash and Junk. */
  anywhere: boolean;
}

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
  const parts = databaseCaseVariants(value).map((v) => sql`to_tsquery('simple', ${tsqueryLiteral(v, suffix)})`);
  return sql`(${sql.join(parts, sql` || `)})`;
}

const hasLexemes = (value: string) => /[\p{L}\p{N}]/u.test(value);

const escapeLike = (v: string) => v.replace(/[\\%_]/g, (c) => `\\${c}`);

/** ILIKE patterns for "contains `value`", in every case variant. */
function likePatterns(value: string): string[] {
  return databaseCaseVariants(value).map((v) => `%${escapeLike(v)}%`);
}

const subjectContains = (value: string) => sql<SqlBool>`strpos(subject, ${value}) > 0`;

type Condition = Expression<SqlBool>;
type InTerm = Extract<SearchTerm, { kind: 'in' }>;

/**
 * The SQL condition of one term (`in:` terms are resolved to folder ids first: see folderScope).
 * `vector`: the row at hand has the message's search vector as `search` (a ranked search walks
 * `message_search`); otherwise it is a `messages` row and a free-text term looks the vector up.
 */
function condition(term: Exclude<SearchTerm, InTerm>, vector: boolean): Condition {
  switch (term.kind) {
    case 'text': {
      if (!hasLexemes(term.value)) return subjectContains(term.value);
      const q = tsquery(term.value, term.prefix ? ':*' : '');
      // Only a search without positive words (`-draft`, `is:unread -draft`) tests words on
      // `messages` rows: one primary-key probe of message_search each (`id` is the outer row's).
      return vector ? sql<SqlBool>`search @@ ${q}` : sql<SqlBool>`EXISTS (SELECT 1 FROM message_search s WHERE s.message_id = id AND s.search @@ ${q})`;
    }
    case 'subject':
      if (!hasLexemes(term.value)) return subjectContains(term.value);
      // Weight A of the vector (only the subject carries weight A), cheap on a row at hand; on
      // `messages`, the subject's own vector, which the GIN index messages_subject_search
      // (migration 0009) finds without reading every message.
      return vector ? sql<SqlBool>`search @@ ${tsquery(term.value, ':A')}` : sql<SqlBool>`to_tsvector('simple', subject) @@ ${tsquery(term.value, '')}`;
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
    case 'before':
      return sql<SqlBool>`internal_date < ${term.date}`;
    case 'after':
      return sql<SqlBool>`internal_date >= ${term.date}`;
  }
}

interface Folder {
  id: number;
  name: string;
  special_use: string | null;
  message_count: number;
}

/**
 * Whether `in:<name>` names this folder: the special-use folder the keyword names (in:sent), or a
 * folder of that name in any case (in:geheim finds "Geheim", in:проекты finds "Проекты").
 */
function isNamed(term: InTerm, folder: Folder): boolean {
  if (term.specialUse !== null && folder.special_use === term.specialUse) return true;
  const name = folder.name.toLowerCase();
  return caseVariants(term.name).some((v) => v.toLowerCase() === name);
}

/**
 * The folders a search may look in, as ids of this user's folders: `only` (the folders every
 * positive in: names, or null for all) and `not` (negated in: folders, and Trash and Junk unless
 * the query names a folder or says in:anywhere). Resolved before the message query so that it
 * compares mailbox_id with constants: the planner can then walk messages_mailbox_date for
 * in:inbox and stop after the first matches, which a subquery on mailboxes prevented.
 * `messages`: how many messages those folders hold (their counters; a hint for choosing the plan).
 */
async function folderScope(db: DbOrTx, userId: number, query: ParsedSearch): Promise<{ only: number[] | null; not: number[]; messages: number }> {
  const inTerms = query.terms.filter((t): t is InTerm => t.kind === 'in');
  const positive = inTerms.filter((t) => !t.negated);
  const excludeTrash = !query.anywhere && positive.length === 0;
  const folders: Folder[] = await db.selectFrom('mailboxes').select(['id', 'name', 'special_use', 'message_count']).where('user_id', '=', userId).execute();
  const count = (ids: Iterable<number>) => {
    const set = new Set(ids);
    return folders.reduce((n, f) => (set.has(f.id) ? n + f.message_count : n), 0);
  };
  const named = (t: InTerm) => folders.filter((f) => isNamed(t, f)).map((f) => f.id);
  const not = new Set(inTerms.filter((t) => t.negated).flatMap(named));
  if (excludeTrash) for (const f of folders) if (f.special_use === '\\Trash' || f.special_use === '\\Junk') not.add(f.id);
  if (positive.length === 0) return { only: null, not: [...not], messages: count(folders.map((f) => f.id).filter((id) => !not.has(id))) };
  let only = named(positive[0]!);
  for (const t of positive.slice(1)) {
    const ids = new Set(named(t));
    only = only.filter((id) => ids.has(id));
  }
  only = only.filter((id) => !not.has(id));
  return { only, not: [], messages: count(only) };
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

/** One candidate of a ranked search: its date in microseconds (exact, for ordering) and its rank. */
interface Candidate {
  id: number;
  us: number;
  rank: number;
}

/** A row of the scope, by its place in date order: (internal_date, id), the date in microseconds. */
interface Boundary {
  id: number;
  us: number;
}

/** internal_date in microseconds since 1970 (exact: PostgreSQL keeps microseconds). */
const dateUs = sql<number>`(extract(epoch FROM internal_date) * 1000000)::int8`;
const fromUs = (us: number) => sql`(timestamptz 'epoch' + ${us}::int8 * interval '1 microsecond')`;

/** Numbers whatever the pg type parsers (int8 may come as a string). */
const asCandidates = (rows: { id: number; us: number; rank: number }[]): Candidate[] => rows.map((r) => ({ id: Number(r.id), us: Number(r.us), rank: Number(r.rank) }));

/** (rank, date, id) descending, the order of a ranked search. */
const byRank = (a: Candidate, b: Candidate) => b.rank - a.rank || b.us - a.us || b.id - a.id;

/**
 * How many rows a walk tests in the time the GIN plan fetches one match from the heap (measured,
 * bench/README.md "API"): about 3 while the pages it fetches stay in shared_buffers, about 10 when
 * they do not (one random read each) — taken as: more matches than half of shared_buffers' pages.
 */
const WALK_ROWS_PER_FETCH = { cached: 3, uncached: 10 };

/** How many of the newest rows a date-ordered search tests before it leaves the page to PostgreSQL's plan. */
const WALK_FIRST_PAGE_ROWS = 5000;

export function createSearchRepository(db: DbOrTx) {
  /** shared_buffers in pages, read once (a server setting that needs a restart to change). */
  let bufferPages: Promise<number> | undefined;
  const sharedBufferPages = () =>
    (bufferPages ??= sql<{ pages: number }>`SELECT setting::int AS pages FROM pg_settings WHERE name = 'shared_buffers'`.execute(db).then(
      (r) => Number(r.rows[0]?.pages ?? 16384),
      () => 16384,
    ));
  return {
    /**
     * `rankCandidates`: a free-text search ranks only the newest N matches (default 3,000), so a
     * common word costs a bounded amount of work instead of scoring every match in the mailbox
     * (bench/README.md, "API"). Older matches are reached by narrowing the query (dates, from:, in:).
     */
    async search(userId: number, query: ParsedSearch, options: { limit: number; cursor?: string; rankCandidates?: number }): Promise<SearchPage> {
      const rankedMode = query.terms.some((t) => t.kind === 'text' && !t.negated && hasLexemes(t.value));
      const cursor = options.cursor === undefined ? undefined : decodeCursor(options.cursor, rankedMode);
      const limit = options.limit;

      // `scope`: which rows are searched at all (folders, date range), conditions an index on dates
      // can serve; `filters`: the rest, tested row by row or through the other indexes.
      const scope: Condition[] = [];
      const filters: Condition[] = [];
      for (const t of query.terms) {
        if (t.kind === 'in') continue;
        const c = condition(t, rankedMode);
        if ((t.kind === 'before' || t.kind === 'after') && !t.negated) scope.push(c);
        else filters.push(t.negated ? sql<SqlBool>`NOT (${c})` : c);
      }
      // Words are matched on the search index: first index what this user's mail still has
      // waiting for it (mail filed a moment ago), so that no message already in a folder is missed.
      if (query.terms.some((t) => t.kind === 'text' && hasLexemes(t.value))) await createSearchIndexRepository(db).catchUp(userId);
      const folders = await folderScope(db, userId, query);
      if (folders.only?.length === 0) return { messages: [], nextCursor: null };
      if (folders.only?.length === 1) scope.push(sql<SqlBool>`mailbox_id = ${folders.only[0]}`);
      else if (folders.only) scope.push(sql<SqlBool>`mailbox_id = ANY(${folders.only}::bigint[])`);
      if (folders.not.length > 0) scope.push(sql<SqlBool>`mailbox_id <> ALL(${folders.not}::bigint[])`);

      const scoped = () => {
        let q = db.selectFrom('messages').where('user_id', '=', userId);
        for (const c of scope) q = q.where(c);
        return q;
      };
      const matches = () => {
        let q = scoped();
        for (const c of filters) q = q.where(c);
        return q;
      };

      if (!rankedMode) {
        // Newest first. First a short walk of the newest rows (below the cursor) in date order:
        // when the filters match there, the page is complete after a few thousand rows at most.
        // Only a rarer match goes to PostgreSQL's own plan (an index on the filtered column). The
        // walk spares a misestimated filter the other way round: subject:"quarterly report" was
        // fetched and sorted in full through the subject index (41k rows at 1M, 0.4 s).
        const below = (q: ReturnType<typeof scoped>) => (cursor ? q.where((eb) => eb(eb.refTuple('internal_date', 'id'), '<', eb.tuple(cursor.date, cursor.id))) : q);
        const window = below(scoped()).selectAll().orderBy('internal_date', 'desc').orderBy('id', 'desc').limit(WALK_FIRST_PAGE_ROWS);
        let walked = db.selectFrom(window.as('w')).select(listColumns).orderBy('internal_date', 'desc').orderBy('id', 'desc').limit(limit + 1);
        for (const c of filters) walked = walked.where(c);
        let rows = await walked.execute();
        if (rows.length <= limit) rows = await below(matches()).select(listColumns).orderBy('internal_date', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
        const page = rows.slice(0, limit).map(toListItem);
        const last = page[page.length - 1];
        return { messages: page, nextCursor: rows.length > limit && last ? encodeCursor({ ranked: false, date: last.internalDate, id: last.id }) : null };
      }

      // Rank by the positive free-text terms (and the subject: terms, which are full-text too).
      const ranking = query.terms.flatMap((t) =>
        (t.kind === 'text' || t.kind === 'subject') && !t.negated && hasLexemes(t.value) ? [tsquery(t.value, t.kind === 'text' ? (t.prefix ? ':*' : '') : ':A')] : [],
      );
      const rankQuery = sql.join(ranking, sql` && `);
      const candidateColumns = [
        'id',
        dateUs.as('us'),
        sql<number>`ts_rank_cd(${RANK_WEIGHTS}::float4[], search, ${rankQuery})::float8`.as('rank'),
      ] as const;
      const n = Math.max(1, options.rankCandidates ?? RANK_CANDIDATES);

      const dateScope = query.terms.flatMap((t) => ((t.kind === 'before' || t.kind === 'after') && !t.negated ? [condition(t, true)] : []));
      const isBelow = (b: Boundary) => sql<SqlBool>`(internal_date, message_id) < (${fromUs(b.us)}, ${b.id}::bigint)`;

      // A ranked search reads `message_search` (the vectors, with user, folder and date): its walk
      // tests the words on those rows alone. Terms on other columns (from:, is:, has:, a subject
      // without letters) read the message row too, joined for the rows whose words matched.
      const indexed = () => {
        let q = db.selectFrom('message_search').where('user_id', '=', userId);
        for (const c of scope) q = q.where(c);
        return q;
      };
      const needsMessage = query.terms.some(
        (t) => t.kind === 'from' || t.kind === 'to' || t.kind === 'has-attachment' || t.kind === 'is' || ((t.kind === 'text' || t.kind === 'subject') && !hasLexemes(t.value)),
      );
      /**
       * Candidates (with the filters) from a query of message_search rows as `w` (id = the message's
       * id). A walk (`walking`) reads the message row only for the rows whose words matched: a
       * probe per row, after the word tests (OFFSET 0 keeps PostgreSQL from planning it otherwise).
       * Without a walk it is a plain join, so that PostgreSQL may also start from the other side: a
       * rare sender's messages (messages_from_trgm), each looked up in message_search.
       */
      const messageColumns = ['subject', 'from_text', 'to_text', 'cc_text', 'has_attachments', 'flags'] as const;
      const candidatesOf = (window: ReturnType<typeof indexedRows>, walking: boolean) => {
        let q = db.selectFrom(window.as('w'));
        if (needsMessage && walking) {
          q = q.innerJoinLateral((eb) => eb.selectFrom('messages').select(messageColumns).whereRef('messages.id', '=', 'w.id').offset(0).as('m'), (join) => join.onTrue()) as unknown as typeof q;
        } else if (needsMessage) {
          q = q.innerJoin(db.selectFrom('messages').select(['id as message', ...messageColumns]).where('user_id', '=', userId).as('m'), 'm.message', 'w.id') as unknown as typeof q;
        }
        let out = q.select(candidateColumns).orderBy('internal_date', 'desc').orderBy('id', 'desc');
        for (const c of filters) out = out.where(c);
        return out;
      };
      const indexedRows = () => indexed().select(['message_id as id', 'internal_date', 'search']);

      /**
       * The row `rows` places down the date index, below `below` when given: among the rows of the
       * one folder searched, or else of all the user's folders, within the date terms. Undefined
       * when there are fewer rows. Read from the index alone (user_id or mailbox_id, internal_date, message_id).
       */
      const edge = async (rows: number, below?: Boundary): Promise<Boundary | undefined> => {
        let q = db.selectFrom('message_search').select(['message_id as id', dateUs.as('us')]).where('user_id', '=', userId);
        if (folders.only?.length === 1) q = q.where('mailbox_id', '=', folders.only[0]!);
        for (const c of dateScope) q = q.where(c);
        if (below) q = q.where(isBelow(below));
        const r = await q.orderBy('internal_date', 'desc').orderBy('message_id', 'desc').offset(rows - 1).limit(1).executeTakeFirst();
        return r && { id: Number(r.id), us: Number(r.us) };
      };

      /**
       * The newest `want` matches among the scope's rows from `from` (inclusive; to the oldest
       * when absent) up to `below` (exclusive; from the newest when absent), newest first, testing
       * at most `rows` rows. The window's own LIMIT keeps PostgreSQL on the date-ordered index: it
       * reads the rows in date order, tests each, and stops at `want`.
       */
      const walk = (rows: number, want: number, range: { from?: Boundary | undefined; below?: Boundary | undefined }) => {
        let window = indexedRows().orderBy('internal_date', 'desc').orderBy('message_id', 'desc').limit(rows);
        if (range.from) window = window.where(sql<SqlBool>`(internal_date, message_id) >= (${fromUs(range.from.us)}, ${range.from.id}::bigint)`);
        if (range.below) window = window.where(isBelow(range.below));
        return candidatesOf(window, true).limit(want).execute().then(asCandidates);
      };
      /** Room in a window bounded by `edge` rows for mail that arrives meanwhile: the LIMIT must not cut it short. */
      const withRoom = (rows: number) => 2 * rows + 1000;

      // The candidates are the newest N matches, with their rank. Two ways find them:
      // - walking the newest rows in date order and testing each: cheap per row, and a common word
      //   fills N after few rows;
      // - letting PostgreSQL fetch every match through the GIN index and sort them by date: cheap
      //   for a rare word, but every match costs a random heap read.
      // PostgreSQL's own choice between them goes wrong in between (it estimates a phrase's matches
      // as if its words were independent), so the choice is made here, from what a first walk finds:
      // 1. walk the newest N rows (split off at a row in date order, so that the next step takes up
      //    exactly where this one ended, whatever arrives meanwhile); N matches there, or no older
      //    rows: done;
      // 2. from the share of matches among them, estimate what walking on costs against fetching
      //    every match through GIN, and walk on if that is cheaper; enough matches, or no older
      //    rows: done;
      // 3. otherwise, the plain query: PostgreSQL plans it (GIN for a rare word).
      // Each way yields exactly the newest N matches, so the result does not depend on the way.
      let candidates: Candidate[] | null = null;
      const end1 = await edge(n);
      const first = await walk(withRoom(n), n, { from: end1 });
      if (!end1 || first.length === n) candidates = first;
      else if (first.length > 0) {
        const share = first.length / n;
        const need = n - first.length;
        const rest = Math.max(folders.messages - n, need);
        const fetches = share * rest;
        const perFetch = fetches <= (await sharedBufferPages()) / 2 ? WALK_ROWS_PER_FETCH.cached : WALK_ROWS_PER_FETCH.uncached;
        if (Math.min(need / share, rest) <= perFetch * fetches) {
          const rows = Math.ceil((2 * need) / share);
          // When the folders' counters say this walk may reach the oldest row, find out exactly
          // (a second split), so that "fewer than needed" can mean "all there are".
          const toTheEnd = n + rows >= folders.messages;
          const end2 = toTheEnd ? await edge(rows, end1) : undefined;
          const more = await walk(toTheEnd ? withRoom(rows) : rows, need, { from: end2, below: end1 });
          if (more.length === need || (toTheEnd && !end2)) candidates = [...first, ...more];
        }
      }
      candidates ??= asCandidates(await candidatesOf(indexedRows(), false).limit(n).execute());

      // The page: (rank, date, id) descending, after the cursor. Compared as SQL compares them: the
      // cursor's date has milliseconds, the stored dates may have microseconds.
      candidates.sort(byRank);
      if (cursor?.ranked) {
        const cus = cursor.date.getTime() * 1000;
        candidates = candidates.filter((c) => c.rank < cursor.rank || (c.rank === cursor.rank && (c.us < cus || (c.us === cus && c.id < cursor.id))));
      }
      const chosen = candidates.slice(0, limit + 1);
      const rows = chosen.length === 0 ? [] : await db.selectFrom('messages').select(listColumns).where('user_id', '=', userId).where('id', 'in', chosen.map((c) => c.id)).execute();
      const byId = new Map(rows.map((r) => [Number(r.id), r]));
      const ordered = chosen.flatMap((c) => {
        const r = byId.get(c.id);
        return r ? [{ item: toListItem(r), rank: c.rank }] : [];
      });
      const page = ordered.slice(0, limit);
      const last = page[page.length - 1];
      return {
        messages: page.map((p) => p.item),
        nextCursor: ordered.length > limit && last ? encodeCursor({ ranked: true, rank: last.rank, date: last.item.internalDate, id: last.item.id }) : null,
      };
    },
  };
}
export type SearchRepository = ReturnType<typeof createSearchRepository>;
