import type { DbOrTx } from '../db/client.js';

/**
 * Each user's allow and block lists of senders (issue 11; table `sender_rules`, migration 0016).
 * A pattern is an address (`ann@example.com`) or a domain (`example.com`, which covers its
 * subdomains). The spam filter, greylisting and the API read them from here, always per user.
 */

export type SenderRuleKind = 'allow' | 'block';

export interface SenderRuleRow {
  id: number;
  userId: number;
  kind: SenderRuleKind;
  pattern: string;
  createdAt: Date;
}

const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/;
const LOCAL_PART = /^[^\s@<>()[\]\\,;:"]{1,64}$/;

/** The stored form of an address or domain pattern (trimmed, lower case, no trailing dot), or null when it is neither. */
export function normalizeSenderPattern(input: string): string | null {
  const value = input.trim().toLowerCase().replace(/\.$/, '');
  const at = value.lastIndexOf('@');
  if (at < 0) return DOMAIN.test(value) ? value : null;
  const local = value.slice(0, at);
  const domain = value.slice(at + 1);
  return LOCAL_PART.test(local) && DOMAIN.test(domain) ? value : null;
}

/**
 * The patterns that would match a sender address, most specific first: the address itself, then
 * its domain and each parent domain (`a@mail.example.com` → `a@mail.example.com`,
 * `mail.example.com`, `example.com`, `com`). Empty for the null sender or a malformed one.
 */
export function senderPatternsFor(address: string): string[] {
  const value = address.trim().toLowerCase().replace(/\.$/, '');
  const at = value.lastIndexOf('@');
  if (at <= 0 || at === value.length - 1) return [];
  const labels = value.slice(at + 1).split('.');
  return [value, ...labels.map((_, i) => labels.slice(i).join('.')).filter((d) => d !== '')];
}

function toRow(row: { id: number; user_id: number; kind: SenderRuleKind; pattern: string; created_at: Date }): SenderRuleRow {
  return { id: row.id, userId: row.user_id, kind: row.kind, pattern: row.pattern, createdAt: row.created_at };
}

export function createSenderRuleRepository(db: DbOrTx) {
  /** `decide` for many (users, sender) questions in ONE query (the inbound worker asks for all the jobs it runs together). Answers line up with `questions`. */
  async function decideMany(questions: ReadonlyArray<{ userIds: readonly number[]; sender: string }>): Promise<Array<Map<number, SenderRuleKind>>> {
    const asked = questions.map((q) => ({ userIds: new Set(q.userIds), patterns: senderPatternsFor(q.sender) }));
    const users = [...new Set(asked.flatMap((q) => (q.patterns.length > 0 ? [...q.userIds] : [])))];
    const patterns = [...new Set(asked.flatMap((q) => q.patterns))];
    const rows = users.length === 0 || patterns.length === 0 ? [] : await db.selectFrom('sender_rules').select(['user_id', 'kind', 'pattern']).where('user_id', 'in', users).where('pattern', 'in', patterns).execute();
    return asked.map(({ userIds, patterns }) => {
      const best = new Map<number, { kind: SenderRuleKind; rank: number }>();
      for (const row of rows) {
        const rank = patterns.indexOf(row.pattern);
        if (rank < 0 || !userIds.has(row.user_id)) continue;
        const current = best.get(row.user_id);
        if (!current || rank < current.rank) best.set(row.user_id, { kind: row.kind, rank });
      }
      return new Map([...best].map(([userId, { kind }]) => [userId, kind]));
    });
  }

  return {
    /** The user's entries, newest first. */
    async list(userId: number): Promise<SenderRuleRow[]> {
      const rows = await db.selectFrom('sender_rules').selectAll().where('user_id', '=', userId).orderBy('id', 'desc').execute();
      return rows.map(toRow);
    },
    /** Adds an entry, or switches the kind of the one with this pattern. `pattern` must be normalized (normalizeSenderPattern). */
    async upsert(userId: number, kind: SenderRuleKind, pattern: string): Promise<SenderRuleRow> {
      const row = await db
        .insertInto('sender_rules')
        .values({ user_id: userId, kind, pattern })
        .onConflict((oc) => oc.columns(['user_id', 'pattern']).doUpdateSet({ kind }))
        .returningAll()
        .executeTakeFirstOrThrow();
      return toRow(row);
    },
    /** Removes one of the user's entries; false when it is not theirs or not there. */
    async remove(userId: number, id: number): Promise<boolean> {
      const result = await db.deleteFrom('sender_rules').where('user_id', '=', userId).where('id', '=', id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    },
    /**
     * For each of these users who has an entry matching the sender, what the most specific one says
     * (an address beats a domain, a subdomain beats its parent). Users with no matching entry are
     * absent. One query for any number of users.
     */
    async decide(userIds: readonly number[], sender: string): Promise<Map<number, SenderRuleKind>> {
      return (await decideMany([{ userIds, sender }]))[0]!;
    },
    decideMany,
  };
}
export type SenderRuleRepository = ReturnType<typeof createSenderRuleRepository>;
