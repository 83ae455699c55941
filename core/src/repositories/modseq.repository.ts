import { sql, type Insertable } from 'kysely';
import { type Tx, PREPARED } from '../db/client.js';
import type { ChangesTable } from '../db/schema.js';
import type { QuotaUsage } from './user.repository.js';

/**
 * The per-user change counter (`users.modseq`) and the change-log rows written under it. Only the
 * mailbox writer (core/src/mail/mailbox-writer) calls these, inside its transaction.
 *
 * `lockAndTake` is also the user row lock: it locks the rows (in id order) until commit, so every
 * writer of one user's mail runs one after another, in modseq order.
 */
export function createModseqRepository(tx: Tx) {
  return {
    /**
     * Locks these users' rows in id order, in ONE statement, and takes the next `n` modseqs of each;
     * returns each user's first, and their quota usage as locked (users that do not exist are
     * missing). Every writer locks its users this way (or one at a time, in id order) before
     * anything else, so two writers sharing users never wait on each other in opposite orders.
     */
    async lockAndTake(reserve: ReadonlyArray<{ userId: number; n: number }>): Promise<Map<number, { first: number; usage: QuotaUsage }>> {
      if (reserve.length === 0) return new Map();
      const ids = reserve.map((r) => r.userId);
      const { rows } = await sql<{ id: number; modseq: number; n: number; used_bytes: number; quota_bytes: number | null }>`${PREPARED}
        WITH locked AS MATERIALIZED (SELECT id FROM users WHERE id = ANY(${ids}::bigint[]) ORDER BY id FOR UPDATE)
        UPDATE users u SET modseq = u.modseq + v.n
        FROM locked JOIN unnest(${ids}::bigint[], ${reserve.map((r) => r.n)}::bigint[]) AS v(id, n) ON v.id = locked.id
        WHERE u.id = locked.id
        RETURNING u.id, u.modseq, v.n, u.used_bytes, u.quota_bytes`.execute(tx);
      return new Map(rows.map((r) => [Number(r.id), { first: Number(r.modseq) - Number(r.n) + 1, usage: { usedBytes: Number(r.used_bytes), quotaBytes: r.quota_bytes === null ? null : Number(r.quota_bytes) } }]));
    },
    /** Takes the next `n` modseqs of a user already locked by this transaction; returns the first, or null when there is no such user. */
    async take(userId: number, n: number): Promise<number | null> {
      const row = await tx.updateTable('users').set({ modseq: sql`modseq + ${n}` }).where('id', '=', userId).returning('modseq').executeTakeFirst();
      return row ? row.modseq - n + 1 : null;
    },
    /** Gives back modseqs taken but not used, for several users in one statement (their rows are still locked by this transaction). */
    async rewind(lastUsed: ReadonlyArray<{ userId: number; modseq: number }>): Promise<void> {
      if (lastUsed.length === 0) return;
      await sql`${PREPARED}
        UPDATE users u SET modseq = v.modseq
        FROM unnest(${lastUsed.map((r) => r.userId)}::bigint[], ${lastUsed.map((r) => r.modseq)}::bigint[]) AS v(id, modseq)
        WHERE u.id = v.id`.execute(tx);
    },
    /** Appends change-log rows (see core/src/events/change-log.ts for what each kind carries). */
    async appendChanges(rows: ReadonlyArray<Insertable<ChangesTable>>): Promise<void> {
      for (let i = 0; i < rows.length; i += 1000) await tx.insertInto('changes').values(rows.slice(i, i + 1000)).execute();
    },
  };
}
export type ModseqRepository = ReturnType<typeof createModseqRepository>;
