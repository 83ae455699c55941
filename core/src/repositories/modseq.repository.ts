import { sql, type Insertable } from 'kysely';
import type { Tx } from '../db/client.js';
import type { ChangesTable } from '../db/schema.js';

/**
 * The per-user change counter (`users.modseq`) and the change-log rows written under it. Only the
 * mailbox writer (core/src/mail/mailbox-writer) calls these, inside its transaction.
 *
 * `take` is also the user row lock: `UPDATE users SET modseq = modseq + n` locks the row until
 * commit, so every writer of one user's mail runs one after another, in modseq order.
 */
export function createModseqRepository(tx: Tx) {
  return {
    /** Takes the next `n` modseqs of the user (locking the user row); returns the first, or null when there is no such user. */
    async take(userId: number, n: number): Promise<number | null> {
      const row = await tx.updateTable('users').set({ modseq: sql`modseq + ${n}` }).where('id', '=', userId).returning('modseq').executeTakeFirst();
      return row ? row.modseq - n + 1 : null;
    },
    /** Gives back modseqs taken but not used (the row is still locked by this transaction). */
    async rewind(userId: number, lastUsed: number): Promise<void> {
      await tx.updateTable('users').set({ modseq: lastUsed }).where('id', '=', userId).execute();
    },
    /** Appends change-log rows (see core/src/events/change-log.ts for what each kind carries). */
    async appendChanges(rows: ReadonlyArray<Insertable<ChangesTable>>): Promise<void> {
      for (let i = 0; i < rows.length; i += 1000) await tx.insertInto('changes').values(rows.slice(i, i + 1000)).execute();
    },
  };
}
export type ModseqRepository = ReturnType<typeof createModseqRepository>;
